"""The coding agent's tools, bound to one working copy: view, search, edit, create, and a shell.

Every path is resolved inside the working copy (``..`` and symlinks leading out are refused).
The shell runs ``bash -c`` with the working copy as its directory and ``HOME``, a scrubbed
environment (``PATH``, locale and our test settings only: no API keys or tokens reach it), a
timeout that kills its whole process group, and output cut to a few kilobytes. It is confined by
directory and environment, not sandboxed: a command can still name absolute paths.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import anyio

from orchestra import Tool, tool
from orchestra.benchmarks.swe._testrun import kill_group
from orchestra.errors import ToolError

__all__ = ["TEST_SCRIPT", "make_repo_tools", "scrubbed_env"]

TEST_SCRIPT = "repro_test.py"
"""The test script each candidate writes (CodeMonkeys): exit 0 when the issue is fixed."""

_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TERM")
_MAX_OUT = 4000


def scrubbed_env(root: Path) -> dict[str, str]:
    """The shell's environment: the few variables a build needs, nothing secret."""
    env = {k: os.environ[k] for k in _KEEP if k in os.environ}
    env.update(
        HOME=str(root),
        PYTHONDONTWRITEBYTECODE="1",
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        PYTHONPATH=str(root),
    )
    return env


def _inside(root: Path, path: str) -> Path:
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise ToolError(f"{path!r} is outside the repository")
    if ".git" in target.relative_to(root).parts:
        raise ToolError(f"{path!r} is inside .git")
    return target


def _files(root: Path, start: Path) -> Iterator[Path]:
    if start.is_file():
        yield start
        return
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames[:] = sorted(d for d in dirnames if d not in (".git", "__pycache__", ".pytest_cache"))
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _some_files(root: Path, limit: int = 20) -> str:
    """A short listing for an error message: a weak model that guessed a path gets the real ones."""
    names = [str(p.relative_to(root)) for p in _files(root, root)]
    return ", ".join(names[:limit]) + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


def _cut(text: str, limit: int = _MAX_OUT) -> str:
    return text if len(text) <= limit else text[: limit // 2] + "\n...\n" + text[-limit // 2 :]


def make_repo_tools(root: Path, *, shell_timeout: float = 30.0) -> list[Tool]:
    """The tools for a working copy at ``root``.

    Args:
        root: the working copy.
        shell_timeout: seconds a shell command may run before its process group is killed.

    Returns:
        ``view_file``, ``search``, ``edit_file``, ``create_file`` and ``shell``.
    """
    root = root.resolve()

    @tool
    def view_file(path: str, start: int = 1, end: int = 0) -> str:
        """Show a file's lines with numbers (or a folder's entries).

        Args:
            path: file or folder, relative to the repository root.
            start: first line (1-based).
            end: last line; 0 for the end of the file.
        """
        target = _inside(root, path)
        if target.is_dir():
            return "\n".join(
                sorted(p.name + ("/" if p.is_dir() else "") for p in target.iterdir() if p.name != ".git")
            )
        if not target.is_file():
            raise ToolError(f"no file {path!r}; the files are: {_some_files(root)}")
        lines = target.read_text(encoding="utf-8", errors="replace").splitlines()
        last = len(lines) if end <= 0 else min(end, len(lines))
        return "\n".join(f"{n}: {lines[n - 1]}" for n in range(max(1, start), last + 1)) or "(empty)"

    @tool
    def search(pattern: str, path: str = ".") -> str:
        """Find lines matching a regular expression, as ``file:line: text``.

        Args:
            pattern: a Python regular expression.
            path: file or folder to search, relative to the repository root.
        """
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ToolError(f"bad pattern: {exc}") from exc
        hits = []
        for file in _files(root, _inside(root, path)):
            try:
                text = file.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            for n, line in enumerate(text.splitlines(), 1):
                if regex.search(line):
                    hits.append(f"{file.relative_to(root)}:{n}: {line.strip()}")
                    if len(hits) >= 50:
                        return "\n".join(hits) + "\n(first 50 matches)"
        return "\n".join(hits) or "no matches"

    @tool(side_effects=True)
    def edit_file(path: str, old: str, new: str) -> str:
        """Replace the one occurrence of ``old`` in a file by ``new``.

        Args:
            path: file, relative to the repository root.
            old: the exact text to replace; it must occur exactly once.
            new: the replacement.
        """
        target = _inside(root, path)
        if not target.is_file():
            raise ToolError(f"no file {path!r}; the files are: {_some_files(root)}")
        text = target.read_text(encoding="utf-8")
        count = text.count(old) if old else 0
        if count != 1:
            raise ToolError(f"'old' occurs {count} times in {path}; it must occur exactly once")
        target.write_text(text.replace(old, new, 1), encoding="utf-8")
        return f"edited {path}"

    @tool(side_effects=True)
    def create_file(path: str, content: str) -> str:
        """Write a whole file (created, or replaced when it exists).

        Args:
            path: file, relative to the repository root.
            content: the file's text.
        """
        target = _inside(root, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        return f"wrote {path} ({len(content)} characters)"

    @tool(side_effects=True)
    async def shell(command: str) -> str:
        """Run a bash command in the repository root; returns its exit code and output.

        Args:
            command: e.g. ``python -m pytest -q tests`` or ``python repro_test.py``.
        """
        return await run_shell(root, command, timeout_s=shell_timeout)

    return [view_file, search, edit_file, create_file, shell]


async def run_shell(root: Path, command: str, *, timeout_s: float) -> str:
    """``bash -c command`` in ``root`` with a scrubbed environment; the group is killed at the timeout."""
    out_path = root.parent / f"{root.name}.shell.{time.monotonic_ns()}.out"
    try:
        with out_path.open("wb") as out:
            process = await anyio.open_process(
                ["bash", "-c", command],
                cwd=root,
                env=scrubbed_env(root),
                stdin=None,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
            code: int | None = None
            try:
                with anyio.move_on_after(timeout_s):
                    code = await process.wait()
            finally:
                kill_group(process.pid)
                with anyio.CancelScope(shield=True):
                    await process.wait()
                    await process.aclose()
        output = _cut(out_path.read_text(encoding="utf-8", errors="replace"))
    finally:
        out_path.unlink(missing_ok=True)
    status = f"timed out after {timeout_s:g} s" if code is None else f"exit code {code}"
    return f"{status}\n{output}".rstrip()
