"""``python``: run model-written Python in a child process, isolated, with time and memory limits.

Agent frameworks commonly run generated code with ``exec`` in the agent's own process, where it
can read ``OPENAI_API_KEY`` from ``os.environ``, block the event loop, or exhaust memory. Here the
code runs in a separate interpreter (``python -I``: no user site, no ``PYTHON*`` variables) under
a small supervisor (``orchestra/tools/_sandbox.py``), with:

- a scrubbed environment: only ``PATH`` and locale variables are passed;
- no file descriptor of the parent (``close_fds``; stdin is ``/dev/null``);
- on Linux with user namespaces (the usual case, also inside unprivileged containers): its own
  user, PID, mount, IPC and network namespaces. The parent's processes and their ``/proc`` entries
  (``environ``, ``fd``, ``mem``) do not exist for the code; ``/tmp``, ``/var/tmp`` and ``/dev/shm``
  are fresh and private; the rest of the file system is read-only; it has no network at all,
  loopback included (``network=True`` keeps the host's network); and it holds no capability;
- an address-space limit (``RLIMIT_AS``) and a CPU-time backstop (``RLIMIT_CPU``);
- a wall-clock deadline that reaches every descendant: in a PID namespace the kernel kills the
  whole tree with its PID 1, ``setsid`` grandchildren that ignore SIGTERM included; without
  namespaces the supervisor is a child subreaper and SIGKILLs every descendant it finds;
- capped output capture, so a print loop cannot fill the parent's memory.

What it does not isolate: files readable by the user running orchestra can be read (the code runs
under that user's uid; a root parent's code can read root-owned files), CPU time and process count
are limited per process only, and with ``network=True`` the host's network (loopback servers
included) is reachable. :func:`isolation` tells which mode this machine gives. Without user
namespaces (other OSes, a seccomp profile that forbids ``unshare``) only the environment, the file
descriptors and the time and memory limits hold: the code can read the parent's
``/proc/<pid>/environ`` when it runs as the same user, and sees ``/tmp`` and the network. Run
untrusted code inside a container or VM as well.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
from anyio.abc import ByteReceiveStream, Process

from orchestra._tool import Tool
from orchestra.errors import ToolError, UsageError
from orchestra.tools._repl import show_final_value

__all__ = ["isolation", "make_python", "python", "run_python"]

# Variables copied from the parent when present: enough for a working interpreter and UTF-8
# output, none that could carry a credential.
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_DRAIN_GRACE = 1.0  # seconds to collect the last output after the process group is dead
_TERM_GRACE = 1.0  # seconds the supervisor has to kill its tree after SIGTERM, before SIGKILL
_SUPERVISOR = str(Path(__file__).with_name("_sandbox.py"))

# Runs in the child before the user's code: limits first, then the code under its own file name,
# with the bootstrap's frame removed from tracebacks so the model sees only its own lines.
_BOOTSTRAP = """\
import resource, sys, traceback
_mem, _cpu = int(sys.argv[1]), int(sys.argv[2])
if _mem > 0:
    resource.setrlimit(resource.RLIMIT_AS, (_mem, _mem))
resource.setrlimit(resource.RLIMIT_CPU, (_cpu, _cpu + 1))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
def _hook(kind, value, tb):
    traceback.print_exception(kind, value, tb.tb_next if tb is not None else tb)
sys.excepthook = _hook
sys.argv = ["main.py"]
with open("main.py", encoding="utf-8") as _f:
    _code = compile(_f.read(), "main.py", "exec")
exec(_code, {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__})
"""


def _child_env(scratch: str) -> dict[str, str]:
    env = {key: os.environ[key] for key in _PASSED_ENV if key in os.environ}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env.update(HOME=scratch, TMPDIR=scratch)
    return env


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


@functools.cache
def isolation() -> Literal["namespaces", "subreaper"]:
    """Which isolation the ``python`` tool gets on this machine (probed once, by a real child).

    Returns:
        ``"namespaces"``: user, PID, mount, IPC and network namespaces (see the module docstring);
        ``"subreaper"``: the fallback, where only the environment, file descriptors, limits and
        the kill of every descendant hold.
    """
    # A real run of the supervisor, so that a kernel that allows unshare but refuses a mount
    # (a seccomp profile, a masked /proc) is found here and the fallback is used instead.
    program = "import os\nprint(os.getpid())"
    with tempfile.TemporaryDirectory(prefix="orchestra-python-probe-") as scratch:
        Path(scratch, "main.py").write_text(program, encoding="utf-8")
        command = [
            sys.executable,
            "-I",
            _SUPERVISOR,
            json.dumps(_spec(10.0, 64, network=False, namespaces=True)),
        ]
        try:
            done = subprocess.run(
                command, cwd=scratch, env=_child_env(scratch), capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return "subreaper"
    return "namespaces" if done.returncode == 0 and done.stdout.strip() == "1" else "subreaper"


def _spec(time_limit: float, memory_mb: int, *, network: bool, namespaces: bool) -> dict[str, Any]:
    """The supervisor's instructions (``_sandbox.py``), passed as one JSON argument."""
    return {
        "bootstrap": _BOOTSTRAP,
        "argv": [str(memory_mb * 1024 * 1024), str(int(time_limit) + 1)],
        "time_limit": time_limit,
        "network": network,
        "namespaces": namespaces,
        "tmpfs_mb": max(memory_mb, 16),
    }


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


async def _drain(stream: ByteReceiveStream | None, sink: bytearray, limit: int, done: anyio.Event) -> None:
    """Read a pipe to EOF, keeping the first ``limit`` bytes and discarding the rest.

    Reading past the cap matters: a child blocked on a full pipe would never exit.
    """
    try:
        if stream is not None:
            async for chunk in stream:
                room = limit - len(sink)
                if room > 0:
                    sink += chunk[:room]
    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass
    finally:
        done.set()


def _decode(data: bytearray, limit: int, total_capped: bool) -> str:
    text = data.decode("utf-8", errors="replace")
    return text + f"\n[output truncated at {limit} bytes]" if total_capped else text


async def _stop(proc: Process) -> None:
    """End the supervisor and everything under it: SIGTERM (it kills its tree), then SIGKILL the group."""
    if proc.returncode is None:
        _signal(proc.pid, signal.SIGTERM)
        with anyio.move_on_after(_TERM_GRACE):
            await proc.wait()
    _kill_group(proc.pid)
    await proc.wait()


async def _supervise(proc: Process, time_limit: float, keep: int) -> tuple[bytearray, bytearray, bool]:
    """Collect the child's output until it exits or ``time_limit`` passes; leave no process behind.

    Returns:
        The first ``keep`` bytes of stdout and of stderr, and whether the time limit was hit.
    """
    out, err = bytearray(), bytearray()
    out_done, err_done = anyio.Event(), anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drain, proc.stdout, out, keep, out_done)
            tg.start_soon(_drain, proc.stderr, err, keep, err_done)
            with anyio.move_on_after(time_limit) as deadline:
                await proc.wait()
            await _stop(proc)
            # A descendant that left the group (setsid) could hold the pipes open forever.
            with anyio.move_on_after(_DRAIN_GRACE):
                await out_done.wait()
                await err_done.wait()
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):  # also on cancellation from outside
            await _stop(proc)
            await proc.aclose()
    return out, err, deadline.cancelled_caught


async def run_python(
    code: str,
    *,
    time_limit: float = 10.0,
    memory_mb: int = 512,
    max_output_bytes: int = 64 * 1024,
    network: bool = False,
    namespaces: bool = True,
) -> dict[str, Any]:
    """Run ``code`` as a Python program in an isolated, limited child process.

    Args:
        code: the program's source.
        time_limit: wall-clock seconds before the program and every descendant are killed.
        memory_mb: address-space limit of the child (0 for none); also the size of its ``/tmp``.
        max_output_bytes: stdout and stderr are each cut after this many bytes.
        network: keep the host's network (off: no network, loopback included). Without
            namespaces (see :func:`isolation`) the network is always there.
        namespaces: use namespaces when the kernel allows them; False forces the subreaper
            fallback (weaker: see the module docstring).

    Returns:
        ``{"stdout", "stderr", "returncode", "timed_out"}``; ``returncode`` is negative when the
        child was killed by a signal.

    Raises:
        ToolError: the interpreter could not be started.
    """
    if namespaces and await anyio.to_thread.run_sync(isolation) != "namespaces":
        namespaces = False  # probed once per process: the kernel refuses part of the sandbox
    with tempfile.TemporaryDirectory(prefix="orchestra-python-") as scratch:
        await anyio.Path(scratch, "main.py").write_text(code, encoding="utf-8")
        spec = _spec(time_limit, memory_mb, network=network, namespaces=namespaces)
        command = [sys.executable, "-I", _SUPERVISOR, json.dumps(spec)]
        try:
            proc = await anyio.open_process(
                command,
                stdin=subprocess.DEVNULL,
                cwd=scratch,
                env=_child_env(scratch),
                start_new_session=True,  # its own process group: a backstop killpg reaches it all
            )  # close_fds is asyncio's default: the child inherits no descriptor but 0, 1, 2
        except OSError as exc:
            raise ToolError(f"could not start the Python interpreter: {exc}", tool="python") from exc
        out, err, timed_out = await _supervise(proc, time_limit, max_output_bytes + 1)
    return {
        "stdout": _decode(out[:max_output_bytes], max_output_bytes, len(out) > max_output_bytes),
        "stderr": _decode(err[:max_output_bytes], max_output_bytes, len(err) > max_output_bytes),
        "returncode": proc.returncode,
        "timed_out": timed_out,
    }


def make_python(
    *,
    time_limit: float = 10.0,
    memory_mb: int = 512,
    max_output_bytes: int = 64 * 1024,
    network: bool = False,
) -> Tool:
    """Build the ``python`` tool with the given limits.

    Args:
        time_limit: wall-clock seconds per run.
        memory_mb: address-space limit of the child process.
        max_output_bytes: cap on captured stdout and on stderr.
        network: let the code use the host's network (default: no network at all).

    Raises:
        UsageError: a limit is not positive.
    """
    if time_limit <= 0 or memory_mb < 0 or max_output_bytes <= 0:
        raise UsageError("python tool: time_limit and max_output_bytes must be positive, memory_mb >= 0")

    async def python(code: str) -> dict[str, Any]:
        """Run a Python 3 program in a fresh, isolated process and return its output.

        Print what you need to see: the result is stdout, stderr, the exit code and whether the
        time limit was hit. As in a REPL, the value of a final bare expression is printed too
        (``2**10`` gives ``1024``). No state is kept between calls.

        Args:
            code: the complete program, e.g. "import math\\nprint(math.comb(10, 3))".
        """
        return await run_python(
            show_final_value(code),
            time_limit=time_limit,
            memory_mb=memory_mb,
            max_output_bytes=max_output_bytes,
            network=network,
        )

    # side_effects=True: the code may write files or call out, so identical calls are not merged.
    # The executor's own timeout is a backstop a little beyond ours, so ours reports timed_out.
    return Tool.from_function(python, side_effects=True, timeout=time_limit + 5.0)


python = make_python()
"""The ``python`` tool with default limits (10 s, 512 MiB)."""
