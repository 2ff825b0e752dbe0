"""The start-up handshake of a server run as a child process (the simulator, the local model).

The child prints its address as the first line of stdout; the parent waits for that line with a
deadline, and if the child dies or stays silent, reports the tail of the child's stderr (kept in
a file, never a pipe nobody drains) in the error.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from typing import IO

from orchestra.errors import OrchestraError

__all__ = ["log_tail", "read_first_line"]


def log_tail(log: IO[bytes] | None, lines: int = 3) -> str:
    """The last ``lines`` lines of a child's stderr file, as ``": a | b | c"`` ('' if empty)."""
    if log is None:
        return ""
    log.seek(0)
    text = log.read().decode(errors="replace").strip().splitlines()[-lines:]
    return ": " + " | ".join(text) if text else ""


def read_first_line(
    proc: subprocess.Popen[bytes],
    timeout: float,
    *,
    what: str,
    error: type[OrchestraError],
    log: IO[bytes] | None = None,
) -> tuple[str, bytes]:
    """Wait up to ``timeout`` seconds for the first stdout line of ``proc``.

    Returns:
        the line (stripped) and whatever the child wrote after it.

    Raises:
        error: "<what> exited with code N: <stderr tail>" or "<what> printed no address within T s".
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise error(f"{what} printed no address within {timeout:g} s{log_tail(log)}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:  # stdout closed: the child exited
            raise error(f"{what} exited with code {proc.wait()}{log_tail(log)}")
        buffer += chunk
    line, rest = buffer.split(b"\n", 1)
    return line.decode(errors="replace").strip(), rest
