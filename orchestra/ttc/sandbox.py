"""Run candidate code in a separate, isolated Python process with a time limit.

Used by S* to run candidates on public tests and on generated inputs. The child is
``python -I`` (no user site, no environment variables, no current directory on the path) in a
fresh temporary directory, with CPU-time and memory limits on POSIX; the whole process group is
killed at the timeout. Each call's output is its result's ``repr``, or ``"Error: Type: message"``.
This is isolation against accidents, not against a hostile program.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import anyio

from orchestra.ttc.program import Execution

__all__ = ["run_python"]

_HARNESS = r"""
import json, sys
spec = json.load(sys.stdin)
env = {"__name__": "__candidate__"}
outputs = []
try:
    exec(compile(spec["code"], "<candidate>", "exec"), env)
except BaseException as exc:
    print(json.dumps([f"Error: {type(exc).__name__}: {exc}"] * len(spec["calls"])))
    raise SystemExit(0)
for call in spec["calls"]:
    try:
        outputs.append(repr(eval(call, env)))
    except BaseException as exc:
        outputs.append(f"Error: {type(exc).__name__}: {exc}")
print(json.dumps(outputs))
"""


def _limits() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (10, 10))
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def _run(execution: Execution) -> tuple[str, ...]:
    with tempfile.TemporaryDirectory(prefix="orchestra-sandbox-") as cwd:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _HARNESS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_limits if os.name == "posix" else None,
        )
        try:
            out, _ = proc.communicate(
                json.dumps({"code": execution.code, "calls": execution.calls}).encode(),
                timeout=execution.timeout,
            )
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            return tuple("Error: Timeout" for _ in execution.calls)
    try:
        outputs = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return tuple("Error: the program crashed" for _ in execution.calls)
    return tuple(str(o) for o in outputs)


async def run_python(execution: Execution) -> tuple[str, ...]:
    """Run ``execution`` in a sandboxed child process (in a worker thread); one output per call."""
    return await anyio.to_thread.run_sync(_run, execution)
