"""Batch-query a simulated, rate-limited server; stop half-way; resume; every row exactly once.

Starts the simulator on loopback (40 requests per 1-second window, 5% server errors), writes 60
prompts and one malformed line to a JSONL file, and runs :func:`orchestra.batch.run` on it with
an output journal. The first run is abandoned after 20 results, as a crash or Ctrl-C would; the
second run sends only the rows missing from the output (rows that finished after the 20th are
already in it). The malformed line ends up as an error
row with its line number, and the server errors are retried.

    python examples/batch_sim.py
"""

from __future__ import annotations

import json
import tempfile
from contextlib import aclosing
from pathlib import Path

import anyio

import orchestra.batch
from orchestra.endpoints import EndpointSpec, connect
from orchestra.sim import SimConfig, serve_sim

RPM, WINDOW = 40, 1.0


def write_input(path: Path) -> None:
    lines = [
        json.dumps({"id": f"q{i}", "prompt": f"What is {i} + {i}?", "params": {"max_tokens": 8}})
        for i in range(60)
    ]
    lines.insert(6, '{"id": "oops", "prompt": ')  # line 7: cut short
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="orchestra-batch-"))
    requests, output = folder / "requests.jsonl", folder / "results.jsonl"
    write_input(requests)
    config = SimConfig(content="echo", rpm=RPM, window_seconds=WINDOW, error_rate=0.05, seed=3)
    async with serve_sim(config) as sim:
        spec = EndpointSpec(name="sim", base_url=sim.url, model="sim-model", rpm=RPM, window=WINDOW)
        async with connect([spec]) as conn:
            first = 0
            async with aclosing(
                orchestra.batch.run(requests, endpoints=conn.pools, output=output)
            ) as results:
                async for _ in results:
                    first += 1
                    if first == 20:
                        break  # as if the process had been stopped here
            on_disk = len(output.read_text(encoding="utf-8").splitlines())
            # Rows finished while we were not looking are on disk already: resume skips them too.
            print(f"first run: stopped after {first} results; {on_disk} rows already in the output")
            resumed = [r async for r in orchestra.batch.run(requests, endpoints=conn.pools, output=output)]
            print(f"resumed: {len(resumed)} more results ({on_disk + len(resumed)} rows in all)")
        print(f"server: {sim.stats.ok} answered, {sim.stats.errors_5xx} server errors (retried)")
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    ids = [row["custom_id"] for row in rows]
    errors = [row["error"] for row in rows if row["error"]]
    print(
        f"output: {len(rows)} rows, {len(set(ids))} distinct ids, {len(rows) - len(errors)} ok, {len(errors)} error"
    )
    for error in errors:
        print(f"  error: {error['code']}: {error['message'][:60]}")
    answer = next(row for row in rows if row["custom_id"] == "q3")["response"]["body"]["choices"][0][
        "message"
    ]["content"]
    print(f"q3 -> {answer!r}")
    print(f"files in {folder}")


if __name__ == "__main__":
    anyio.run(main)
