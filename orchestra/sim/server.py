"""Serving the simulator over real HTTP on loopback, inside the caller's event loop.

uvicorn runs as a task of an anyio task group: no thread, no subprocess, so a test sees the real
wire (sockets, SSE framing, dropped connections) at the cost of sharing the loop. Benchmarks that
must not share the client's CPU use :class:`orchestra.sim.process.SimProcess` instead.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import anyio
import uvicorn
from starlette.applications import Starlette

from orchestra.clock import Clock
from orchestra.sim.app import SimulatedDrop, create_app
from orchestra.sim.config import SimConfig
from orchestra.sim.stats import SimStats

__all__ = ["SimHandle", "serve_sim"]

# Seconds uvicorn waits for in-flight responses at shutdown before cancelling them; the app's own
# close() already ends hangs and latency waits, so this only bounds a client that stops reading.
_GRACEFUL_SHUTDOWN = 2  # seconds (uvicorn takes whole seconds)
_KEEP_ALIVE = 75  # seconds


@dataclass(frozen=True)
class SimHandle:
    """A running simulator.

    Args:
        url: the OpenAI base URL, ``http://HOST:PORT/v1``.
        base: the server root, ``http://HOST:PORT`` (``/sim/stats`` lives there).
        port: the bound port.
        app: the ASGI app.
        stats: what it served so far (live).
        server: the uvicorn server running it.
    """

    url: str
    base: str
    port: int
    app: Starlette
    stats: SimStats
    server: uvicorn.Server

    def shutdown(self) -> None:
        """Ask the server to stop: ends hangs and latency waits, then uvicorn exits its loop."""
        self.app.state.simulator.close()
        self.server.should_exit = True


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: a library must not take over the host's Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _HideSimulatedDrops(logging.Filter):
    """Drop uvicorn's 'Exception in ASGI application' records for drops we caused on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _is_drop(record.exc_info[1] if record.exc_info else None)


def _is_drop(exc: BaseException | None) -> bool:
    if isinstance(exc, SimulatedDrop):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_is_drop(e) for e in exc.exceptions)
    return False


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideSimulatedDrops) for f in logger.filters):
        logger.addFilter(_HideSimulatedDrops())


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.asynccontextmanager
async def serve_sim(
    config: SimConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    clock: Clock | None = None,
    startup_timeout: float = 10.0,
) -> AsyncIterator[SimHandle]:
    """Run the simulator on ``host:port`` in the current event loop until the block exits.

    Port 0 picks a free port; the handle's ``url`` carries the real one (read from the bound socket).

    Args:
        config: the behaviour (default ``SimConfig()``).
        host: the interface to bind (loopback by default).
        port: the port, 0 for any free one.
        clock: time source for the app (real time by default).
        startup_timeout: seconds to wait for uvicorn to listen.

    Yields:
        a :class:`SimHandle`.

    Raises:
        OSError: the address cannot be bound.
        ConfigError: the config's script file cannot be read.
    """
    app = create_app(config, clock=clock)
    _install_log_filter()
    sock = _bind(host, port)
    real_port = sock.getsockname()[1]
    server = _EmbeddedServer(
        uvicorn.Config(
            app,
            host=host,
            port=real_port,
            log_level="warning",
            log_config=None,  # leave the host's logging configuration alone
            access_log=False,
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN,
            # Keep idle connections past a 60 s limit window: a client paused by a 429 must not
            # find its pooled connection closed under it (uvicorn's default is 5 s).
            timeout_keep_alive=_KEEP_ALIVE,
        )
    )
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{real_port}"
    handle = SimHandle(
        url=f"{base}/v1", base=base, port=real_port, app=app, stats=app.state.stats, server=server
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        try:
            with anyio.fail_after(startup_timeout):
                while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
                    await anyio.sleep(0.002)
            yield handle
        finally:
            handle.shutdown()
