"""The simulator in a subprocess, so a benchmark's server never shares the client's CPU or event loop.

The child is ``python -m orchestra.sim`` with the config passed as JSON; it prints its URL on its
first stdout line and its stats as a JSON line when it exits. The parent stops it with SIGTERM
(then SIGKILL if it lingers), and the child also exits when its stdin closes, so even a parent
killed outright leaves no server behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import weakref
from typing import IO, Any

import anyio
import httpx2

from orchestra.child import read_first_line
from orchestra.errors import OrchestraError
from orchestra.sim.config import SimConfig
from orchestra.sim.stats import SimStats

__all__ = ["SimProcess"]

_STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Last-resort cleanup (garbage collection or interpreter exit): never leave the child running."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


class SimProcess:
    """A simulator subprocess, usable as ``with`` or ``async with``.

    Args:
        config: the behaviour (default ``SimConfig()``).
        host: interface for the child to bind.
        port: port, 0 for any free one.
        startup_timeout: seconds to wait for the child's URL line.
        python: the interpreter (default: this one).

    Attributes:
        url: ``http://HOST:PORT/v1`` once started.
        base: ``http://HOST:PORT`` once started.
        final_stats: the child's stats after it stopped (None before, or if it died without them).
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 30.0,
        python: str | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.python = python or sys.executable
        self.url = ""
        self.base = ""
        self.final_stats: SimStats | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._pending = b""
        self._stopped = False

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has exited."""
        return self._proc.poll() if self._proc is not None else None

    def command(self) -> list[str]:
        """The child's command line."""
        return [
            self.python, "-m", "orchestra.sim",
            "--host", self.host, "--port", str(self.port),
            "--config-json", self.config.model_dump_json(),
            "--json-stats", "--exit-on-stdin-eof",
        ]  # fmt: skip

    def start(self) -> SimProcess:
        """Start the child and wait until it listens.

        Raises:
            OrchestraError: it exited or printed nothing within ``startup_timeout`` (its stderr is quoted).
        """
        if self._proc is not None:
            raise OrchestraError("SimProcess already started")
        self._stderr = tempfile.TemporaryFile()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            bufsize=0,
            env=env,
        )
        weakref.finalize(self, _reap, self._proc)
        try:
            line, self._pending = read_first_line(
                self._proc, self.startup_timeout, what="the simulator", error=OrchestraError, log=self._stderr
            )
        except BaseException:
            self.stop()
            raise
        self.url = line.split()[-1]
        self.base = self.url.removesuffix("/v1")
        return self

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after a grace period) and collect its final stats."""
        proc = self._proc
        if proc is None or self._stopped:
            return
        self._stopped = True
        if proc.poll() is None:
            proc.terminate()
        # communicate() drains stdout while waiting: the final stats line can exceed a pipe's buffer.
        try:
            out, _ = proc.communicate(timeout=_STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        if self._stderr is not None:
            self._stderr.close()
        self.final_stats = _stats_line(self._pending + (out or b""))

    def stats(self, timeout: float = 10.0) -> SimStats:
        """The running child's stats, admission times included (``GET /sim/stats?times=1``)."""
        if not self.base:
            raise OrchestraError("SimProcess is not running")
        response = httpx2.get(f"{self.base}/sim/stats", params={"times": "1"}, timeout=timeout)
        response.raise_for_status()
        return SimStats.from_dict(response.json())

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SimProcess:
        return await anyio.to_thread.run_sync(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await anyio.to_thread.run_sync(self.stop)


def _stats_line(output: bytes) -> SimStats | None:
    for line in reversed(output.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                data: Any = json.loads(line)
            except ValueError:
                return None
            return SimStats.from_dict(data)
    return None
