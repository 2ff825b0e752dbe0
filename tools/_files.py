"""``read_file``, ``write_file``, ``list_dir``: file tools confined to one root directory.

A planner's path is untrusted text: ``../../etc/passwd``, an absolute path, or a symlink planted
inside the root that points out of it. :class:`Confinement` resolves every path the way the OS
will (``..`` and every symlink along it) and refuses the result unless it lies inside the resolved
root. The final component is then opened with ``O_NOFOLLOW``, so a symlink swapped in after the
check is not followed either.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from orchestra._tool import Tool
from orchestra.errors import ToolError, UsageError

__all__ = ["Confinement", "make_files"]

_MAX_LIST_ENTRIES = 1_000


class Confinement:
    """Maps relative paths to real paths inside ``root``, refusing every escape (pure, no writes).

    Args:
        root: an existing directory; it is resolved once, here.

    Raises:
        UsageError: ``root`` is not an existing directory.
    """

    def __init__(self, root: str | Path) -> None:
        resolved = Path(root).resolve()
        if not resolved.is_dir():
            raise UsageError(f"files root {str(root)!r} is not an existing directory")
        self.root = resolved

    def resolve(self, path: str, *, tool: str | None = None) -> Path:
        """The real path of ``path`` (relative to the root), if it stays inside the root.

        An absolute path is accepted only when it already points inside the root.

        Raises:
            ToolError: the path escapes the root (via ``..``, an absolute path or a symlink), or is
                malformed.
        """
        if not isinstance(path, str) or not path.strip() or "\x00" in path:
            raise ToolError(f"invalid path {path!r}", tool=tool)
        try:
            real = (self.root / path).resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on older Pythons
            raise ToolError(f"cannot resolve {path!r}: {exc}", tool=tool) from exc
        if not real.is_relative_to(self.root):
            raise ToolError(
                f"path {path!r} is outside the allowed directory; use a path relative to it", tool=tool
            )
        return real

    def relative(self, real: Path) -> str:
        """``real`` as the planner should write it: relative to the root, ``.`` for the root."""
        return real.relative_to(self.root).as_posix() or "."


def _open_flags(write: bool) -> int:
    # O_NONBLOCK: opening a FIFO planted in the root must not hang the worker thread (a write
    # open fails with ENXIO instead); it has no effect on regular files. O_NOFOLLOW: a final
    # component swapped for a symlink after the confinement check is not followed.
    base = os.O_WRONLY | os.O_CREAT | os.O_TRUNC if write else os.O_RDONLY
    return base | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _read_regular_file(real: Path, shown: str, limit: int) -> bytes:
    """Read a regular file of at most ``limit`` bytes; anything else is a ToolError."""
    try:
        fd = os.open(real, _open_flags(write=False))
    except OSError as exc:
        raise ToolError(f"cannot read {shown!r}: {exc.strerror}", tool="read_file") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ToolError(f"{shown!r} is {kind}; use list_dir for directories", tool="read_file")
        if info.st_size > limit:
            raise ToolError(
                f"{shown!r} is {info.st_size} bytes, over the read limit of {limit} bytes", tool="read_file"
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew after the fstat
        raise ToolError(f"{shown!r} is over the read limit of {limit} bytes", tool="read_file")
    return data


def make_files(
    root: str | Path,
    *,
    max_read_bytes: int = 1024 * 1024,
    max_write_bytes: int = 1024 * 1024,
    writable: bool = True,
) -> list[Tool]:
    """Build ``read_file``, ``list_dir`` and (when ``writable``) ``write_file`` confined to ``root``.

    Args:
        root: the directory the tools may see; nothing outside it is reachable.
        max_read_bytes: larger files are refused by ``read_file``.
        max_write_bytes: larger contents are refused by ``write_file``.
        writable: False leaves ``write_file`` out.

    Raises:
        UsageError: ``root`` is not an existing directory, or a limit is not positive.
    """
    if max_read_bytes <= 0 or max_write_bytes <= 0:
        raise UsageError("files tools: size limits must be positive")
    jail = Confinement(root)

    def read_file(path: str) -> str:
        """Read a UTF-8 text file.

        Args:
            path: the file, relative to the working directory.
        """
        data = _read_regular_file(jail.resolve(path, tool="read_file"), path, max_read_bytes)
        return data.decode("utf-8", errors="replace")

    def write_file(path: str, content: str) -> dict[str, Any]:
        """Create or overwrite a text file (UTF-8), creating missing parent directories.

        Args:
            path: the file, relative to the working directory.
            content: the complete new content.
        """
        data = content.encode("utf-8")
        if len(data) > max_write_bytes:
            raise ToolError(
                f"content is {len(data)} bytes, over the limit of {max_write_bytes}", tool="write_file"
            )
        real = jail.resolve(path, tool="write_file")
        try:
            real.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(real, _open_flags(write=True), 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise ToolError(f"cannot write {path!r}: {exc.strerror}", tool="write_file") from exc
        return {"path": jail.relative(real), "bytes": len(data)}

    def list_dir(path: str = ".") -> list[dict[str, Any]]:
        """List a directory: name, type ("file", "dir" or "other") and size of each entry (first 1000 by name).

        Args:
            path: the directory, relative to the working directory; "." is the top.
        """
        real = jail.resolve(path, tool="list_dir")
        try:
            entries = sorted(os.scandir(real), key=lambda entry: entry.name)
        except OSError as exc:
            raise ToolError(f"cannot list {path!r}: {exc.strerror}", tool="list_dir") from exc
        listing = []
        for entry in entries[:_MAX_LIST_ENTRIES]:
            # follow_symlinks=False: report a link as "other" instead of describing its target,
            # which may lie outside the root.
            if entry.is_dir(follow_symlinks=False):
                kind = "dir"
            else:
                kind = "file" if entry.is_file(follow_symlinks=False) else "other"
            size = entry.stat(follow_symlinks=False).st_size if kind == "file" else None
            listing.append({"name": entry.name, "type": kind, "size": size})
        return listing

    tools = [Tool.from_function(read_file), Tool.from_function(list_dir)]
    if writable:
        tools.insert(1, Tool.from_function(write_file, side_effects=True))
    return tools
