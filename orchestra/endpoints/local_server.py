"""The child process that runs llama.cpp's HTTP server (``python -P .../local_server.py``).

:class:`orchestra.endpoints.local.LocalModel` starts this module in a child process rather than
running ``xllamacpp.Server`` in the caller's process: the server's threads and 100+ MB of weights
then cannot outlive the caller, and killing the child always frees them.

Protocol with the parent: the child prints the server's address (``http://127.0.0.1:PORT``) as
its first stdout line, then lives until its stdin reaches end of file (the parent closed it, or
the parent died and the kernel closed it) or it gets SIGTERM. On Linux it also asks the kernel for
SIGKILL when the parent dies (``PR_SET_PDEATHSIG``). It leaves by ``os._exit`` or SIGTERM's
default action, never by ``del server``: measured here, deleting an ``xllamacpp.Server`` right
after start-up sometimes never returns (a race in its shutdown), and there is nothing to flush.
"""

from __future__ import annotations

# Imports nothing from orchestra: the parent runs this file as a script, so start-up skips the
# package's imports (see LocalModel._spawn).
import argparse
import ctypes
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["default_threads", "main", "start_server"]

_PR_SET_PDEATHSIG = 1


def default_threads() -> int:
    """Decoding threads: the CPUs this process may use, less one for the orchestrator (1 to 8).

    ggml's threads meet at a spinning barrier after every layer, so one descheduled thread stalls
    the rest. The orchestrator runs beside the model (its executor, tools, the simulator), so we
    leave it a CPU. Measured here on 2 busy CPUs (SmolLM2, 200 tokens): 1 thread 47-71 tokens/s,
    2 threads 4-32 tokens/s; on 2 quiet CPUs 2 threads reach ~115.
    """
    try:
        available = len(os.sched_getaffinity(0))  # the affinity mask, so a container's limit counts
    except AttributeError:  # pragma: no cover - macOS, Windows
        available = os.cpu_count() or 1
    return max(1, min(available - 1, 8))


def start_server(
    model: Path,
    *,
    port: int = 0,
    parallel: int = 4,
    ctx: int = 8192,
    alias: str | None = None,
    threads: int | None = None,
) -> Any:
    """Start llama.cpp's HTTP server in this process on 127.0.0.1; return the ``xllamacpp.Server``.

    Args:
        model: the GGUF file.
        port: TCP port; 0 picks a free one (read it from ``server.listening_address``).
        parallel: parallel slots (concurrent requests decoded in one batch); ``ctx`` is shared by them.
        ctx: total context size in tokens.
        alias: the model name the server reports (it answers requests naming any model).
        threads: CPU threads for decoding; None means :func:`default_threads`.

    Raises:
        RuntimeError: llama.cpp could not load the model or bind the port.
    """
    import xllamacpp  # imported here: only the child needs it

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_parallel = parallel
    params.n_ctx = ctx
    params.use_jinja = True  # the GGUF's own chat template, as llama-server --jinja
    params.port = port
    params.hostnames = ["127.0.0.1"]
    params.verbosity = -1  # silences llama.cpp's per-request logging
    # Left at -1, the count is never resolved to the CPUs we have (llama-server's argument parser
    # would do that) and decoding crawls: measured here on 2 CPUs, 8 tokens/s instead of ~115.
    n_threads = threads or default_threads()
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads
    if alias:
        params.model_alias = {alias}
    return xllamacpp.Server(params)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child: serve until stdin closes or SIGTERM arrives."""
    parser = argparse.ArgumentParser(prog="local_server.py", description="Serve a GGUF on 127.0.0.1.")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("--alias", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--parent-pid", type=int, default=None, help="ask for SIGKILL when this parent dies")
    args = parser.parse_args(argv)

    if args.parent_pid is not None:
        _die_with_parent(args.parent_pid)
    # A Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM keeps its default action (the kernel ends us): a Python handler would only run
    # between bytecodes, never while llama.cpp holds the main thread loading a model.
    threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    try:
        server = start_server(
            args.model,
            port=args.port,
            parallel=args.parallel,
            ctx=args.ctx,
            alias=args.alias,
            threads=args.threads,
        )
        address = server.listening_address
        _wait_healthy(address)
    except (RuntimeError, OSError) as exc:
        where = f"port {args.port}" if args.port else "a free port"
        print(f"llama.cpp server failed to start ({args.model}, {where}): {exc}", file=sys.stderr, flush=True)
        os._exit(1)
    sys.stdout.write(address + "\n")
    sys.stdout.flush()
    os.dup2(2, 1)  # later writes to stdout go to the log, so the parent may close its end of the pipe
    threading.Event().wait()  # until SIGTERM or stdin EOF ends the process
    return 0  # pragma: no cover


def _die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL us when the parent dies, even by SIGKILL; elsewhere stdin EOF does the job."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _exit_on_stdin_eof() -> None:
    # The parent holds the pipe's write end; it closes when the parent closes it or dies.
    while os.read(sys.stdin.fileno(), 4096):
        pass
    os._exit(0)


def _wait_healthy(address: str, timeout: float = 30.0) -> None:
    """Poll ``/health`` until llama.cpp answers 200 (it answers 503 while loading)."""
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    while True:
        try:
            with opener.open(f"{address}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.01)


if __name__ == "__main__":
    sys.exit(main())
