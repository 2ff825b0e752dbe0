"""The python tool: real child processes, real limits, a scrubbed environment."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import anyio
import pytest
from orchestra.tools._python_exec import make_python, python, run_python

from orchestra.errors import UsageError


def _dead(pid: int, within: float = 3.0) -> bool:
    """True once ``pid`` no longer runs (gone, or a zombie nobody has reaped yet)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.01)
    return False


async def test_stdout_stderr_and_returncode() -> None:
    result = await run_python("import sys\nprint('out', 6 * 7)\nprint('err', file=sys.stderr)\nsys.exit(3)")
    assert result == {"stdout": "out 42\n", "stderr": "err\n", "returncode": 3, "timed_out": False}


async def test_exception_traceback_shows_only_the_users_code() -> None:
    result = await run_python("def f():\n    return 1 / 0\nf()")
    assert result["returncode"] == 1
    assert "ZeroDivisionError" in result["stderr"]
    assert 'File "main.py", line 2, in f' in result["stderr"]
    assert "<string>" not in result["stderr"]  # the bootstrap frame is hidden


async def test_timeout_kills_the_process_group_including_grandchildren() -> None:
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    result = await run_python(code, time_limit=0.5)
    assert time.monotonic() - started < 3.0
    assert result["timed_out"] is True
    assert result["returncode"] < 0  # killed by a signal
    grandchild = int(result["stdout"].split()[0])
    assert _dead(grandchild), f"grandchild {grandchild} survived the timeout"


async def test_cancellation_from_outside_kills_the_child(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    pid = ""
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_python, code)
        for _ in range(500):  # the child reports through a file; poll it for up to 5 s
            if await anyio.Path(pid_file).exists() and (pid := await anyio.Path(pid_file).read_text()):
                break
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert pid, "the child never started"
    assert _dead(int(pid))


async def test_memory_limit() -> None:
    result = await run_python("data = bytearray(1024 ** 3)\nprint('allocated')", memory_mb=128)
    assert result["returncode"] != 0
    assert "MemoryError" in result["stderr"]
    assert "allocated" not in result["stdout"]
    # The same program fits when the limit allows it (the limit, not the machine, refused it).
    small = await run_python("data = bytearray(16 * 1024 ** 2)\nprint('allocated')", memory_mb=256)
    assert small["stdout"] == "allocated\n"


async def test_parent_secrets_are_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret-123")
    monkeypatch.setenv("ORCHESTRA_FAKE_TOKEN", "token-456")
    assert os.environ["OPENAI_API_KEY"] == "sk-parent-secret-123"
    result = await run_python("import json, os\nprint(json.dumps(dict(os.environ)))")
    env = json.loads(result["stdout"])
    assert "OPENAI_API_KEY" not in env and "ORCHESTRA_FAKE_TOKEN" not in env
    assert "sk-parent-secret-123" not in result["stdout"] and "token-456" not in result["stdout"]
    assert set(env) <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR"}


async def test_runs_in_a_private_scratch_directory() -> None:
    result = await run_python("import os\nopen('note.txt', 'w').write('x')\nprint(os.getcwd())")
    scratch = result["stdout"].strip()
    assert "orchestra-python-" in scratch
    assert not await anyio.Path(scratch).exists()  # removed after the run


async def test_output_is_capped() -> None:
    result = await run_python("print('x' * 1_000_000)", max_output_bytes=1000)
    assert result["returncode"] == 0
    assert result["stdout"].startswith("x" * 1000)
    assert result["stdout"].endswith("[output truncated at 1000 bytes]")
    assert len(result["stdout"]) < 1100


async def test_python_tool() -> None:
    assert python.name == "python"
    assert python.side_effects is True
    assert python.parameters["required"] == ["code"]
    result = await python.call({"code": "import math\nprint(math.comb(10, 3))"})
    assert result["stdout"] == "120\n"
    quick = make_python(time_limit=0.3)
    assert (await quick.call({"code": "import time\ntime.sleep(5)"}))["timed_out"] is True
    with pytest.raises(UsageError):
        make_python(time_limit=0)
