"""``search``: Okapi BM25 over a local corpus, with optional simulated latency.

LLMCompiler's benchmarks call a Wikipedia search API whose latency dominates the run time; to
reproduce its speedups offline and deterministically, orchestra searches a local corpus (a
directory of ``.txt``/``.md`` files, a JSONL of ``{"id", "title", "text"}``, or a list of dicts)
and can add a fixed ``latency`` per call. The index (:class:`BM25Index`) is a pure class with no
I/O; :func:`make_search` is the thin async tool around it.

BM25 follows Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond"
(2009), with Lucene's non-negative IDF ``log(1 + (N - df + 0.5) / (df + 0.5))``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
from pydantic import Field

from orchestra._tool import Tool
from orchestra.errors import UsageError
from orchestra.text_files import json_lines, read_user_text

__all__ = ["BM25Index", "Document", "load_corpus", "make_search", "snippet", "tokenize"]

# Letters and digits of any script; underscores and punctuation split tokens.
_TOKEN_RE = re.compile(r"[^\W_]+")
_DOC_SUFFIXES = (".txt", ".md")
_SNIPPET_CHARS = 320


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into runs of letters and digits."""
    return _TOKEN_RE.findall(text.lower())


@dataclass(frozen=True)
class Document:
    """One searchable document.

    Attributes:
        id: a stable identifier (file path relative to the corpus root, or the JSONL ``id``).
        title: a short title; indexed together with the text.
        text: the body.
    """

    id: str
    title: str
    text: str


class BM25Index:
    """An in-memory Okapi BM25 index (pure: no I/O, deterministic ranking).

    Args:
        documents: the corpus.
        k1: term-frequency saturation (1.2-2.0 is usual).
        b: length normalisation, 0 (none) to 1 (full).
    """

    def __init__(self, documents: Iterable[Document], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.documents: list[Document] = list(documents)
        self.k1 = k1
        self.b = b
        self._postings: dict[str, list[tuple[int, int]]] = {}
        self._lengths: list[int] = []
        for index, doc in enumerate(self.documents):
            counts = Counter(tokenize(f"{doc.title}\n{doc.text}"))
            self._lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                self._postings.setdefault(term, []).append((index, tf))
        total = sum(self._lengths)
        self._avg_length = total / len(self._lengths) if total else 1.0
        n = len(self.documents)
        self._idf = {
            term: math.log(1.0 + (n - len(posts) + 0.5) / (len(posts) + 0.5))
            for term, posts in self._postings.items()
        }

    def __len__(self) -> int:
        return len(self.documents)

    def scores(self, query: str) -> dict[int, float]:
        """BM25 score of every document sharing at least one term with ``query``, by index."""
        scores: dict[int, float] = {}
        for term in set(tokenize(query)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for index, tf in self._postings[term]:
                norm = 1.0 - self.b + self.b * self._lengths[index] / self._avg_length
                scores[index] = scores.get(index, 0.0) + idf * tf * (self.k1 + 1.0) / (tf + self.k1 * norm)
        return scores

    def search(self, query: str, k: int = 5) -> list[tuple[Document, float]]:
        """The ``k`` best documents for ``query``, best first; ties keep corpus order."""
        ranked = sorted(self.scores(query).items(), key=lambda item: (-item[1], item[0]))
        return [(self.documents[index], score) for index, score in ranked[: max(k, 0)]]


def snippet(text: str, query: str, width: int = _SNIPPET_CHARS) -> str:
    """A window of ``text`` around the first query term it contains (or its start)."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    lowered = flat.lower()
    positions = [p for term in set(tokenize(query)) if (p := lowered.find(term)) >= 0]
    start = max(0, min(positions) - width // 4) if positions else 0
    start = min(start, len(flat) - width)
    piece = flat[start : start + width]
    return ("..." if start > 0 else "") + piece + ("..." if start + width < len(flat) else "")


def load_corpus(source: str | Path | Iterable[Mapping[str, Any] | Document]) -> list[Document]:
    """Load documents from a directory, a JSONL file, or an iterable of dicts / Documents.

    A directory contributes every ``.txt``/``.md`` file below it (id = relative path, title = the
    first line when it is a Markdown heading, else the file name without suffix). A JSONL file has one ``{"id", "title", "text"}`` object per
    line (``id`` defaults to the line number, ``title`` to empty). A single ``.txt``/``.md`` file
    contributes each of its blank-line-separated passages (id = ``FILE:N``).

    Raises:
        UsageError: the path does not exist or holds no document, a line is not a JSON object, a
            document has no text.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            return _some(_load_directory(path), f"search corpus {path} has no .txt or .md files")
        if path.is_file() and path.suffix.lower() in _TEXT_SUFFIXES:
            return _load_passages(path)
        if path.is_file():
            return _some(_load_jsonl(path), f"search corpus {path} is empty")
        if not path.exists():
            raise UsageError(f"search corpus not found: {path}")
        raise UsageError(f"search corpus {str(path)!r} is neither a directory nor a file")
    return [
        item if isinstance(item, Document) else _document(item, f"item {i}") for i, item in enumerate(source)
    ]


def _some(documents: list[Document], message: str) -> list[Document]:
    """``documents``, or a usage error: a search over nothing would answer every query with nothing."""
    if not documents:
        raise UsageError(message)
    return documents


def _document(record: Mapping[str, Any], where: str, default_id: str | None = None) -> Document:
    if not isinstance(record, Mapping):
        raise UsageError(
            f"search corpus {where}: expected an object with 'text', got {type(record).__name__}"
        )
    text = record.get("text")
    if not isinstance(text, str):
        raise UsageError(f"search corpus {where}: missing string field 'text'")
    doc_id = record.get("id", default_id if default_id is not None else where)
    return Document(id=str(doc_id), title=str(record.get("title") or ""), text=text)


def _load_jsonl(path: Path) -> list[Document]:
    documents = []
    for number, record in json_lines(read_user_text(path), f"search corpus {path.name}"):
        documents.append(_document(record, f"{path.name}:{number}", default_id=str(number)))
    return documents


_TEXT_SUFFIXES = (".txt", ".md")


def _load_passages(path: Path) -> list[Document]:
    text = read_user_text(path, errors="replace")
    passages = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if not passages:
        raise UsageError(f"search corpus {str(path)!r} has no text")
    return [Document(id=f"{path.name}:{i}", title=path.stem, text=p) for i, p in enumerate(passages, 1)]


def _load_directory(root: Path) -> list[Document]:
    documents = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _DOC_SUFFIXES):
        text = read_user_text(path, errors="replace")
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        title = first.lstrip("#").strip() if first.startswith("#") else ""
        documents.append(Document(id=path.relative_to(root).as_posix(), title=title or path.stem, text=text))
    return documents


def make_search(
    corpus: str | Path | Iterable[Mapping[str, Any] | Document] | BM25Index,
    *,
    latency: float = 0.0,
    k: int = 5,
    name: str = "search",
    description: str | None = None,
    concurrency: int | None = None,
) -> Tool:
    """Build a BM25 search tool over ``corpus``.

    Args:
        corpus: a directory, a JSONL path, documents, or a ready :class:`BM25Index`.
        latency: seconds every call waits before answering, to simulate a remote search API
            (LLMCompiler's Wikipedia tool) in benchmarks; 0 for none.
        k: default number of hits.
        name: the tool name, to have several corpora side by side.
        description: overrides the default description.
        concurrency: per-tool concurrency limit, as for any tool.

    Raises:
        UsageError: a negative latency, ``k`` outside 1..100, or a corpus that does not load.
    """
    if latency < 0 or not 1 <= k <= 100:
        raise UsageError(
            f"search tool: latency must be >= 0 and 1 <= k <= 100 (got latency={latency}, k={k})"
        )
    index = corpus if isinstance(corpus, BM25Index) else BM25Index(load_corpus(corpus))
    default_k = k

    async def search(query: str, k: Annotated[int, Field(ge=1, le=100)] = default_k) -> list[dict[str, Any]]:
        """Search the document collection; returns the best matches with id, title, snippet and score.

        Args:
            query: keywords to look for.
            k: how many results to return.
        """
        if latency:
            await anyio.sleep(latency)
        return [
            {"id": doc.id, "title": doc.title, "snippet": snippet(doc.text, query), "score": round(score, 4)}
            for doc, score in index.search(query, k)
        ]

    return Tool.from_function(search, name=name, description=description, concurrency=concurrency)
