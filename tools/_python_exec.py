"""``python``: run model-written Python in a child process with time and memory limits.

Agent frameworks commonly run generated code with ``exec`` in the agent's own process, where it
can read ``OPENAI_API_KEY`` from ``os.environ``, block the event loop, or exhaust memory. Here
the code runs in a separate interpreter (``python -I``: no user site, no ``PYTHON*`` variables)
in its own session and scratch directory, with:

- a scrubbed environment: only ``PATH`` and locale variables are passed, so parent secrets
  (API keys, tokens) are simply not there;
- an address-space limit (``RLIMIT_AS``) and a CPU-time backstop (``RLIMIT_CPU``), set by a tiny
  bootstrap inside the child before the user's code runs (anyio's ``open_process`` has no
  ``preexec_fn``, and ``preexec_fn`` is unsafe in a threaded parent anyway);
- a wall-clock deadline: on expiry the whole process group is killed, so children the code
  spawned die with it; the group is also killed after a normal exit and on cancellation, so no
  stray process outlives the call;
- capped output capture, so a print loop cannot fill the parent's memory.

This is a resource sandbox, not a security boundary: the code can still use the network and
read world-readable files. Run untrusted code inside a container as well.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream, Process

from orchestra._tool import Tool
from orchestra.errors import ToolError, UsageError

__all__ = ["make_python", "python", "run_python"]

# Variables copied from the parent when present: enough for a working interpreter and UTF-8
# output, none that could carry a credential.
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_DRAIN_GRACE = 1.0  # seconds to collect the last output after the process group is dead

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
            _kill_group(proc.pid)
            await proc.wait()
            # A descendant that left the group (setsid) could hold the pipes open forever.
            with anyio.move_on_after(_DRAIN_GRACE):
                await out_done.wait()
                await err_done.wait()
            tg.cancel_scope.cancel()
    finally:
        _kill_group(proc.pid)  # also on cancellation from outside
        with anyio.CancelScope(shield=True):
            await proc.aclose()
    return out, err, deadline.cancelled_caught


async def run_python(
    code: str,
    *,
    time_limit: float = 10.0,
    memory_mb: int = 512,
    max_output_bytes: int = 64 * 1024,
) -> dict[str, Any]:
    """Run ``code`` as a Python program in a limited child process.

    Args:
        code: the program's source.
        time_limit: wall-clock seconds before the whole process group is killed.
        memory_mb: address-space limit of the child (0 for none).
        max_output_bytes: stdout and stderr are each cut after this many bytes.

    Returns:
        ``{"stdout", "stderr", "returncode", "timed_out"}``; ``returncode`` is negative when the
        child was killed by a signal.

    Raises:
        ToolError: the interpreter could not be started.
    """
    with tempfile.TemporaryDirectory(prefix="orchestra-python-") as scratch:
        await anyio.Path(scratch, "main.py").write_text(code, encoding="utf-8")
        command = [
            sys.executable,
            "-I",
            "-c",
            _BOOTSTRAP,
            str(memory_mb * 1024 * 1024),
            str(int(time_limit) + 1),
        ]
        try:
            proc = await anyio.open_process(
                command,
                stdin=subprocess.DEVNULL,
                cwd=scratch,
                env=_child_env(scratch),
                start_new_session=True,  # its own process group, so one killpg reaches every descendant
            )
        except OSError as exc:
            raise ToolError(f"could not start the Python interpreter: {exc}", tool="python") from exc
        out, err, timed_out = await _supervise(proc, time_limit, max_output_bytes + 1)
    return {
        "stdout": _decode(out[:max_output_bytes], max_output_bytes, len(out) > max_output_bytes),
        "stderr": _decode(err[:max_output_bytes], max_output_bytes, len(err) > max_output_bytes),
        "returncode": proc.returncode,
        "timed_out": timed_out,
    }


def make_python(*, time_limit: float = 10.0, memory_mb: int = 512, max_output_bytes: int = 64 * 1024) -> Tool:
    """Build the ``python`` tool with the given limits.

    Args:
        time_limit: wall-clock seconds per run.
        memory_mb: address-space limit of the child process.
        max_output_bytes: cap on captured stdout and on stderr.

    Raises:
        UsageError: a limit is not positive.
    """
    if time_limit <= 0 or memory_mb < 0 or max_output_bytes <= 0:
        raise UsageError("python tool: time_limit and max_output_bytes must be positive, memory_mb >= 0")

    async def python(code: str) -> dict[str, Any]:
        """Run a Python 3 program in a fresh, isolated process and return its output.

        Print what you need to see: the result is stdout, stderr, the exit code and whether the
        time limit was hit. No state is kept between calls.

        Args:
            code: the complete program, e.g. "import math\\nprint(math.comb(10, 3))".
        """
        return await run_python(
            code, time_limit=time_limit, memory_mb=memory_mb, max_output_bytes=max_output_bytes
        )

    # side_effects=True: the code may write files or call out, so identical calls are not merged.
    # The executor's own timeout is a backstop a little beyond ours, so ours reports timed_out.
    return Tool.from_function(python, side_effects=True, timeout=time_limit + 5.0)


python = make_python()
"""The ``python`` tool with default limits (10 s, 512 MiB)."""
