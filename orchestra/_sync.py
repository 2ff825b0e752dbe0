"""The synchronous edge: one background event loop that scripts and notebooks share.

orchestra is async inside. Synchronous callers (``Agent.run_sync``, :func:`open_endpoint`) run
their coroutines on one process-wide event loop in a daemon thread, through anyio's
:class:`~anyio.from_thread.BlockingPortal`, rather than a fresh ``anyio.run`` per call, because:

- an endpoint's HTTP client belongs to the loop that built it, so an endpoint opened once must
  see the same loop on every later call;
- it works where ``anyio.run`` refuses, inside a thread that already runs a loop (a notebook cell);
- what was opened here (endpoints, the embedded model's server) is closed at interpreter exit,
  so a synchronous user never manages connection lifetimes (no "Unclosed client session").
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

if TYPE_CHECKING:
    from orchestra.endpoints.base import Endpoint

__all__ = ["open_endpoint", "run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_opened = ExitStack()  # the portal first, then what was opened through it (closed in reverse)
_portal: BlockingPortal | None = None


def _shared_portal() -> BlockingPortal:
    global _portal
    with _lock:
        if _portal is None:
            _portal = _opened.enter_context(start_blocking_portal(name="orchestra-sync"))
            # Cancel whatever a Ctrl-C left running before the portal stops, so exit never waits
            # on it; registered after the portal, so it runs before the ExitStack closes it.
            portal = _portal
            _opened.callback(_cancel_remaining, portal)
            atexit.register(close_all)
        return _portal


def _cancel_remaining(portal: BlockingPortal) -> None:
    try:
        portal.call(portal.stop, True)
    except RuntimeError:  # already stopped
        pass


def close_all() -> None:
    """Close every endpoint opened by :func:`open_endpoint` and stop the shared loop (at exit)."""
    global _portal
    with _lock:
        _opened.close()
        _portal = None


def run_sync(fn: Callable[..., Awaitable[T]], *args: object) -> T:
    """Run ``await fn(*args)`` on the shared background loop and return its result.

    Safe from any thread that is not that loop's own, including one running an event loop.

    Raises:
        whatever ``fn`` raises.
    """
    return _shared_portal().call(fn, *args)


def open_endpoint(
    endpoint: str | None = None, *, model: str | None = None, endpoints_file: str | Path | None = None
) -> Endpoint:
    """A ready endpoint for synchronous code, like ``OpenAI()`` in the openai SDK.

    The arguments are those of the CLI's ``--endpoint``, ``--model`` and ``--endpoints``, and so
    are the defaults: ``OPENAI_BASE_URL`` if set, else an endpoints file (``ORCHESTRA_ENDPOINTS``
    or ``~/.config/orchestra/endpoints.toml``), else the embedded model (its server starts now, in
    about a second, and stops at exit). A model the endpoint does not serve is a ``UsageError``::

        from orchestra import Agent, open_endpoint

        agent = Agent(open_endpoint(), tools=[])
        print(agent.run_sync("What is 2+3?").answer)

    The endpoint is the full stack (limits, retries, pool, accounting) and lives on the shared
    loop of :func:`run_sync`; use it through ``run_sync`` callers such as ``Agent.run_sync``.
    In async code use ``orchestra.endpoints.connect`` instead.

    Args:
        endpoint: ``"local"`` (default), a base URL such as ``http://127.0.0.1:8787/v1``, or a
            name from ``endpoints_file``.
        model: the model to request.
        endpoints_file: a TOML file of endpoints.

    Raises:
        UsageError: a bad endpoint name, URL or file.
        LocalModelError: the embedded model could not start.
    """
    from orchestra.endpoints.config import resolve_specs
    from orchestra.endpoints.stack import connect

    specs = resolve_specs(endpoint, model, Path(endpoints_file) if endpoints_file is not None else None)
    portal = _shared_portal()
    connection = portal.wrap_async_context_manager(connect(specs, check_models=True))
    with _lock:
        opened = _opened.enter_context(connection)
    return opened.default
