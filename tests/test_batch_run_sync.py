"""``orchestra.batch.run_sync`` as a script or notebook user calls it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from orchestra.batch import run_sync
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.sim import SimConfig, SimProcess


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    with SimProcess(SimConfig(completion_tokens=2)) as process:
        yield process


async def test_run_sync_works_inside_a_running_event_loop(sim: SimProcess) -> None:
    # A notebook cell is synchronous code running inside the kernel's event loop, as here.
    endpoint = OpenAIEndpoint(sim.url, "sim-model")
    results = run_sync(["one", "two", "three"], endpoints=endpoint)
    assert sorted(r.custom_id for r in results) == ["request-0", "request-1", "request-2"]
    assert all(r.ok for r in results)
    again = run_sync(["four"], endpoints=endpoint)  # the endpoint reopens its client on the next use
    assert [r.ok for r in again] == [True]


def test_a_sync_user_never_sees_an_unclosed_client_session(sim: SimProcess) -> None:
    script = (
        "import gc, warnings\n"
        "warnings.simplefilter('always')\n"
        "from orchestra.batch import run_sync\n"
        "from orchestra.endpoints.openai import OpenAIEndpoint\n"
        f"endpoint = OpenAIEndpoint({sim.url!r}, 'sim-model')\n"
        "results = run_sync(['a', 'b'], endpoints={'sim-model': endpoint})\n"
        "assert all(r.ok for r in results), results\n"
        "del endpoint, results\n"
        "gc.collect()\n"
        "print('done')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
    assert "Unclosed" not in done.stderr and "unclosed" not in done.stderr, done.stderr
