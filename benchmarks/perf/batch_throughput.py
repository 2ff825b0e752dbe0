"""Batch throughput: orchestra's batch runner against the simulator, next to the ideal and to prompto.

Two modes, each printing ONE JSON line:

- **latency** (default): 500 prompts against a simulator process answering after 0.5 s, at
  concurrency 100, so the ideal wall time is ``ceil(500 / 100) * 0.5 = 2.5 s``. It times, on a
  fresh simulator each:

  - orchestra's batch runner (:class:`~orchestra.batch.BatchRunner` on the ``connect`` stack,
    journaling to a file, as ``orchestra batch run`` does);
  - a bare ``OpenAIEndpoint`` behind a semaphore, as the floor of the HTTP stack on this machine;
  - ``prompto`` when its ``prompto_run_experiment`` is found (on PATH or via ``--prompto-bin``),
    with ``OPENAI_BASE_URL`` pointing at the simulator and ``--max-queries`` set high.

  Each entry gives the client-side wall time and the span the server saw (first admission to last
  admission plus the latency), which leaves out process start-up, so prompto's subprocess and
  the in-process runs are compared on the same footing. orchestra and the bare endpoint run
  ``--repeat`` rounds each (alternating, a fresh simulator and cold connections every time) and
  the median round is reported. Target: orchestra's wall time <= 1.15x ideal.
- **rss** (``--rows 100000``): a zero-latency simulator and ``orchestra.cli.batch run`` as a child
  process; reports its peak RSS and rows/s. Target: < 200 MB. The peak is the child's own
  ``VmHWM`` (read from ``/proc/self/status`` at exit), not ``wait4``'s ``ru_maxrss``: Linux carries
  the launching process's high-water mark into a child started with vfork + exec, as
  ``subprocess`` does, so ``ru_maxrss`` would report the benchmark's own peak when larger.

    python -m orchestra.benchmarks.perf.batch_throughput [--rows 500] [--latency 0.5] [--concurrency 100]
    python -m orchestra.benchmarks.perf.batch_throughput --rows 100000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from orchestra.batch import BatchRunner, Journal, JsonlSource
from orchestra.benchmarks.perf._prompts import write_prompts
from orchestra.chat import ChatRequest
from orchestra.endpoints.config import EndpointSpec
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.endpoints.stack import connect
from orchestra.sim import SimConfig, SimProcess

__all__ = ["main", "measure_latency", "measure_rss"]

MODEL = "sim-model"
RSS_MODE_ROWS = 10_000  # at or above this many rows, the default mode is the RSS one

# Runs ``python -m orchestra.cli.batch`` and, at exit, prints the process's own peak RSS.
_PEAK_REPORTER = """
import atexit, runpy, sys
def _report():
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM")).split()[1]
    sys.stderr.write(f"\\nVmHWM_KB={peak}\\n")
atexit.register(_report)
sys.argv = ["orchestra.cli.batch", *sys.argv[1:]]
runpy.run_module("orchestra.cli.batch", run_name="__main__")
"""


def _served(sim: SimProcess, latency: float) -> dict[str, Any]:
    stats = sim.stats()
    times = stats.accepted_times
    span = (max(times) - min(times) + latency) if times else None
    return {"served_ok": stats.ok, "served_span_s": round(span, 3) if span is not None else None}


def _entry(wall: float, served: dict[str, Any], ideal: float, **extra: Any) -> dict[str, Any]:
    span = served.get("served_span_s")
    return {
        "wall_s": round(wall, 3),
        **served,
        "ratio": round(span / ideal, 3) if span else None,
        "wall_ratio": round(wall / ideal, 3),
        **extra,
    }


async def _orchestra(url: str, prompts: Path, folder: Path, concurrency: int) -> tuple[float, int]:
    spec = EndpointSpec(name="sim", base_url=url, model=MODEL, max_concurrency=concurrency)
    async with connect([spec]) as conn:
        runner = BatchRunner(
            conn.pools, by_model=False, concurrency=concurrency, journal=Journal(folder / "out.jsonl")
        )
        start = time.perf_counter()
        stats = await runner.run(JsonlSource(prompts))
        return time.perf_counter() - start, stats.ok


async def _plain(url: str, rows: int, concurrency: int) -> float:
    endpoint = OpenAIEndpoint(url, MODEL)
    gate = anyio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await endpoint.complete(ChatRequest.of(f"Say something about {i}.", max_tokens=8))

    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for i in range(rows):
            group.start_soon(one, i)
    wall = time.perf_counter() - start
    await endpoint.aclose()
    return wall


def _prompto(binary: str, url: str, rows: int, folder: Path, latency: float, ideal: float) -> dict[str, Any]:
    data = folder / "prompto"
    (data / "input").mkdir(parents=True)
    experiment = data / "input" / "bench.jsonl"
    with open(experiment, "w", encoding="utf-8") as out:
        for i in range(rows):
            line = {
                "id": i,
                "api": "openai",
                "model_name": MODEL,
                "prompt": f"Say something about {i}.",
                "parameters": {"max_tokens": 8},
            }
            out.write(json.dumps(line) + "\n")
    env = {**os.environ, "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-bench"}
    # prompto paces requests with sleep(60 / max_queries): a high rate is its best case.
    command = [binary, "--file", str(experiment), "--data-folder", str(data), "--max-queries", "1000000"]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {done.stderr[-500:]}"}
    return {"wall_s": round(wall, 3), "wall_includes": "process start-up"}


def _median_entry(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median wall time (the slower middle one for an even count), plus every
    round's ratios."""
    middle = dict(sorted(entries, key=lambda e: e["wall_s"])[len(entries) // 2])
    middle["wall_ratios"] = [e["wall_ratio"] for e in entries]
    middle["ratios"] = [e["ratio"] for e in entries]
    return middle


def measure_latency(
    rows: int, latency: float, concurrency: int, prompto_bin: str | None, repeat: int = 3
) -> dict[str, Any]:
    """The latency mode: orchestra, a bare endpoint and prompto against fresh simulators.

    orchestra and the bare endpoint run ``repeat`` rounds each, alternating, each on a fresh
    simulator (cold connections, as a real batch starts); the median round is reported.
    """
    ideal = math.ceil(rows / concurrency) * latency
    config = SimConfig(ttft=latency, completion_tokens=4, seed=1)
    result: dict[str, Any] = {
        "bench": "batch_throughput",
        "rows": rows,
        "latency_s": latency,
        "concurrency": concurrency,
        "ideal_s": ideal,
        "target_ratio": 1.15,
        "rounds": repeat,
        "reported": "the round with the median wall time",
    }
    folder = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    try:
        prompts = folder / "prompts.jsonl"
        write_prompts(prompts, rows)
        ours: list[dict[str, Any]] = []
        plain: list[dict[str, Any]] = []
        for round_ in range(repeat):
            out = folder / f"round-{round_}"
            out.mkdir()
            with SimProcess(config) as sim:
                wall, ok = anyio.run(_orchestra, sim.url, prompts, out, concurrency)
                ours.append(_entry(wall, _served(sim, latency), ideal, rows_ok=ok))
            with SimProcess(config) as sim:
                wall = anyio.run(_plain, sim.url, rows, concurrency)
                plain.append(_entry(wall, _served(sim, latency), ideal))
        result["orchestra"] = _median_entry(ours)
        result["plain_endpoint_semaphore"] = _median_entry(plain)
        binary = prompto_bin or shutil.which("prompto_run_experiment")
        if binary is None:
            result["prompto"] = {
                "skipped": "prompto_run_experiment not found (pip install prompto, or --prompto-bin)"
            }
        else:
            with SimProcess(config) as sim:
                entry = _prompto(binary, sim.url, rows, folder, latency, ideal)
                if "wall_s" in entry:
                    entry = _entry(
                        entry["wall_s"], _served(sim, latency), ideal, wall_includes="process start-up"
                    )
                result["prompto"] = entry
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def measure_rss(rows: int, concurrency: int) -> dict[str, Any]:
    """The RSS mode: ``orchestra batch run`` as a child process on ``rows`` rows, zero latency."""
    folder = Path(tempfile.mkdtemp(prefix="batch-rss-"))
    try:
        prompts, out = folder / "prompts.jsonl", folder / "out.jsonl"
        write_prompts(prompts, rows)
        with SimProcess(SimConfig(completion_tokens=4, seed=1)) as sim:
            command = [sys.executable, "-c", _PEAK_REPORTER, "run", str(prompts), "-o", str(out)]
            command += ["--endpoint", sim.url, "--model", MODEL, "--quiet", "--concurrency", str(concurrency)]
            start = time.perf_counter()
            child = subprocess.run(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
            )
            wall = time.perf_counter() - start
            errors = child.stderr
        peak = [line for line in errors.splitlines() if line.startswith("VmHWM_KB=")]
        with open(out, "rb") as handle:
            written = sum(1 for _ in handle)
        summary = (
            json.loads((folder / "out.summary.json").read_text())
            if (folder / "out.summary.json").exists()
            else {}
        )
        return {
            "bench": "batch_throughput_rss",
            "rows": rows,
            "exit_code": child.returncode,
            "rows_written": written,
            "rows_ok": summary.get("rows", {}).get("ok"),
            "wall_s": round(wall, 1),
            "rows_per_s": round(rows / wall, 1),
            "peak_rss_mb": round(int(peak[-1].split("=")[1]) / 1024, 1) if peak else None,
            "target_mb": 200,
            **({"stderr": errors[-500:]} if child.returncode not in (0, 1) else {}),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """Parse flags, run one mode, print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.5, help="latency mode: seconds to first token")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--mode", choices=("latency", "rss"), help=f"default: rss from {RSS_MODE_ROWS} rows")
    parser.add_argument("--prompto-bin", help="path of prompto_run_experiment (default: found on PATH)")
    parser.add_argument("--repeat", type=int, default=3, help="latency mode: rounds; the median is reported")
    args = parser.parse_args(argv)
    mode = args.mode or ("rss" if args.rows >= RSS_MODE_ROWS else "latency")
    if mode == "rss":
        result = measure_rss(args.rows, args.concurrency)
    else:
        result = measure_latency(args.rows, args.latency, args.concurrency, args.prompto_bin, args.repeat)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
