"""BFCL v4 data: the questions and possible answers of the single-turn categories.

The Berkeley Function Calling Leaderboard ships its data inside the ``bfcl-eval`` wheel
(``bfcl_eval/data/BFCL_v4_<category>.json`` and ``bfcl_eval/data/possible_answer/``, one JSON
object per line, Apache-2.0). The package itself pulls in torch and CUDA, so orchestra never
installs it: it reads the files straight out of the wheel's zip. Where the data comes from, in
order:

1. ``source`` given by the user (``--data``): a directory holding the ``BFCL_v4_*.json`` files
   (and ``possible_answer/``), a directory holding ``bfcl_eval/data/``, or the wheel itself;
2. the project's read-only copy at ``../shared/data/bfcl/`` (relative to the working directory or
   the repository root), when present;
3. the wheel in the cache, ``$ORCHESTRA_CACHE/bfcl/`` (default ``~/.cache/orchestra/bfcl/``),
   fetched once with ``pip download --no-deps bfcl-eval==2026.3.23``.

Every failure is a :class:`~orchestra.errors.UsageError`; offline, it names both ways out
(``--data DIR`` and the ``pip download`` command).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from orchestra.errors import UsageError
from orchestra.text_files import json_lines, read_user_text, user_text

__all__ = [
    "BFCL_VERSION",
    "CATEGORIES",
    "PIP_COMMAND",
    "Category",
    "DataSource",
    "Fetcher",
    "Item",
    "cache_dir",
    "load_category",
    "open_source",
    "parse_categories",
    "pip_fetch",
]

BFCL_VERSION = "2026.3.23"
"""The ``bfcl-eval`` release whose data orchestra reads (pinned: reproducible scores)."""

PIP_COMMAND = f"pip download --no-deps bfcl-eval=={BFCL_VERSION}"
"""How the wheel is fetched (into the cache directory, with ``-d``)."""

Language = Literal["python", "java", "javascript"]
Kind = Literal["ast", "irrelevance", "relevance"]


@dataclass(frozen=True, slots=True)
class Category:
    """One single-turn BFCL category.

    Attributes:
        name: e.g. ``parallel_multiple``.
        language: the type rules its checker applies (``python``, ``java``, ``javascript``).
        kind: ``ast`` (calls matched against possible answers), ``irrelevance`` (no call may be
            made) or ``relevance`` (at least one call must be made).
    """

    name: str
    language: Language = "python"
    kind: Kind = "ast"

    @property
    def parallel(self) -> bool:
        """Calls are matched in any order (BFCL: ``"parallel" in category``)."""
        return "parallel" in self.name


CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in (
        Category("simple_python"),
        Category("multiple"),
        Category("parallel"),
        Category("parallel_multiple"),
        Category("irrelevance", kind="irrelevance"),
        Category("live_simple"),
        Category("live_multiple"),
        Category("live_parallel"),
        Category("live_parallel_multiple"),
        Category("live_irrelevance", kind="irrelevance"),
        Category("live_relevance", kind="relevance"),
        Category("simple_java", language="java"),
        Category("simple_javascript", language="javascript"),
    )
}
"""The single-turn categories orchestra runs and scores, by name."""


@dataclass(frozen=True)
class Item:
    """One BFCL test item.

    Attributes:
        id: e.g. ``parallel_0`` or ``live_simple_3-2-1``.
        category: its category.
        question: the conversation, as BFCL stores it: a list of turns, each a list of
            ``{"role", "content"}`` messages (single-turn items have one turn).
        functions: the function documents offered (BFCL's JSON: ``name``, ``description``,
            ``parameters`` with BFCL types such as ``dict``, ``float``, ``tuple``, ``any``).
        ground_truth: the possible answers, ``[{name: {param: [acceptable values]}}]`` in call
            order (``""`` among the values: the parameter may be omitted); None for irrelevance
            and relevance items.
    """

    id: str
    category: Category
    question: list[list[dict[str, Any]]]
    functions: list[dict[str, Any]]
    ground_truth: list[dict[str, dict[str, list[Any]]]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages of the first (single-turn: only) turn."""
        return list(self.question[0]) if self.question else []

    @property
    def prompt(self) -> str:
        """The last user message of the first turn (what the question asks)."""
        users = [m.get("content") or "" for m in self.messages if m.get("role") == "user"]
        return str(users[-1]) if users else ""

    def function(self, name: str) -> dict[str, Any] | None:
        """The function document called ``name`` (BFCL's name, dots and all), if offered."""
        return next((f for f in self.functions if f.get("name") == name), None)


class DataSource:
    """The BFCL data files, in a directory or inside the wheel's zip.

    Args:
        root: a directory of ``BFCL_v4_*.json`` files, or a wheel/zip file.
        prefix: the folder of the files inside ``root`` (``bfcl_eval/data/`` for a wheel).
    """

    def __init__(self, root: Path, prefix: str = "") -> None:
        self.root = root
        self.prefix = prefix

    def __str__(self) -> str:
        return f"{self.root}{'!' + self.prefix if self.root.is_file() else ''}"

    def read(self, relative: str) -> str | None:
        """The text of ``relative`` (e.g. ``possible_answer/BFCL_v4_parallel.json``), None if absent."""
        name = self.prefix + relative
        if self.root.is_file():
            try:
                with zipfile.ZipFile(self.root) as archive:
                    return user_text(archive.read(name), f"{self.root}:{name}")
            except KeyError:
                return None
            except (zipfile.BadZipFile, OSError) as exc:
                raise UsageError(f"BFCL data {self.root}: not a readable wheel ({exc})") from exc
        path = self.root / name
        try:
            return read_user_text(path) if path.is_file() else None
        except OSError as exc:
            raise UsageError(f"BFCL data {path}: {exc.strerror or exc}") from exc


Fetcher = Callable[[Path], Path]
"""Fetches the wheel into a directory and returns its path; raises UsageError when it cannot."""

_WHEEL = f"bfcl_eval-{BFCL_VERSION}-py3-none-any.whl"
_SHARED = Path("..") / "shared" / "data" / "bfcl"
_REPO_ROOT = Path(__file__).resolve().parents[2]
_PROBE = "BFCL_v4_simple_python.json"


def cache_dir() -> Path:
    """Where the wheel is kept: ``$ORCHESTRA_CACHE/bfcl`` or ``~/.cache/orchestra/bfcl``."""
    root = os.environ.get("ORCHESTRA_CACHE") or Path.home() / ".cache" / "orchestra"
    return Path(root) / "bfcl"


def _offline_message(reason: str) -> str:
    return (
        f"BFCL data not found and the download failed ({reason}). Either point --data at a copy "
        f"(a folder of BFCL_v4_*.json files, or the bfcl-eval wheel), or fetch the wheel once with "
        f"`{PIP_COMMAND} -d {cache_dir()}`"
    )


def pip_fetch(target: Path) -> Path:
    """Download the pinned wheel with pip (no dependencies) into ``target``.

    Raises:
        UsageError: pip failed (offline, no index): the message names ``--data`` and the command.
    """
    target.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", f"bfcl-eval=={BFCL_VERSION}"]
    try:
        done = subprocess.run(
            [*command, "-d", str(target), "--quiet"], capture_output=True, text=True, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(_offline_message(str(exc))) from exc
    wheel = target / _WHEEL
    if done.returncode != 0 or not wheel.is_file():
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise UsageError(_offline_message(last))
    return wheel


def _in_directory(folder: Path) -> DataSource | None:
    if (folder / _PROBE).is_file():
        return DataSource(folder)
    if (folder / "bfcl_eval" / "data" / _PROBE).is_file():
        return DataSource(folder, "bfcl_eval/data/")
    wheels = sorted(folder.glob("bfcl_eval-*.whl"))
    return DataSource(wheels[-1], "bfcl_eval/data/") if wheels else None


def _shared() -> DataSource | None:
    for base in (Path.cwd(), _REPO_ROOT):
        folder = (base / _SHARED).resolve()
        if folder.is_dir():
            found = _in_directory(folder)
            if found is not None:
                return found
    return None


def open_source(
    source: str | Path | None = None, *, fetch: Fetcher | None = pip_fetch, shared: bool = True
) -> DataSource:
    """Find the BFCL data (see the module docstring for the order).

    Args:
        source: ``--data``: a folder of the files, a folder holding ``bfcl_eval/data/``, or the
            wheel. None: the shared copy, else the cached wheel, else ``fetch``.
        fetch: downloads the wheel into the cache (None: never download).
        shared: look for the project's shared copy (tests of the other paths turn it off).

    Raises:
        UsageError: ``source`` holds no BFCL data, or nothing is found and the download failed.
    """
    if source is not None:
        path = Path(source).expanduser()
        if path.is_file():
            return DataSource(path, "bfcl_eval/data/")
        found = _in_directory(path) if path.is_dir() else None
        if found is None:
            raise UsageError(
                f"--data {source}: no BFCL data there (expected {_PROBE}, bfcl_eval/data/ or a bfcl-eval wheel)"
            )
        return found
    found = _shared() if shared else None
    if found is not None:
        return found
    wheel = cache_dir() / _WHEEL
    if wheel.is_file():
        return DataSource(wheel, "bfcl_eval/data/")
    if fetch is None:
        raise UsageError(_offline_message("downloads are off"))
    return DataSource(fetch(cache_dir()), "bfcl_eval/data/")


def parse_categories(text: str | Sequence[str]) -> list[Category]:
    """``"parallel,multiple"`` (or ``all``) → the categories, validated.

    Raises:
        UsageError: empty, or an unknown category.
    """
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if names == ["all"]:
        return list(CATEGORIES.values())
    unknown = [n for n in names if n not in CATEGORIES]
    if not names or unknown:
        raise UsageError(
            f"unknown BFCL category {', '.join(unknown) or '(none given)'}; choose from: {', '.join(CATEGORIES)}"
        )
    return [CATEGORIES[n] for n in dict.fromkeys(names)]


def _jsonl(text: str, where: str) -> list[dict[str, Any]]:
    rows = []
    for number, row in json_lines(text, f"BFCL data {where}"):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise UsageError(f"BFCL data {where}, line {number}: expected an object with an 'id'")
        rows.append(row)
    return rows


def _answers(source: DataSource, category: Category) -> Mapping[str, Any]:
    if category.kind != "ast":
        return {}
    relative = f"possible_answer/BFCL_v4_{category.name}.json"
    text = source.read(relative)
    if text is None:
        raise UsageError(f"BFCL data {source}: {relative} is missing")
    return {row["id"]: row.get("ground_truth") for row in _jsonl(text, relative)}


def load_category(
    category: Category | str,
    source: DataSource | str | Path | None = None,
    *,
    limit: int | None = None,
    ids: Sequence[str] | None = None,
    fetch: Fetcher | None = pip_fetch,
) -> list[Item]:
    """The items of one category, in file order, with their possible answers.

    Args:
        category: a :class:`Category` or its name.
        source: an opened :class:`DataSource`, or what :func:`open_source` takes.
        limit: keep the first ``limit`` items (after ``ids``).
        ids: keep only these ids.
        fetch: see :func:`open_source`.

    Raises:
        UsageError: unknown category, no data, a missing or broken file, an item without answer.
    """
    if isinstance(category, str):
        category = parse_categories([category])[0]
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be >= 1, got {limit}")
    data = source if isinstance(source, DataSource) else open_source(source, fetch=fetch)
    relative = f"BFCL_v4_{category.name}.json"
    text = data.read(relative)
    if text is None:
        raise UsageError(f"BFCL data {data}: {relative} is missing")
    answers = _answers(data, category)
    wanted = set(ids) if ids is not None else None
    items = []
    for row in _jsonl(text, relative):
        if wanted is not None and row["id"] not in wanted:
            continue
        if category.kind == "ast" and row["id"] not in answers:
            raise UsageError(f"BFCL data {data}: no possible answer for {row['id']}")
        extra = {k: v for k, v in row.items() if k not in ("id", "question", "function")}
        items.append(
            Item(
                id=row["id"],
                category=category,
                question=row.get("question") or [],
                functions=row.get("function") or [],
                ground_truth=answers.get(row["id"]) if category.kind == "ast" else None,
                extra=extra,
            )
        )
    return items[:limit] if limit is not None else items
