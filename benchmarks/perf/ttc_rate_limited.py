"""The test-time-compute allocator across two rate-limited endpoints: wall time against the bound.

Two simulator processes serve the same model at different request limits (``--rpm-a`` and
``--rpm-b`` per ``--window`` seconds); each sits behind orchestra's usual stack
(``Metered(Limited(OpenAI))`` from :func:`~orchestra.endpoints.build_endpoint`). One
:class:`~orchestra.ttc.Allocator` runs ``--queries`` self-consistency queries of ``--k`` samples,
routing each unit to an endpoint whose limiter can admit it now.

Two bounds, both reported:

- ``rate_bound_s``: the combined rate, N requests at (rpm-a + rpm-b) per window:
  ``N × window / (rpm-a + rpm-b)``. Target: the batch within 10% of it.
- ``bound_s``: the tighter bound of window-counted limits with full buckets at the start: with
  C = rpm-a + rpm-b admitted per window, the last of ``ceil(N / C)`` batches starts
  ``ceil(N / C) − 1`` windows after the first, plus one latency. (The limiter returns a debit one
  window after its request *ended*, so each window also carries one latency.)

Prints one JSON line.

    python -m orchestra.benchmarks.perf.ttc_rate_limited [--queries 200] [--rpm-a 20] [--rpm-b 60] [--window 2]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import anyio

from orchestra.chat import ChatRequest
from orchestra.endpoints import Meter, build_endpoint
from orchestra.endpoints.config import EndpointSpec
from orchestra.sim import SimConfig, SimProcess
from orchestra.ttc import Allocator, Budget, Lane, SelfConsistency, run

__all__ = ["main", "measure"]


async def measure(
    queries: int, k: int, rpm_a: int, rpm_b: int, window: float, latency: float
) -> dict[str, Any]:
    """Run the batch once; return the wall time, the bound and the requests each endpoint served."""
    config = {"content": "echo", "ttft": latency, "window_seconds": window}
    with (
        SimProcess(SimConfig(rpm=rpm_a, **config)) as sim_a,  # type: ignore[arg-type]
        SimProcess(SimConfig(rpm=rpm_b, **config)) as sim_b,  # type: ignore[arg-type]
    ):
        meter = Meter()
        endpoints, lanes = {}, []
        for name, sim, rpm in (("a", sim_a, rpm_a), ("b", sim_b, rpm_b)):
            spec = EndpointSpec(
                name=name, base_url=sim.url, model="sim-model", rpm=rpm, window=window, max_concurrency=64
            )
            endpoint, limiter = build_endpoint(spec, meter)
            endpoints[name] = endpoint
            lanes.append(Lane(name, limiter))
        allocator = Allocator(Budget(), lanes)
        for i in range(queries):
            request = ChatRequest.of(f"{i} + 1 = {i + 1}", max_tokens=8)
            allocator.add(f"q{i}", SelfConsistency(request, k, query_id=f"q{i}"))
        served = {"a": 0, "b": 0}

        def count(dispatch: Any, result: Any) -> None:
            served[dispatch.lane] += 1
            if result.error:
                raise RuntimeError(result.error)

        start, cpu = time.perf_counter(), time.process_time()
        await run(allocator, endpoints, on_finish=count)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        for endpoint in endpoints.values():
            await endpoint.aclose()
    requests = served["a"] + served["b"]
    bound = (math.ceil(requests / (rpm_a + rpm_b)) - 1) * window + latency
    rate_bound = requests * window / (rpm_a + rpm_b)
    return {
        "benchmark": "ttc_rate_limited",
        "queries": queries,
        "requests": requests,
        "served": served,
        "rpm": [rpm_a, rpm_b],
        "window_s": window,
        "latency_s": latency,
        "wall_s": round(wall, 3),
        "rate_bound_s": round(rate_bound, 3),
        "ratio_to_rate_bound": round(wall / rate_bound, 3),
        "bound_s": round(bound, 3),
        "ratio": round(wall / bound, 3),
        # CPU this process used: on a loaded machine each request's client-side work (~1 ms
        # idle) stretches, and requests that should leave together at a window's start trickle.
        "cpu_s": round(cpu, 3),
        "meter": meter.snapshot()["total"],
    }


def main() -> None:
    """Parse flags, run once, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=1, help="Samples per query.")
    parser.add_argument("--rpm-a", type=int, default=20)
    parser.add_argument("--rpm-b", type=int, default=60)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    result = anyio.run(measure, args.queries, args.k, args.rpm_a, args.rpm_b, args.window, args.latency)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
