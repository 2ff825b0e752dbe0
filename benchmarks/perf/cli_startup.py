"""Start-up of the real ``orchestra`` command, run as a subprocess; prints ONE JSON line.

Three figures, each the median of ``--repeat`` runs (the machine may be shared: medians, not
minima, and a note of the load average beside them):

- ``version_s``: wall time of ``orchestra --version``. Target <= 0.15 s.
- ``first_request_s``: from just before the process is started to the moment the simulator
  admits the first request of ``orchestra batch run`` (both sides read the system-wide
  ``CLOCK_MONOTONIC``). Target <= 0.4 s.
- ``batch_wall_s`` / ``batch_ratio``: the whole ``orchestra batch run`` of ``--rows`` prompts
  against a simulator process answering after ``--latency`` seconds at ``--concurrency``, start-up
  and exit included, over the ideal ``ceil(rows / concurrency) * latency``. Target <= 1.25x.
  ``exit_s`` is the time from the last answer the simulator gave to the process's exit.

    python -m orchestra.benchmarks.perf.cli_startup [--repeat 5] [--rows 500] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from orchestra.benchmarks.perf._prompts import write_prompts
from orchestra.sim import SimConfig, SimProcess

__all__ = ["main", "measure"]

MODEL = "sim-model"


def _command() -> list[str]:
    """The installed ``orchestra`` script, as a user runs it (else ``python -m orchestra``)."""
    script = shutil.which("orchestra", path=str(Path(sys.executable).parent)) or shutil.which("orchestra")
    return [script] if script else [sys.executable, "-m", "orchestra"]


def _version_once(command: list[str]) -> float:
    start = time.monotonic()
    subprocess.run([*command, "--version"], check=True, capture_output=True)
    return time.monotonic() - start


def _batch_once(
    command: list[str], rows: int, latency: float, concurrency: int, folder: Path
) -> dict[str, Any]:
    prompts = folder / "in.jsonl"
    if not prompts.exists():
        write_prompts(prompts, rows)
    out = folder / "out.jsonl"
    for stale in (out, folder / "out.summary.json"):
        stale.unlink(missing_ok=True)
    config = SimConfig(ttft=latency, tokens_per_second=0.0, models=[MODEL])
    with SimProcess(config) as sim:
        args = [*command, "batch", "run", str(prompts), "-o", str(out), "--quiet"]
        args += ["--endpoint", sim.url, "--model", MODEL, "--concurrency", str(concurrency)]
        # The simulator reports admissions in seconds since its start, with that start on the
        # wall clock: the one clock both processes read.
        start = time.time()
        done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
        end = time.time()
        if done.returncode != 0:
            raise SystemExit(f"batch run failed ({done.returncode}): {done.stderr.strip()}")
        stats = sim.stats()
        times = sorted(stats.started_at_unix + t for t in stats.accepted_times)
    return {
        "wall": end - start,
        "first_request": times[0] - start,
        "exit": end - (times[-1] + latency),
    }


def measure(repeat: int, rows: int, latency: float, concurrency: int) -> dict[str, Any]:
    """Run every measurement ``repeat`` times and return the medians (seconds) and ratios."""
    command = _command()
    _version_once(command)  # warm the file cache and byte-code, as any second run is
    versions = [_version_once(command) for _ in range(repeat)]
    ideal = math.ceil(rows / concurrency) * latency
    with tempfile.TemporaryDirectory(prefix="orchestra-startup-") as tmp:
        runs = [_batch_once(command, rows, latency, concurrency, Path(tmp)) for _ in range(repeat)]
    wall = statistics.median(r["wall"] for r in runs)
    return {
        "benchmark": "cli_startup",
        "command": " ".join(command),
        "repeat": repeat,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "version_s": round(statistics.median(versions), 3),
        "version_all_s": [round(v, 3) for v in versions],
        "first_request_s": round(statistics.median(r["first_request"] for r in runs), 3),
        "first_request_all_s": [round(r["first_request"], 3) for r in runs],
        "exit_s": round(statistics.median(r["exit"] for r in runs), 3),
        "rows": rows,
        "latency_s": latency,
        "concurrency": concurrency,
        "ideal_s": ideal,
        "batch_wall_s": round(wall, 3),
        "batch_all_s": [round(r["wall"], 3) for r in runs],
        "batch_ratio": round(wall / ideal, 3),
        "targets": {"version_s": 0.15, "first_request_s": 0.4, "batch_ratio": 1.25},
    }


def main(argv: list[str] | None = None) -> None:
    """Parse the flags, measure, and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measurement (median reported)")
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.5, help="simulated seconds per answer")
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.repeat, args.rows, args.latency, args.concurrency)), flush=True)


if __name__ == "__main__":
    main()
