"""The ``orchestra`` command as a user runs it: a real subprocess against the simulator on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from orchestra.sim import SimConfig, serve_sim

ORCHESTRA = [sys.executable, "-m", "orchestra"]


async def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    with anyio.fail_after(60):
        return await anyio.run_process([*ORCHESTRA, *args], check=False, env=env)


def text(result) -> tuple[str, str]:
    return result.stdout.decode(), result.stderr.decode()


async def test_version() -> None:
    out, _ = text(await run_cli("--version"))
    assert out.strip() == "orchestra 0.1.0"


async def test_chat_streams_from_a_simulator_endpoint() -> None:
    async with serve_sim(SimConfig(content="echo", seed=3)) as sim:
        result = await run_cli("chat", "hello orchestra", "--endpoint", sim.url, "--model", "sim-model")
        out, err = text(result)
        assert result.returncode == 0, err
        assert "hello orchestra" in out
        assert "completion tokens" in err
        assert sim.stats.requests == 1


async def test_unreachable_endpoint_is_one_line_error() -> None:
    result = await run_cli("chat", "hi", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m")
    _out, err = text(result)
    assert result.returncode == 1
    assert "Traceback" not in err
    assert err.strip().startswith("error:") and "127.0.0.1:9" in err


async def test_bad_config_file_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "e.toml"
    bad.write_text("[[endpoints]]\nname = 'x'\nbase_url = 'nope'\n")
    result = await run_cli("chat", "hi", "--endpoints", str(bad), "--endpoint", "x")
    _, err = text(result)
    assert result.returncode == 2  # a usage error
    assert "Traceback" not in err and "base_url" in err


async def test_bad_flag_is_a_usage_error() -> None:
    result = await run_cli("chat", "hi", "--no-such-flag")
    _, err = text(result)
    assert result.returncode == 2
    assert "No such option" in err and "Traceback" not in err


@pytest.mark.parametrize("group", ["sim", "local"])
async def test_groups_have_help(group: str) -> None:
    result = await run_cli(group, "--help")
    out, err = text(result)
    assert result.returncode == 0, err
    assert "serve" in out
