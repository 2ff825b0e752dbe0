"""The python tool: real child processes, real limits, a scrubbed environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import anyio
import pytest

from orchestra.errors import UsageError
from orchestra.tools._python_exec import isolation, make_python, python, run_python


async def test_stdout_stderr_and_returncode() -> None:
    result = await run_python("import sys\nprint('out', 6 * 7)\nprint('err', file=sys.stderr)\nsys.exit(3)")
    assert result == {"stdout": "out 42\n", "stderr": "err\n", "returncode": 3, "timed_out": False}


async def test_exception_traceback_shows_only_the_users_code() -> None:
    result = await run_python("def f():\n    return 1 / 0\nf()")
    assert result["returncode"] == 1
    assert "ZeroDivisionError" in result["stderr"]
    assert 'File "main.py", line 2, in f' in result["stderr"]
    assert "<string>" not in result["stderr"]  # the bootstrap frame is hidden


def _running_with(marker: str) -> list[int]:
    """Host pids whose command line holds ``marker`` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state not in ("Z", "X"):
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def _gone(marker: str, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _running_with(marker):
            return True
        time.sleep(0.01)
    return False


def _stubborn_grandchild(marker: str) -> str:
    """Code that starts a grandchild in a new session, ignoring SIGTERM, then sleeps itself."""
    grandchild = (
        f"import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)  # {marker}"
    )
    return (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}], start_new_session=True)\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )


@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "subreaper"])
async def test_timeout_kills_a_new_session_grandchild_that_ignores_sigterm(namespaces: bool) -> None:
    marker = f"orchestra-stubborn-{uuid.uuid4().hex}"
    started = time.monotonic()
    result = await run_python(_stubborn_grandchild(marker), time_limit=1.0, namespaces=namespaces)
    assert time.monotonic() - started < 4.0
    assert result["timed_out"] is True and result["stdout"] == "started\n"
    assert result["returncode"] < 0  # killed by a signal
    assert _gone(marker), f"the grandchild survived the time limit: {_running_with(marker)}"


@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "subreaper"])
async def test_a_grandchild_left_running_after_a_normal_exit_is_killed(namespaces: bool) -> None:
    marker = f"orchestra-orphan-{uuid.uuid4().hex}"
    code = _stubborn_grandchild(marker).replace("time.sleep(60)\n", "")
    result = await run_python(code, namespaces=namespaces)
    assert result["returncode"] == 0 and result["timed_out"] is False
    assert _gone(marker)


async def test_cancellation_from_outside_kills_the_whole_tree() -> None:
    marker = f"orchestra-cancelled-{uuid.uuid4().hex}"
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_python, _stubborn_grandchild(marker))
        for _ in range(500):  # wait up to 5 s for the grandchild to appear on the host
            if _running_with(marker):
                break
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert _gone(marker)


_SNOOP = """\
import glob, os
hits = []
for path in glob.glob('/proc/*/environ') + glob.glob('/proc/*/cmdline') + ['/proc/%d/environ' % PARENT]:
    try:
        if SECRET.encode() in open(path, 'rb').read():
            hits.append(path)
    except OSError:
        pass
for fd in range(3, 1024):
    try:
        if SECRET.encode() in os.read(fd, 4096):
            hits.append('fd %d' % fd)
    except OSError:
        pass
print('hits:', hits)
"""


def test_the_parents_environment_and_descriptors_are_unreachable(tmp_path: Path) -> None:
    """A real parent holding the key in its environment and an inheritable descriptor on a secret file."""
    secret = f"sk-parent-{uuid.uuid4().hex}"
    (tmp_path / "secret.txt").write_text(secret)
    parent = (
        "import anyio, os, sys\n"
        "from orchestra.tools import run_python\n"
        f"fd = os.open({str(tmp_path / 'secret.txt')!r}, os.O_RDONLY)\n"
        "os.set_inheritable(fd, True)\n"
        "code = 'SECRET = %r\\nPARENT = %d\\n' % (os.environ['OPENAI_API_KEY'], os.getpid()) + sys.stdin.read()\n"
        "print(anyio.run(run_python, code)['stdout'])\n"
    )
    env = {**os.environ, "OPENAI_API_KEY": secret}
    done = subprocess.run(
        [sys.executable, "-c", parent], input=_SNOOP, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "hits: []" in done.stdout and secret not in done.stdout


needs_namespaces = pytest.mark.skipif(
    isolation() != "namespaces", reason="this kernel refuses user namespaces"
)


@needs_namespaces
async def test_temporary_directories_are_private(tmp_path: Path) -> None:
    name = f"orchestra-shared-{uuid.uuid4().hex}"
    for folder in (Path(tempfile.gettempdir()), Path("/dev/shm")):
        (folder / name).write_text("parent's")
    try:
        code = f"import os\nprint([d for d in ('/tmp', '/dev/shm', '/var/tmp') if {name!r} in os.listdir(d)])"
        result = await run_python(code)
    finally:
        for folder in (Path(tempfile.gettempdir()), Path("/dev/shm")):
            (folder / name).unlink()
    assert result["stdout"] == "[]\n", result


@needs_namespaces
async def test_no_network_unless_asked() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = (
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')"
        )
        cut = await run_python(code)
        assert cut["returncode"] == 1 and "connected" not in cut["stdout"]
        assert "OSError" in cut["stderr"] or "Error" in cut["stderr"]
        kept = await run_python(code, network=True)
        assert kept["stdout"] == "connected\n", kept


@needs_namespaces
async def test_the_file_system_is_read_only_and_capabilities_are_gone() -> None:
    probe = Path(sys.prefix) / f"orchestra-probe-{uuid.uuid4().hex}"
    code = (
        "import subprocess\n"
        f"try:\n    open({str(probe)!r}, 'w')\nexcept OSError as exc:\n    print('refused', exc.errno)\n"
        "done = subprocess.run(['umount', '/proc'], capture_output=True)\n"
        "print('umount', done.returncode != 0)\n"
    )
    try:
        result = await run_python(code)
    finally:
        probe.unlink(missing_ok=True)
    assert "refused 30" in result["stdout"], result  # EROFS
    assert "umount True" in result["stdout"], result  # no capability to reveal the host's /proc


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


@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "subreaper"])
async def test_runs_in_a_private_scratch_directory(namespaces: bool) -> None:
    code = "import os\nprint(sorted(os.listdir()))\nopen('note.txt', 'w').write('x')"
    first = await run_python(code, namespaces=namespaces)
    second = await run_python(code, namespaces=namespaces)
    assert first["stdout"] == second["stdout"] == "['main.py']\n"  # nothing left from the run before


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
