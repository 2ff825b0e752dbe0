"""Temporary git working copies of a task, and patches applied to them.

A task's repository is a plain-files tree, a git bundle or a local clone
(:attr:`~orchestra.benchmarks.swe.SWETask.repo_kind`); each becomes a fresh working copy at
``base_commit`` in a folder the caller owns. Patches are applied the way the swebench harness
applies them (``git apply``, then GNU ``patch --fuzz``), and a patch that applies by neither is
reported, not raised: it is a graded outcome.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import anyio

from orchestra.benchmarks.swe._task import SWETask
from orchestra.errors import OrchestraError

__all__ = [
    "CheckoutError",
    "PatchResult",
    "apply_patch",
    "checkout",
    "diff_of",
    "git",
    "patched_paths",
    "reset_paths",
    "snapshot",
]

# A commit of plain files is made with fixed names and dates, so the same files always give the
# same hash: a task directory's base_commit then names its repo/ tree exactly.
_FIXED = {
    "GIT_AUTHOR_NAME": "orchestra",
    "GIT_AUTHOR_EMAIL": "tasks@orchestra.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "orchestra",
    "GIT_COMMITTER_EMAIL": "tasks@orchestra.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
}
# Settings a user's global git config could change that would change our results.
_GIT = ["git", "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", "-c", "core.hooksPath=/dev/null"]


class CheckoutError(OrchestraError):
    """A task's repository could not be checked out (bad bundle, unknown commit, no git)."""


@dataclass(frozen=True)
class PatchResult:
    """How applying one patch went.

    Attributes:
        applied: True when the patch applied.
        method: the command that applied it (``git apply``, ``patch --fuzz=5``), or ``""``.
        log: what the tools said.
    """

    applied: bool
    method: str
    log: str


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_FIXED, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    return env


async def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run ``git args`` in ``cwd`` with our fixed identity and settings.

    Raises:
        CheckoutError: git failed and ``check`` is set (the message quotes git's stderr).
    """
    try:
        result = await anyio.run_process([*_GIT, *args], cwd=cwd, env=_git_env(), check=False)
    except FileNotFoundError as exc:
        raise CheckoutError("git is not installed (the SWE runner needs it)") from exc
    if check and result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise CheckoutError(f"git {args[0]} failed: {message[-1] if message else result.returncode}")
    return result


async def snapshot(dest: Path) -> str:
    """Make the files in ``dest`` one commit (fixed author and date) and return its hash."""
    await git(dest, "init", "-q")
    await git(dest, "add", "-A")
    await git(dest, "commit", "-q", "--no-verify", "-m", "base")
    return (await git(dest, "rev-parse", "HEAD")).stdout.decode().strip()


async def checkout(task: SWETask, dest: Path) -> str:
    """Check ``task`` out into ``dest`` (which must not exist yet) at its base commit.

    Returns:
        The commit checked out.

    Raises:
        CheckoutError: no repository, or git could not produce the base commit.
    """
    source = task.repo_path
    if source is None:
        raise CheckoutError(task.repo_error or f"{task.instance_id}: no repository")
    kind = task.repo_kind
    if kind == "files":
        await anyio.to_thread.run_sync(lambda: shutil.copytree(source, dest, symlinks=True))
        return await snapshot(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A clone is shared (objects borrowed, nothing copied); a bundle is cloned from the file.
    extra = ["--shared"] if kind == "clone" else []
    await git(dest.parent, "clone", "-q", "--no-checkout", *extra, str(source), str(dest))
    result = await git(dest, "checkout", "-q", "--detach", task.base_commit, check=False)
    if result.returncode != 0:
        raise CheckoutError(f"{source}: base_commit {task.base_commit} is not in it")
    return task.base_commit


async def apply_patch(dest: Path, patch: str, *, name: str = "patch") -> PatchResult:
    """Apply a unified diff to the working copy, as the swebench harness does.

    ``git apply`` first; if it refuses, GNU ``patch --batch --fuzz=5 -p1`` (when installed). An
    empty patch applies trivially. Nothing is raised for a patch that does not apply.
    """
    if not patch.strip():
        return PatchResult(True, "", "empty patch")
    text = patch if patch.endswith("\n") else patch + "\n"
    file = dest.parent / f"{dest.name}.{name}.diff"
    file.write_text(text, encoding="utf-8")
    logs = []
    try:
        result = await git(dest, "apply", "--verbose", "--whitespace=nowarn", str(file), check=False)
        logs.append(result.stderr.decode(errors="replace"))
        if result.returncode == 0:
            return PatchResult(True, "git apply", "".join(logs))
        if shutil.which("patch"):
            check = await anyio.run_process(
                ["patch", "--batch", "--fuzz=5", "-p1", "--dry-run", "-i", str(file)], cwd=dest, check=False
            )
            logs.append(check.stdout.decode(errors="replace"))
            if check.returncode == 0:
                await anyio.run_process(["patch", "--batch", "--fuzz=5", "-p1", "-i", str(file)], cwd=dest)
                return PatchResult(True, "patch --fuzz=5", "".join(logs))
        return PatchResult(False, "", "".join(logs))
    finally:
        file.unlink(missing_ok=True)


_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)
_PLUS_HEADER = re.compile(r"^(?:\+\+\+|---) (?:[ab]/)?(\S+)", re.MULTILINE)


def patched_paths(patch: str) -> list[str]:
    """The files a unified diff touches (both sides of a rename), in order, without duplicates."""
    paths: list[str] = []
    for a, b in _DIFF_HEADER.findall(patch):
        paths += [a, b]
    if not paths:
        paths = [p for p in _PLUS_HEADER.findall(patch) if p != "/dev/null"]
    return list(dict.fromkeys(paths))


async def reset_paths(dest: Path, paths: list[str], commit: str) -> None:
    """Put ``paths`` back as they are at ``commit`` (deleting those it does not have).

    The swebench harness does this to the test files before applying the test patch, so a model
    patch cannot change the hidden tests.
    """
    for rel in paths:
        known = await git(dest, "cat-file", "-e", f"{commit}:{rel}", check=False)
        if known.returncode == 0:
            await git(dest, "checkout", "-q", commit, "--", rel)
        else:
            target = dest / rel
            if target.is_file() or target.is_symlink():
                target.unlink()


async def diff_of(dest: Path, commit: str, *, exclude: tuple[str, ...] = ()) -> str:
    """The working copy's changes since ``commit`` (new files included) as a git-format diff."""
    skip = [*exclude, "**/__pycache__/**", ".pytest_cache/**"]
    await git(dest, "add", "-A", "--", ".", *(f":(exclude,glob){p}" for p in skip))
    result = await git(dest, "diff", "--cached", "--no-color", "--no-ext-diff", "--binary", commit)
    await git(dest, "reset", "-q")
    return result.stdout.decode(errors="replace")
