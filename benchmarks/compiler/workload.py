"""Workloads: for each question, the tool-call DAG an ideal model would plan, and its search corpus.

The shapes follow LLMCompiler's own few-shot plans (``configs/*/gpt_prompts.py`` of
SqueezeAILab/LLMCompiler):

- **Movie Recommendation**: 8 independent searches — the 4 movies of the question and the 4 options;
- **HotpotQA comparison**: 2 independent searches, one per compared entity;
- **ParallelQA**: ``branch`` (2–5) branches of ``search(entity)`` → ``math(..., [$k])``, then one
  ``math`` that combines the branches (a 3-deep DAG).

Every entity gets one document in a small local corpus (a deterministic "measured value" for
ParallelQA's arithmetic), so the real BM25 :func:`tools.make_search` answers the searches. The
``math`` tool stands in for LLMCompiler's LLM-backed math tool: it evaluates an arithmetic
expression with the safe :func:`tools.evaluate`, after replacing ``{0}``, ``{1}``… by the value
stated in the corresponding ``context`` item (a search result), so a plan can be written before
the numbers are known, as the compiler's planner must.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from orchestra._tool import Tool
from orchestra.benchmarks.compiler.datasets import Question
from orchestra.errors import ToolError, UsageError
from orchestra.tools import Document, evaluate, make_search

__all__ = [
    "Step",
    "Workload",
    "build_corpus",
    "build_workload",
    "build_workloads",
    "capitalized_phrases",
    "make_math",
    "make_tools",
    "movie_entities",
]

_QUESTION_WORDS = {
    "a", "after", "an", "are", "before", "between", "both", "by", "considering", "determine", "did", "do", "does", "factoring", "find", "for",
    "given", "how", "if", "in", "is", "of", "the", "was", "were", "what", "when", "where", "which",
    "who", "whose", "with",
}  # fmt: skip
_CONNECTORS = {"of", "the", "v.", "de", "da", "von", "van", "-", "&", "la", "le", "del"}
_VALUE_RE = re.compile(r"measured value is (-?\d+(?:\.\d+)?)")
_PLACEHOLDER_RE = re.compile(r"\{(\d+)\}")
_PERCENT_RE = re.compile(r"(\d+(?:\.\d+)?)\s*%")


@dataclass(frozen=True, slots=True)
class Step:
    """One tool call of the ideal plan.

    Attributes:
        id: 1-based task number, as the planner writes it.
        tool: ``search`` or ``math``.
        args: the compiler's arguments, with ``$k`` references where a result is needed.
        deps: the steps this one reads.
        concrete: the arguments a turn-by-turn model writes after seeing the results (no references).
    """

    id: int
    tool: str
    args: tuple[Any, ...]
    deps: tuple[int, ...] = ()
    concrete: tuple[Any, ...] = ()

    def call(self, *, concrete: bool = False) -> str:
        """The call as source text: ``search("x")`` or ``math("{0} * 1.2", ["$1"])``."""
        args = self.concrete if concrete else self.args
        return f"{self.tool}({', '.join(_literal(a) for a in args)})"

    def arguments(self, *, concrete: bool = True) -> dict[str, Any]:
        """The arguments by parameter name (native function calling)."""
        names = ("query",) if self.tool == "search" else ("expression", "context")
        values = self.concrete if concrete else self.args
        return dict(zip(names, values, strict=False))


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


@dataclass(frozen=True)
class Workload:
    """One question with its ideal plan and the documents its searches find.

    Attributes:
        question: the dataset question.
        steps: the plan's tool calls, in the order the planner writes them.
        answer: what the ideal model answers (the dataset's answer).
        documents: one corpus document per searched entity.
    """

    question: Question
    steps: tuple[Step, ...]
    answer: str
    documents: tuple[Document, ...] = field(default=())

    @property
    def searches(self) -> list[Step]:
        """The search steps."""
        return [s for s in self.steps if s.tool == "search"]

    def levels(self) -> list[list[Step]]:
        """Steps grouped by dependency depth: what one parallel-calling turn can issue together."""
        depth: dict[int, int] = {}
        for step in self.steps:
            depth[step.id] = 1 + max((depth[d] for d in step.deps), default=-1)
        return [
            [s for s in self.steps if depth[s.id] == k] for k in range(max(depth.values(), default=-1) + 1)
        ]

    def longest_chain(self) -> int:
        """Number of tool calls on the longest dependency chain."""
        return len(self.levels())


def _entity_value(name: str) -> int:
    """A deterministic stand-in for a measured quantity (length, depth, speed ...) of ``name``."""
    digest = hashlib.sha256(name.lower().encode()).digest()
    return 100 + int.from_bytes(digest[:4], "big") % 9900


def _document(name: str, kind: str) -> Document:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "entity"
    if kind == "movie":
        text = f"{name} is a film. Viewers who liked {name} often also liked films of the same genre and era."
    elif kind == "parallelqa":
        text = f"{name}: the measured value is {_entity_value(name)}. It is often compared with others of its kind."
    else:
        text = (
            f"{name} is described in this article: origin, nationality, dates and other facts about {name}."
        )
    return Document(id=f"{kind}/{slug}", title=name, text=text)


def capitalized_phrases(text: str) -> list[str]:
    """Runs of capitalised words (``of``, ``the`` … allowed inside), question words dropped.

    The first word of the text is capitalised anyway, so alone it is not a name ("After a 10% …").
    """
    words = re.findall(r"[\w'.&-]+|[,;:?!]", text)  # punctuation ends a name
    phrases: list[str] = []
    current: list[str] = []
    start = 0
    for index, word in enumerate([*words, "."]):
        bare = word.strip(".'").removesuffix("'s")
        if bare[:1].isupper() or (bare[:1].isdigit() and current):
            start = index if not current else start
            current.append(bare)
            continue
        if current and word.lower() in _CONNECTORS:
            current.append(word)
            continue
        alone_first = start == 0 and len(current) == 1
        while current and current[-1].lower() in _CONNECTORS:
            current.pop()
        while current and current[0].lower() in _QUESTION_WORDS:
            current.pop(0)
        if current and not alone_first:
            phrases.append(" ".join(current))
        current = []
    return list(dict.fromkeys(phrases))


def _pad(entities: list[str], count: int, question: str) -> list[str]:
    """Fill up to ``count`` entities with chunks of the question (lower-case names like "cheetah")."""
    words = question.rstrip("?. ").split()
    size = max(1, len(words) // count)
    chunks = [" ".join(words[i * size : (i + 1) * size]) for i in range(count)]
    for chunk in chunks:
        if len(entities) >= count:
            break
        if chunk and chunk not in entities:
            entities.append(chunk)
    return entities[:count]


def movie_entities(question: str) -> list[str]:
    """The 4 movies of "Find a movie similar to A, B, C, D" and the 4 options below it."""
    head, _, options = question.partition("Options:")
    liked = head.split("similar to", 1)[-1].strip().rstrip("?.")
    names = [n.strip() for n in liked.split(",") if n.strip()]
    names += [line.strip() for line in options.splitlines() if line.strip()]
    return list(dict.fromkeys(names))


def _search(step_id: int, query: str) -> Step:
    return Step(step_id, "search", (query,), (), (query,))


def _movie_steps(question: Question) -> list[Step]:
    return [_search(i, name) for i, name in enumerate(movie_entities(question.question), start=1)]


def _hotpot_steps(question: Question) -> list[Step]:
    entities = _pad(capitalized_phrases(question.question)[:2], 2, question.question)
    return [_search(i, name) for i, name in enumerate(entities, start=1)]


def _parallelqa_steps(question: Question) -> list[Step]:
    branches = question.branch or 2
    entities = _pad(capitalized_phrases(question.question)[:branches], branches, question.question)
    percents = [float(p) for p in _PERCENT_RE.findall(question.question)]
    steps: list[Step] = []
    math_ids: list[int] = []
    results: list[float] = []
    for k, entity in enumerate(entities):
        factor = round(1 + percents[k] / 100, 4) if k < len(percents) else 1
        search, math_id = len(steps) + 1, len(steps) + 2
        value = _entity_value(entity)
        results.append(value * factor)
        steps.append(_search(search, entity))
        steps.append(
            Step(math_id, "math", (f"{{0}} * {factor}", [f"${search}"]), (search,), (f"{value} * {factor}",))
        )
        math_ids.append(math_id)
    # Inside text a result is written ${k}; a bare $k there is a dollar amount (orchestra.references).
    refs = ", ".join(f"${{{m}}}" for m in math_ids)
    numbers = ", ".join(_number(r) for r in results)
    steps.append(Step(len(steps) + 1, "math", (f"max({refs})",), tuple(math_ids), (f"max({numbers})",)))
    return steps


def _number(value: float) -> str:
    return repr(round(value, 6))


_SHAPES = {"movie": _movie_steps, "hotpotqa": _hotpot_steps, "parallelqa": _parallelqa_steps}


def build_workload(dataset: str, question: Question) -> Workload:
    """The ideal plan and documents for one question of ``dataset``.

    Raises:
        UsageError: an unknown dataset name.
    """
    if dataset not in _SHAPES:
        raise UsageError(f"unknown dataset {dataset!r}; choose one of: {', '.join(_SHAPES)}")
    steps = tuple(_SHAPES[dataset](question))
    documents = tuple(_document(s.args[0], dataset) for s in steps if s.tool == "search")
    return Workload(question=question, steps=steps, answer=question.answer, documents=documents)


def build_workloads(dataset: str, questions: Iterable[Question]) -> list[Workload]:
    """:func:`build_workload` for each question."""
    return [build_workload(dataset, q) for q in questions]


def build_corpus(workloads: Iterable[Workload]) -> list[Document]:
    """Every workload's documents, de-duplicated by id: the corpus all searches of a run share."""
    seen: dict[str, Document] = {}
    for workload in workloads:
        for doc in workload.documents:
            seen.setdefault(doc.id, doc)
    return list(seen.values())


def _stated_value(item: Any) -> str:
    match = _VALUE_RE.search(str(item))
    if match is None:
        raise ToolError(f"math: no measured value in context item {str(item)[:80]!r}", tool="math")
    return match.group(1)


def make_math(*, latency: float = 0.0) -> Tool:
    """The benchmark's ``math`` tool (LLMCompiler's math tool is an LLM call; this one is exact).

    Args:
        latency: seconds each call waits, like the search tool's simulated latency.
    """

    async def math(expression: str, context: list[Any] | None = None) -> float:
        """Evaluate an arithmetic expression; ``{i}`` stands for the value stated in ``context[i]``.

        Args:
            expression: e.g. ``"{0} * 1.2"`` or ``"max(3.5, 4.25)"``.
            context: earlier results (search hits) the placeholders read from.
        """
        items = list(context or [])

        def value(match: re.Match[str]) -> str:
            index = int(match.group(1))
            if index >= len(items):
                raise ToolError(
                    f"math: placeholder {{{index}}} but only {len(items)} context items", tool="math"
                )
            return _stated_value(items[index])

        if latency:
            await anyio.sleep(latency)
        result = evaluate(_PLACEHOLDER_RE.sub(value, expression))
        return float(round(result, 6))

    return Tool.from_function(math)


def make_tools(workloads: Sequence[Workload], *, latency: float = 0.0) -> list[Tool]:
    """``search`` (BM25 over the workloads' corpus, k=1) and ``math``, both with ``latency``."""
    corpus = build_corpus(workloads)
    if not corpus:
        raise UsageError("no documents to search: the workload is empty")
    return [make_search(corpus, latency=latency, k=1), make_math(latency=latency)]
