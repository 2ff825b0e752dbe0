"""The embedded default model: llama.cpp's server for a local GGUF, in a child process we own.

No API key and no network beyond the first download: :class:`LocalModel` fetches SmolLM2-135M
(:func:`~orchestra.endpoints.local_model.ensure_model`), starts
:mod:`orchestra.endpoints.local_server` in a child process on 127.0.0.1 at a free port, and hands out
:class:`~orchestra.endpoints.openai.OpenAIEndpoint` s for it. Like SQLite, it is the default that
always works; real work points orchestra at any OpenAI-compatible endpoint.

Never leaving a process behind takes three guards, since any one can be bypassed:
``close()`` (and the context managers) terminate the child, then kill it after a grace period;
``atexit`` closes what the program forgot; and if the parent dies without running either
(SIGKILL, a crash) the child sees its stdin close and, on Linux, gets SIGKILL via
``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import anyio

from orchestra.child import read_first_line
from orchestra.endpoints.local_model import SMOLLM2, ensure_model
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.errors import LocalModelError, UsageError

__all__ = ["MODEL_ALIAS", "LocalModel", "check_local_model", "local_model_name"]

MODEL_ALIAS = "smollm2-135m"
"""The model name the embedded SmolLM2 server reports (it answers requests naming any model)."""

_GRACE_SECONDS = 5.0
_SERVER_SCRIPT = Path(__file__).with_name("local_server.py")


class LocalModel:
    """llama.cpp's OpenAI-compatible server for a local GGUF, run in a child process.

    Use ``async with LocalModel() as lm:`` (or ``with``, or ``start()`` / ``close()``), then
    ``lm.endpoint()`` or any OpenAI client at ``lm.base_url``.

    Args:
        parallel: parallel decoding slots (concurrent requests); docs/design.md asks for at least 2.
        ctx: total context size in tokens, shared by the slots.
        model_path: a GGUF to serve; None means :func:`ensure_model` (SmolLM2, or
            ``ORCHESTRA_LOCAL_MODEL``).
        port: TCP port on 127.0.0.1; 0 picks a free one.
        start_timeout: seconds to wait for the server to print its address.
        cache_dir: model cache directory passed to :func:`ensure_model`.
        threads: CPU threads for decoding; None leaves one CPU to the orchestrator (see
            :func:`~orchestra.endpoints.local_server.default_threads`).
    """

    def __init__(
        self,
        parallel: int = 4,
        ctx: int = 8192,
        model_path: Path | None = None,
        *,
        port: int = 0,
        start_timeout: float = 60.0,
        cache_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        if parallel < 1 or ctx < 64:
            raise UsageError(f"local model: need parallel >= 1 and ctx >= 64, got {parallel} and {ctx}")
        self.parallel = parallel
        self.ctx = ctx
        self.model_path = Path(model_path) if model_path is not None else None
        self.port = port
        self.start_timeout = start_timeout
        self.cache_dir = cache_dir
        self.threads = threads
        self.model_name = _alias(self.model_path) if self.model_path else MODEL_ALIAS
        self.base_url: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Process id of the server child while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the server child is alive."""
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> LocalModel:
        """Fetch the model if needed, start the server and wait for its address.

        Raises:
            LocalModelError: the model could not be fetched, or the server died or printed no
                address within ``start_timeout``.
        """
        self._spawn(self._resolve_model())
        try:
            self._await_address()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop the server: SIGTERM and stdin EOF, SIGKILL after a grace period. Idempotent."""
        proc, self._proc, self.base_url = self._proc, None, None
        if proc is None:
            return
        atexit.unregister(self.close)
        try:
            if proc.poll() is None:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.terminate()
                try:
                    proc.wait(_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            for stream in (proc.stdin, proc.stdout, self._log):
                if stream is not None:
                    stream.close()
            self._log = None

    def wait(self) -> int:
        """Block until the server child exits (e.g. killed from outside); return its exit code."""
        if self._proc is None:
            raise LocalModelError("the local model is not started")
        return self._proc.wait()

    def __enter__(self) -> LocalModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> LocalModel:
        path = await anyio.to_thread.run_sync(self._resolve_model)
        # Spawned from the event-loop thread, not a worker: PR_SET_PDEATHSIG fires when the
        # *thread* that forked the child ends, and anyio retires idle worker threads.
        self._spawn(path)
        done = threading.Event()

        def await_address() -> None:
            try:
                self._await_address()
            finally:
                done.set()

        try:
            await anyio.to_thread.run_sync(await_address, abandon_on_cancel=True)
        except BaseException:
            with anyio.CancelScope(shield=True):
                # Cancelled mid-start, the reader thread still polls the child's stdout. Kill
                # first: it then sees EOF and returns, so close() never pulls the fd out from
                # under it (a reused fd number could otherwise be read by mistake).
                if self._proc is not None and self._proc.poll() is None:
                    self._proc.kill()
                await anyio.to_thread.run_sync(done.wait, _GRACE_SECONDS)
                await anyio.to_thread.run_sync(self.close)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.close)

    def endpoint(self, **kwargs: Any) -> OpenAIEndpoint:
        """An :class:`OpenAIEndpoint` named ``local`` for this server; the caller closes it.

        Args:
            **kwargs: passed to :class:`OpenAIEndpoint` (``name``, ``model``, ``timeout`` ...).
        """
        if self.base_url is None:
            raise LocalModelError("the local model is not started")
        kwargs.setdefault("name", "local")
        kwargs.setdefault("model", self.model_name)
        return OpenAIEndpoint(self.base_url, **kwargs)

    # -- the child process ------------------------------------------------------------------

    def _resolve_model(self) -> Path:
        if self._proc is not None:
            raise LocalModelError("the local model is already started")
        path = self.model_path or ensure_model(self.cache_dir)
        if not path.exists():
            raise LocalModelError(f"model file {path} does not exist")
        self.model_name = _alias(path)
        return path

    def _spawn(self, path: Path) -> None:
        # Run as a script, not ``-m``: importing the ``orchestra`` package would cost the child
        # 0.6 s (measured) of imports it never uses. ``-P`` keeps this folder (which holds an
        # ``openai.py``) off ``sys.path``.
        cmd = [
            sys.executable, "-P", str(_SERVER_SCRIPT),
            "--model", str(path), "--port", str(self.port), "--parallel", str(self.parallel),
            "--ctx", str(self.ctx), "--alias", self.model_name,
        ]  # fmt: skip
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        # PR_SET_PDEATHSIG follows the forking thread; only the main thread lives as long as the
        # process. From any other thread the child relies on its stdin closing instead.
        if threading.current_thread() is threading.main_thread():
            cmd += ["--parent-pid", str(os.getpid())]
        # stderr goes to a file, not a pipe nobody drains, and is read back when start-up fails.
        self._log = tempfile.TemporaryFile(prefix="orchestra-local-")
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, bufsize=0
            )
        except OSError as exc:
            self._log.close()
            raise LocalModelError(f"could not start the local model server: {exc}") from exc
        atexit.register(self.close)

    def _await_address(self) -> None:
        assert self._proc is not None
        address, _ = read_first_line(
            self._proc,
            self.start_timeout,
            what="the local model server",
            error=LocalModelError,
            log=self._log,
        )
        if not address.startswith("http://"):
            raise LocalModelError(f"the local model server printed {address!r}, not its address")
        self.base_url = f"{address}/v1"


def _alias(path: Path) -> str:
    return MODEL_ALIAS if path.name == SMOLLM2.filename else path.stem.lower()


def local_model_name(environ: Mapping[str, str] | None = None) -> str:
    """The name the embedded model will serve under: SmolLM2's alias, or ``ORCHESTRA_LOCAL_MODEL``'s."""
    environ = os.environ if environ is None else environ
    override = environ.get("ORCHESTRA_LOCAL_MODEL")
    return _alias(Path(override)) if override else MODEL_ALIAS


def check_local_model(requested: str | None) -> None:
    """Refuse a model the embedded server does not serve, before anything is downloaded or started.

    llama.cpp answers a request naming any model with its own, so without this check
    ``--model gpt-4o`` with no endpoint configured would be answered by SmolLM2, silently.

    Raises:
        UsageError: ``requested`` is set and is not the embedded model's name.
    """
    name = local_model_name()
    if requested is None or requested in (name, "local"):
        return
    raise UsageError(
        f"the embedded local model is {name}, not {requested!r}; to reach {requested}, pass "
        f"--endpoint URL, set OPENAI_BASE_URL, or give an endpoints file (--endpoints FILE or "
        f"ORCHESTRA_ENDPOINTS)"
    )
