"""The synchronous edge: one endpoint for many sync calls, inside a running loop too, closed at exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from orchestra import Agent, open_endpoint
from orchestra.sim import SimConfig, SimProcess
from orchestra.testing import ScriptedModel


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    with SimProcess(SimConfig(completion_tokens=4)) as process:
        yield process


SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from orchestra import ChatRequest, open_endpoint
    from orchestra._sync import run_sync

    endpoint = open_endpoint(sys.argv[1], model="sim-model")
    first = run_sync(endpoint.complete, ChatRequest.of("one"))
    second = run_sync(endpoint.complete, ChatRequest.of("two"))

    async def in_a_notebook_cell():  # a cell runs inside the kernel's event loop
        return run_sync(endpoint.complete, ChatRequest.of("three"))

    third = asyncio.run(in_a_notebook_cell())
    print(bool(first.text), bool(second.text), bool(third.text))
    """
)


def test_one_opened_endpoint_serves_every_sync_call_and_closes_at_exit(sim: SimProcess) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, sim.url], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "True"]
    assert "Unclosed" not in proc.stderr  # the endpoint's HTTP session was closed at exit
    assert proc.stderr == ""


def test_agent_run_sync_works_inside_a_running_loop() -> None:
    import asyncio
    import json

    plan = json.dumps({"tasks": [{"tool": "echo", "args": {"text": "hi"}}]})
    finish = json.dumps({"action": "finish", "answer": "hi"})

    from orchestra import tool

    @tool
    def echo(text: str) -> str:
        """Return the text."""
        return text

    agent = Agent(ScriptedModel([plan, finish]), [echo])

    async def cell() -> str:
        return agent.run_sync("say hi").answer

    assert asyncio.run(cell()) == "hi"


def test_a_bad_endpoint_is_a_usage_error() -> None:
    from orchestra import UsageError

    with pytest.raises(UsageError, match="unknown endpoint"):
        open_endpoint("nowhere")
