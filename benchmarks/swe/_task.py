"""SWE-style tasks: a repository at a commit, an issue text, a gold patch and hidden tests.

Two sources give the same :class:`SWETask`:

- SWE-bench instances (JSON, a JSON list, or JSONL) with SWE-bench's own field names
  (``instance_id``, ``repo``, ``base_commit``, ``problem_statement``, ``patch``, ``test_patch``,
  ``FAIL_TO_PASS``, ``PASS_TO_PASS``, ``version``); the two test lists may be JSON-encoded strings
  (as the dataset on the Hub stores them) or lists. The repository comes from ``--repos DIR``:
  a local clone ``DIR/owner__name`` or a bundle ``DIR/owner__name.bundle``.
- Task directories that need no network::

      task.toml      instance_id, repo, base_commit, version, FAIL_TO_PASS, PASS_TO_PASS
      repo.bundle    a git bundle holding base_commit   (or: repo/ as plain files)
      problem.md     the issue text
      test.patch     the hidden tests, a git-format unified diff
      gold.patch     the reference fix, a git-format unified diff

A task whose repository cannot be found still loads: :attr:`SWETask.repo_error` says why, and
the runner reports that instance as an error while the others run.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestra.errors import UsageError
from orchestra.text_files import read_user_text

__all__ = [
    "SWETask",
    "load_instances",
    "load_task_dir",
    "load_tasks",
    "parse_test_list",
    "repo_dir_name",
]


@dataclass(frozen=True)
class SWETask:
    """One task, whatever file it came from.

    Attributes:
        instance_id: SWE-bench's id, e.g. ``"owner__name-123"``.
        repo: ``"owner/name"``.
        base_commit: the commit the patches apply to (for ``repo/`` plain files, the commit the
            runner makes of them; see :func:`orchestra.benchmarks.swe.snapshot`).
        problem_statement: the issue text.
        patch: the gold patch (git-format unified diff; ``""`` when unknown).
        test_patch: the hidden tests (git-format unified diff).
        FAIL_TO_PASS: pytest node ids that fail before the fix and must pass after it.
        PASS_TO_PASS: pytest node ids that pass before and must still pass.
        version: the repository's version string.
        repo_path: a plain-files tree, a git bundle, or a clone to check the task out from.
        repo_error: why there is no repository (then ``repo_path`` is None).
    """

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    patch: str
    test_patch: str
    FAIL_TO_PASS: tuple[str, ...]
    PASS_TO_PASS: tuple[str, ...]
    version: str = ""
    repo_path: Path | None = None
    repo_error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def repo_kind(self) -> str:
        """``files`` (plain tree), ``bundle``, ``clone``, or ``missing``."""
        if self.repo_path is None:
            return "missing"
        if self.repo_path.is_file():
            return "bundle"
        return "clone" if (self.repo_path / ".git").exists() else "files"


def repo_dir_name(repo: str) -> str:
    """SWE-bench's directory name of a repository: ``"owner/name"`` -> ``"owner__name"``."""
    return repo.replace("/", "__")


def parse_test_list(value: Any, *, key: str, where: str) -> tuple[str, ...]:
    """A FAIL_TO_PASS / PASS_TO_PASS value as a tuple of node ids.

    Accepts a list of strings or a JSON-encoded string of one (SWE-bench on the Hub stores the
    lists as strings, ``'["tests/test_a.py::test_x"]'``).

    Raises:
        UsageError: neither form, or an element that is not a string.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: {key} is a string but not JSON: {exc.msg}") from exc
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: {key} must be a list of test ids (or a JSON string of one)")
    return tuple(value)


def _required(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where}: missing or empty {key!r}")
    return value


def load_task_dir(path: Path) -> SWETask:
    """One task directory (the layout in the module docstring).

    Raises:
        UsageError: a missing file or field, or a bad TOML.
    """
    where = str(path)
    try:
        meta = tomllib.loads(read_user_text(path / "task.toml"))
    except FileNotFoundError as exc:
        raise UsageError(f"{where}: no task.toml") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}/task.toml: {exc}") from exc
    texts = {}
    for name in ("problem.md", "test.patch", "gold.patch"):
        try:
            texts[name] = (path / name).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise UsageError(f"{where}: no {name}") from exc
    bundle, files = path / "repo.bundle", path / "repo"
    repo_path = bundle if bundle.is_file() else files if files.is_dir() else None
    return SWETask(
        instance_id=_required(meta, "instance_id", where),
        repo=_required(meta, "repo", where),
        base_commit=_required(meta, "base_commit", where),
        problem_statement=texts["problem.md"],
        patch=texts["gold.patch"],
        test_patch=texts["test.patch"],
        FAIL_TO_PASS=parse_test_list(meta.get("FAIL_TO_PASS", []), key="FAIL_TO_PASS", where=where),
        PASS_TO_PASS=parse_test_list(meta.get("PASS_TO_PASS", []), key="PASS_TO_PASS", where=where),
        version=str(meta.get("version", "")),
        repo_path=repo_path,
        repo_error=None if repo_path else f"{where}: neither repo.bundle nor repo/",
    )


def _instance(data: Any, where: str, repos: Path | None) -> SWETask:
    if not isinstance(data, dict):
        raise UsageError(f"{where}: an instance must be a JSON object")
    iid = _required(data, "instance_id", where)
    where = f"{where} ({iid})"
    repo = _required(data, "repo", where)
    repo_path: Path | None = None
    error: str | None = None
    if repos is None:
        error = f"no repository for {repo}: pass --repos DIR holding {repo_dir_name(repo)}"
    else:
        for candidate in (repos / repo_dir_name(repo), repos / f"{repo_dir_name(repo)}.bundle"):
            if candidate.exists():
                repo_path = candidate
                break
        else:
            error = f"no repository for {repo}: neither {repos / repo_dir_name(repo)} nor its .bundle"
    known = {"instance_id", "repo", "base_commit", "problem_statement", "patch", "test_patch", "version"}
    return SWETask(
        instance_id=iid,
        repo=repo,
        base_commit=_required(data, "base_commit", where),
        problem_statement=str(data.get("problem_statement", "")),
        patch=str(data.get("patch") or ""),
        test_patch=str(data.get("test_patch") or ""),
        FAIL_TO_PASS=parse_test_list(data.get("FAIL_TO_PASS", []), key="FAIL_TO_PASS", where=where),
        PASS_TO_PASS=parse_test_list(data.get("PASS_TO_PASS", []), key="PASS_TO_PASS", where=where),
        version=str(data.get("version", "")),
        repo_path=repo_path,
        repo_error=error,
        extra={k: v for k, v in data.items() if k not in known and k not in ("FAIL_TO_PASS", "PASS_TO_PASS")},
    )


def read_json_records(path: Path) -> list[Any]:
    """The records of a JSON file (one object or a list) or a JSONL file (one object a line).

    Raises:
        UsageError: the file is missing or a line does not parse (the message names the line).
    """
    try:
        text = read_user_text(path)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from exc
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not JSON: {exc.msg} (line {exc.lineno})") from exc
        return list(records)
    out: list[Any] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if n == 1 and stripped.startswith("{"):
                try:  # one pretty-printed object
                    return [json.loads(text)]
                except json.JSONDecodeError:
                    pass
            raise UsageError(f"{path}:{n}: not JSON: {exc.msg}") from exc
    return out


def load_instances(path: Path, repos: Path | None = None) -> list[SWETask]:
    """SWE-bench instances from a JSON or JSONL file.

    Raises:
        UsageError: a record that is not an instance, or duplicate instance ids.
    """
    tasks = [_instance(r, f"{path}:{i + 1}", repos) for i, r in enumerate(read_json_records(path))]
    _check_unique(tasks, str(path))
    return tasks


def _check_unique(tasks: Iterable[SWETask], where: str) -> None:
    seen: set[str] = set()
    for task in tasks:
        if task.instance_id in seen:
            raise UsageError(f"{where}: instance id {task.instance_id!r} appears twice")
        seen.add(task.instance_id)


def load_tasks(path: str | Path, repos: str | Path | None = None) -> list[SWETask]:
    """Tasks from a directory of task directories, one task directory, or a JSON/JSONL file.

    Args:
        path: what ``--tasks`` names.
        repos: ``--repos``, the folder of clones (``owner__name``) for SWE-bench instances.

    Raises:
        UsageError: the path does not exist or holds no tasks.
    """
    path = Path(path)
    repo_root = Path(repos) if repos is not None else None
    if repo_root is not None and not repo_root.is_dir():
        raise UsageError(f"--repos {repo_root}: not a directory")
    if path.is_file():
        instances = load_instances(path, repo_root)
        if not instances:
            raise UsageError(f"--tasks {path}: no tasks (the file is empty)")
        return instances
    if not path.is_dir():
        raise UsageError(f"--tasks {path}: no such file or directory")
    if (path / "task.toml").is_file():
        return [load_task_dir(path)]
    tasks = [load_task_dir(p) for p in sorted(path.iterdir()) if (p / "task.toml").is_file()]
    if not tasks:
        raise UsageError(f"--tasks {path}: no task directories (with a task.toml) inside")
    _check_unique(tasks, str(path))
    return tasks
