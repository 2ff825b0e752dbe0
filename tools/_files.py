"""``read_file``, ``write_file``, ``list_dir``: file tools confined to one root directory.

A planner's path is untrusted text: ``../../etc/passwd``, an absolute path, or a symlink planted
inside the root that points out of it. :class:`Confinement` resolves every path the way the OS
will (``..`` and every symlink along it) and refuses the result unless it lies inside the resolved
root. Then every other alias of something outside the root is refused too:

- the path is opened one component at a time from a descriptor of the root (``openat`` with
  ``O_NOFOLLOW``), so a symlink swapped in after the check, at any depth, is not followed;
- a regular file with more than one hard link is refused for reading and for writing (a hard
  link planted in the root is the outside file itself; ``write_file`` no longer truncates
  before checking);
- a path through a mount point inside the root (a bind mount of an outside directory) or onto
  another device is refused.
"""

from __future__ import annotations

import errno
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

    def check_mounts(self, real: Path, *, tool: str | None = None) -> None:
        """Refuse ``real`` when it lies on or under a mount point inside the root (a bind mount).

        Raises:
            ToolError: naming the mount point.
        """
        for point in _mount_points():
            if point != self.root and point.is_relative_to(self.root) and real.is_relative_to(point):
                shown = self.relative(point)
                raise ToolError(
                    f"{self.relative(real)!r} is under {shown!r}, a mount point inside the allowed "
                    "directory, which may show files from outside it",
                    tool=tool,
                )

    def open(self, real: Path, flags: int, *, tool: str, make_parents: bool = False) -> int:
        """Open ``real`` (from :meth:`resolve`) one component at a time from the root, never following a link.

        Returns:
            a descriptor of the path (the caller closes it); the root itself for ``.``.

        Raises:
            ToolError: a component is now a symlink or on another device, or the open failed.
        """
        self.check_mounts(real, tool=tool)
        parts = real.relative_to(self.root).parts
        shown = self.relative(real)
        walk = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW | _CLOEXEC
        verb = {"read_file": "read", "write_file": "write", "list_dir": "list"}.get(tool, "open")
        fd = os.open(self.root, walk)
        try:
            device = os.fstat(fd).st_dev
            for name in parts[:-1]:
                if make_parents:
                    try:
                        os.mkdir(name, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                try:
                    nxt = os.open(name, walk, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise ToolError(
                            f"{shown!r} goes through {name!r}, which is a symbolic link or not a directory",
                            tool=tool,
                        ) from exc
                    raise
                os.close(fd)
                fd = nxt
                if os.fstat(fd).st_dev != device:
                    raise ToolError(f"{shown!r} crosses onto another file system", tool=tool)
            if not parts:
                return os.dup(fd)
            target = os.open(parts[-1], flags, 0o644, dir_fd=fd)
            if os.fstat(target).st_dev != device:
                os.close(target)
                raise ToolError(f"{shown!r} is on another file system", tool=tool)
            return target
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ToolError(f"{shown!r} is a symbolic link; refused", tool=tool) from exc
            raise ToolError(f"cannot {verb} {shown!r}: {exc.strerror}", tool=tool) from exc
        finally:
            os.close(fd)

    def relative(self, real: Path) -> str:
        """``real`` as the planner should write it: relative to the root, ``.`` for the root."""
        return real.relative_to(self.root).as_posix() or "."


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _mount_points() -> list[Path]:
    """Every mount point of this process (``/proc/self/mountinfo``; none where it does not exist)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    return [
        Path(line.split()[4].encode().decode("unicode_escape")) for line in lines if len(line.split()) > 4
    ]


def _open_flags(write: bool) -> int:
    # O_NONBLOCK: opening a FIFO planted in the root must not hang the worker thread (a write
    # open fails with ENXIO instead); it has no effect on regular files. O_NOFOLLOW: a final
    # component swapped for a symlink after the confinement check is not followed. No O_TRUNC:
    # the file is truncated only after it is known to be a regular file with one link.
    base = os.O_WRONLY | os.O_CREAT if write else os.O_RDONLY
    return base | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC


def _check_regular(fd: int, shown: str, tool: str) -> os.stat_result:
    """The file's stat if it is a regular file with a single link; else a ToolError."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ToolError(f"{shown!r} is {kind}; use list_dir for directories", tool=tool)
    if info.st_nlink > 1:
        raise ToolError(
            f"{shown!r} has {info.st_nlink} hard links; a hard link may be a file outside the allowed "
            "directory, so it is refused",
            tool=tool,
        )
    return info


def _read_regular_file(jail: Confinement, real: Path, shown: str, limit: int) -> bytes:
    """Read a regular, singly linked file of at most ``limit`` bytes; anything else is a ToolError."""
    fd = jail.open(real, _open_flags(write=False), tool="read_file")
    try:
        info = _check_regular(fd, shown, "read_file")
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
        data = _read_regular_file(jail, jail.resolve(path, tool="read_file"), path, max_read_bytes)
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
        fd = jail.open(real, _open_flags(write=True), tool="write_file", make_parents=True)
        try:
            _check_regular(fd, path, "write_file")
            os.ftruncate(fd, 0)
            with os.fdopen(fd, "wb", closefd=False) as handle:
                handle.write(data)
        except OSError as exc:
            raise ToolError(f"cannot write {path!r}: {exc.strerror}", tool="write_file") from exc
        finally:
            os.close(fd)
        return {"path": jail.relative(real), "bytes": len(data)}

    def list_dir(path: str = ".") -> list[dict[str, Any]]:
        """List a directory: name, type ("file", "dir" or "other") and size of each entry (first 1000 by name).

        Args:
            path: the directory, relative to the working directory; "." is the top.
        """
        real = jail.resolve(path, tool="list_dir")
        fd = jail.open(real, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW | _CLOEXEC, tool="list_dir")
        try:
            entries = sorted(os.scandir(fd), key=lambda entry: entry.name)
            listing = []
            for entry in entries[:_MAX_LIST_ENTRIES]:
                # follow_symlinks=False: report a link as "other" instead of describing its target,
                # which may lie outside the root. (Read while the directory's descriptor is open.)
                if entry.is_dir(follow_symlinks=False):
                    kind = "dir"
                else:
                    kind = "file" if entry.is_file(follow_symlinks=False) else "other"
                size = entry.stat(follow_symlinks=False).st_size if kind == "file" else None
                listing.append({"name": entry.name, "type": kind, "size": size})
        except OSError as exc:
            raise ToolError(f"cannot list {path!r}: {exc.strerror}", tool="list_dir") from exc
        finally:
            os.close(fd)
        return listing

    tools = [Tool.from_function(read_file), Tool.from_function(list_dir)]
    if writable:
        tools.insert(1, Tool.from_function(write_file, side_effects=True))
    return tools
