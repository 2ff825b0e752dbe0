"""Batch wall time under a realistic mix of faults, next to the same batch on a clean server.

Both runs use ``orchestra batch run``'s defaults (the ``connect`` stack with an endpoint that states
no limits, 100 workers, the output journal) against a simulator process answering after ``--ttft``
seconds with the whole body at once. The faulty one adds, per request: 5% 500/502/503 answers, 1%
requests that hang (never answered), 3% connections dropped mid-body, 3% malformed bodies and 2%
429s whose ``retry-after`` is 2 s. Each run is a fresh simulator (cold connections). It prints one
JSON line with both walls, their ratio, and the rows answered, failed and left. Target: the fault
mix costs at most 3x the clean run.

    python -m orchestra.benchmarks.perf.fault_mix [--rows 3000] [--ttft 0.2] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from orchestra.batch import BatchRunner, Journal, JsonlSource
from orchestra.benchmarks.perf._prompts import write_prompts
from orchestra.endpoints.config import EndpointSpec
from orchestra.endpoints.stack import connect
from orchestra.sim import SimConfig, SimProcess

__all__ = ["FAULTS", "main"]

MODEL = "sim-model"
FAULTS: dict[str, float] = {
    "error_rate": 0.05,
    "hang_rate": 0.01,
    "drop_rate": 0.03,
    "malformed_rate": 0.03,
    "burst_429_rate": 0.02,
    "burst_retry_seconds": 2.0,
}


async def _run(url: str, prompts: Path, output: Path, concurrency: int) -> dict[str, Any]:
    spec = EndpointSpec(name="sim", base_url=url, model=MODEL)  # no stated limits: adaptive
    async with connect([spec], initial_concurrency=concurrency) as conn:
        runner = BatchRunner(conn.pools, by_model=False, concurrency=concurrency, journal=Journal(output))
        start = time.perf_counter()
        stats = await runner.run(JsonlSource(prompts))
        wall = time.perf_counter() - start
        summary = stats.summary(runner.probe)
    lines = (await anyio.Path(output).read_text(encoding="utf-8")).splitlines()
    ids = [json.loads(line)["custom_id"] for line in lines]
    return {
        "wall_s": round(wall, 2),
        "ok": stats.ok,
        "failed": stats.failed,
        "left": stats.left,
        "output_lines": len(lines),
        "distinct_ids": len(set(ids)),
        "row_retries": summary["this_run"]["row_retries"],
        "endpoint_retries": summary["this_run"]["endpoint_retries"],
        "final_concurrency_limit": summary["endpoints"].get("sim", {}).get("concurrency_limit"),
    }


def main(rows: int, ttft: float, concurrency: int) -> dict[str, Any]:
    """Run the clean and the faulty batch, each on a fresh simulator; return the JSON result."""
    folder = Path(tempfile.mkdtemp(prefix="fault-mix-"))
    result: dict[str, Any] = {"bench": "fault_mix", "rows": rows, "ttft_s": ttft, "concurrency": concurrency}
    result["faults"] = FAULTS
    try:
        prompts = folder / "prompts.jsonl"
        write_prompts(prompts, rows)
        runs: dict[str, dict[str, Any]] = {}
        for label, faults in (("clean", {}), ("faulty", FAULTS)):
            config = SimConfig.model_validate({"ttft": ttft, "completion_tokens": 4, "seed": 11, **faults})
            with SimProcess(config) as sim:
                runs[label] = anyio.run(_run, sim.url, prompts, folder / f"{label}.jsonl", concurrency)
        result.update(runs)
        result["ratio"] = round(runs["faulty"]["wall_s"] / runs["clean"]["wall_s"], 2)
        result["target_ratio"] = 3.0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--ttft", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(main(args.rows, args.ttft, args.concurrency)))
