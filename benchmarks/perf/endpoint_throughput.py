"""Throughput of the endpoint layer against the simulator (a benchmark, not a timed test).

Sends N requests through the full stack that commands use (``connect``: retry → pool → meter →
limiter → HTTP over aiohttp) to a simulator running in its own process with a fixed latency, at a given
concurrency, and prints one JSON line: requests/s, p50/p99 latency, the median wall time of
``--repeat`` rounds, the ideal wall time (``ceil(N / concurrency) * latency``) and their ratio.
With ``--baseline`` it also times, in alternating rounds on the same server, a plain
``openai.AsyncOpenAI`` behind an ``anyio`` semaphore (``max_retries=0``) — what a user writes by
hand (docs/design.md: ~3 s for this load) — once on the SDK's default httpx2 client and once on its
``DefaultAioHttpClient`` (aiohttp, as orchestra); the ratios to both are printed. The baseline needs
the ``openai`` package (in the ``dev`` extra); orchestra itself does not use it.

orchestra runs twice: ``orchestra`` with ``max_concurrency`` set to the caller's concurrency, and
``orchestra_defaults`` with an endpoint that states no limits, as a user who configures nothing
gets it (the adaptive limit starts at 100 and must find the capacity by slow start). Target for
5,000 requests at 500 (``--requests 5000 --concurrency 500``): defaults within 1.5x of the ideal
and ahead of the plain SDK in the same run. The defaults' limit is learned once, during the
warm-up, and kept, as a long-lived client keeps it.

    python -m orchestra.benchmarks.perf.endpoint_throughput --requests 500 --concurrency 100 --latency 0.5
    python -m orchestra.benchmarks.perf.endpoint_throughput --requests 5000 --concurrency 500 --baseline
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import time
from typing import TYPE_CHECKING, Any, cast

import anyio

from orchestra.chat import ChatRequest
from orchestra.endpoints.base import Endpoint
from orchestra.endpoints.config import EndpointSpec
from orchestra.endpoints.stack import connect
from orchestra.sim import SimConfig, SimProcess

if TYPE_CHECKING:
    import openai


class _PlainSDK:
    """``AsyncOpenAI.chat.completions.create`` as a user would call it, shaped like an endpoint."""

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self.client = client

    async def complete(self, request: ChatRequest) -> object:
        return await self.client.chat.completions.create(
            model="sim-model",
            messages=[cast("Any", m.to_wire()) for m in request.messages],
            max_tokens=request.max_tokens,
        )


async def _drive(endpoint: Endpoint | _PlainSDK, n: int, concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    failures = 0
    limiter = anyio.Semaphore(concurrency)

    async def one(i: int) -> None:
        nonlocal failures
        async with limiter:
            start = time.perf_counter()
            try:
                await endpoint.complete(ChatRequest.of(f"request {i}", max_tokens=16))
            except Exception:
                failures += 1
                return
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    return time.perf_counter() - start, latencies, failures


def _summary(
    label: str, walls: list[float], latencies: list[float], failures: int, ideal: float
) -> dict[str, Any]:
    ordered = sorted(latencies) or [math.nan]
    wall = statistics.median(walls)
    return {
        f"{label}_wall_s": round(wall, 3),
        f"{label}_walls_s": [round(w, 3) for w in walls],
        f"{label}_requests_per_s": round(len(latencies) / sum(walls), 1) if walls else None,
        f"{label}_p50_ms": round(statistics.median(ordered) * 1000, 1),
        f"{label}_p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
        f"{label}_failures": failures,
        f"{label}_ratio_to_ideal": round(wall / ideal, 3),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    ideal = math.ceil(args.requests / args.concurrency) * args.latency
    result: dict[str, Any] = {
        "bench": "endpoint_throughput",
        "requests": args.requests,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "ideal_s": ideal,
        "rounds": args.repeat,
        "wall_is": "median of the rounds",
    }
    runs: dict[str, tuple[list[float], list[float], list[int]]] = {}
    with SimProcess(SimConfig(ttft=args.latency, completion_tokens=16, seed=1)) as sim:
        spec = EndpointSpec(name="sim", base_url=sim.url, model="sim-model", max_concurrency=args.concurrency)
        defaults = EndpointSpec(name="sim-defaults", base_url=sim.url, model="sim-model")
        async with contextlib.AsyncExitStack() as stack:
            conn = await stack.enter_async_context(connect([spec]))
            conn_defaults = await stack.enter_async_context(connect([defaults]))
            drivers: dict[str, Endpoint | _PlainSDK] = {
                "orchestra": conn.default,
                "orchestra_defaults": conn_defaults.default,
            }
            if args.baseline:
                import openai

                client = await stack.enter_async_context(
                    openai.AsyncOpenAI(base_url=sim.url, api_key="none", max_retries=0)
                )
                aio_client = await stack.enter_async_context(
                    openai.AsyncOpenAI(
                        base_url=sim.url,
                        api_key="none",
                        max_retries=0,
                        http_client=openai.DefaultAioHttpClient(),
                    )
                )
                drivers["plain_sdk"] = _PlainSDK(client)
                drivers["plain_sdk_aiohttp"] = _PlainSDK(aio_client)
            for driver in drivers.values():
                # Warm-up: open the connection pool so the first round does not pay the TCP handshakes.
                await _drive(driver, args.concurrency, args.concurrency)
            # Rounds alternate between the clients, so drift on a noisy machine hits both alike.
            for _ in range(args.repeat):
                for label, driver in drivers.items():
                    wall, lat, fail = await _drive(driver, args.requests, args.concurrency)
                    walls, latencies, failures = runs.setdefault(label, ([], [], []))
                    walls.append(wall)
                    latencies.extend(lat)
                    failures.append(fail)
    for label, (walls, latencies, failures) in runs.items():
        result.update(_summary(label, walls, latencies, sum(failures), ideal))
    if args.baseline:
        result["orchestra_over_plain_sdk"] = round(result["orchestra_wall_s"] / result["plain_sdk_wall_s"], 3)
        result["orchestra_over_plain_sdk_aiohttp"] = round(
            result["orchestra_wall_s"] / result["plain_sdk_aiohttp_wall_s"], 3
        )
        result["orchestra_defaults_over_plain_sdk"] = round(
            result["orchestra_defaults_wall_s"] / result["plain_sdk_wall_s"], 3
        )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--baseline", action="store_true", help="also time a plain AsyncOpenAI client")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per client; the median is reported")
    parser.add_argument("--uvloop", action="store_true", help="run the client on uvloop")
    args = parser.parse_args()
    options = {"use_uvloop": True} if args.uvloop else {}
    print(json.dumps(anyio.run(main, args, backend_options=options)))
