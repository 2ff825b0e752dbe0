"""LLMCompiler's three benchmark datasets: ParallelQA, HotpotQA comparison, Movie Recommendation.

The files are JSON lists of ``{id, question, answer[, branch]}`` from the ``datasets/`` folder of
the LLMCompiler repository (SqueezeAILab/LLMCompiler, MIT; HotpotQA is CC BY-SA). Where they come
from, in order of preference:

1. ``source`` given by the user: a directory holding the files, one file, or an ``http(s)://``
   URL of a file or of a folder (ending in ``/``) — for users' own copies or mirrors;
2. the project's read-only copy at ``../shared/data/llmcompiler/`` (relative to the working
   directory or to the repository root), when present;
3. otherwise a download of the raw files from GitHub at the pinned commit
   :data:`LLMCOMPILER_COMMIT` (:data:`DEFAULT_BASE_URL`), cached in
   ``$ORCHESTRA_CACHE/llmcompiler`` (default ``~/.cache/orchestra/llmcompiler``).

Every failure is a :class:`~orchestra.errors.UsageError` naming the source and what was wrong,
so the CLI prints one line instead of a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx2

from orchestra.errors import UsageError
from orchestra.text_files import BOM, user_text

__all__ = [
    "DATASET_FILES",
    "DEFAULT_BASE_URL",
    "LLMCOMPILER_COMMIT",
    "DatasetName",
    "Question",
    "cache_dir",
    "default_source",
    "load_questions",
    "parse_questions",
]

DatasetName = Literal["movie", "hotpotqa", "parallelqa"]

DATASET_FILES: dict[str, str] = {
    "movie": "movie_recommendations_formatted.json",
    "hotpotqa": "hotpotqa_comparison.json",
    "parallelqa": "parallelqa_dataset.json",
}
"""File name of each dataset inside LLMCompiler's ``datasets/`` folder."""

LLMCOMPILER_COMMIT = "a00c9d35507507da70e8c637eee64efc8c1857ae"
"""The commit of SqueezeAILab/LLMCompiler the shared copy was taken from (pinned: reproducible)."""

DEFAULT_BASE_URL = (
    f"https://raw.githubusercontent.com/SqueezeAILab/LLMCompiler/{LLMCOMPILER_COMMIT}/datasets/"
)
"""Where the files are downloaded from when no local copy exists."""

_SHARED = Path("..") / "shared" / "data" / "llmcompiler"
_REPO_ROOT = Path(__file__).resolve().parents[2]
_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Question:
    """One benchmark question.

    Attributes:
        id: the dataset's id (a string in every file).
        question: the question text.
        answer: the reference answer.
        branch: ParallelQA's number of independent branches (None elsewhere).
    """

    id: str
    question: str
    answer: str
    branch: int | None = None


def _check_name(name: str) -> str:
    if name not in DATASET_FILES:
        raise UsageError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASET_FILES)}")
    return DATASET_FILES[name]


def cache_dir() -> Path:
    """Where downloaded files are kept: ``$ORCHESTRA_CACHE/llmcompiler`` or ``~/.cache/orchestra/llmcompiler``."""
    root = os.environ.get("ORCHESTRA_CACHE") or Path.home() / ".cache" / "orchestra"
    return Path(root) / "llmcompiler"


def default_source() -> Path | None:
    """The project's shared copy (``../shared/data/llmcompiler``), if one is present."""
    for base in (Path.cwd(), _REPO_ROOT):
        folder = (base / _SHARED).resolve()
        if folder.is_dir():
            return folder
    return None


def parse_questions(raw: bytes | str, where: str) -> list[Question]:
    """Parse a dataset file's JSON list.

    Raises:
        UsageError: not JSON, not a list, or an entry lacking ``question``/``answer``.
    """
    try:
        data = json.loads(
            user_text(raw, f"dataset {where}") if isinstance(raw, bytes) else raw.removeprefix(BOM)
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"dataset {where}: not valid JSON ({exc})") from exc
    if not isinstance(data, list):
        raise UsageError(f"dataset {where}: expected a JSON list of questions, got {type(data).__name__}")
    return [_question(item, i, where) for i, item in enumerate(data)]


def _question(item: Any, index: int, where: str) -> Question:
    if not isinstance(item, dict) or not isinstance(item.get("question"), str) or "answer" not in item:
        raise UsageError(f"dataset {where}: entry {index} needs string 'question' and an 'answer'")
    branch = item.get("branch")
    return Question(
        id=str(item.get("id", index)),
        question=item["question"].strip(),
        answer=str(item["answer"]),
        branch=int(branch) if isinstance(branch, int | str) and str(branch).isdigit() else None,
    )


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _file_url(source: str, file_name: str) -> str:
    return source + file_name if source.endswith("/") else source


async def _download(url: str, transport: httpx2.AsyncBaseTransport | None) -> bytes:
    try:
        async with httpx2.AsyncClient(transport=transport, timeout=_TIMEOUT, follow_redirects=True) as client:
            response = await client.get(url)
    except httpx2.HTTPError as exc:
        raise UsageError(f"dataset URL {url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise UsageError(f"dataset URL {url}: HTTP {response.status_code}")
    return response.content


def _read_path(source: Path, file_name: str) -> tuple[bytes, str]:
    path = source / file_name if source.is_dir() else source
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        hint = f" (a directory must hold {file_name})" if source.is_dir() else ""
        raise UsageError(f"dataset {path}: {exc.strerror or exc}{hint}") from exc


async def _raw(
    name: str, source: str | Path | None, transport: httpx2.AsyncBaseTransport | None
) -> tuple[bytes, str]:
    file_name = _check_name(name)
    if source is not None and _is_url(str(source)):
        url = _file_url(str(source), file_name)
        return await _download(url, transport), url
    if source is not None:
        return _read_path(Path(source), file_name)
    local = default_source()
    if local is not None:
        return _read_path(local, file_name)
    cached = cache_dir() / file_name
    if not cached.is_file():
        data = await _download(DEFAULT_BASE_URL + file_name, transport)
        parse_questions(data, DEFAULT_BASE_URL + file_name)  # never cache a broken download
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(cached)
    return cached.read_bytes(), str(cached)


async def load_questions(
    name: str,
    source: str | Path | None = None,
    *,
    limit: int | None = None,
    ids: Sequence[str] | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> list[Question]:
    """Load one of LLMCompiler's datasets.

    Args:
        name: ``movie``, ``hotpotqa`` or ``parallelqa``.
        source: a directory, a file, or an ``http(s)://`` URL (of the file, or of a folder ending
            in ``/``); None for the shared copy or, failing that, the pinned GitHub download.
        limit: keep the first ``limit`` questions (in file order).
        ids: keep only these ids (before ``limit``).
        transport: an httpx2 transport for URL sources (tests).

    Returns:
        The questions, in file order.

    Raises:
        UsageError: unknown dataset, missing file, unreachable URL, invalid content, bad limit.
    """
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be >= 1, got {limit}")
    raw, where = await _raw(name, source, transport)
    questions = parse_questions(raw, where)
    if ids is not None:
        wanted = set(ids)
        questions = [q for q in questions if q.id in wanted]
    if not questions:
        raise UsageError(f"dataset {where}: no questions")
    return questions[:limit] if limit is not None else questions
