"""Build a sample bank with a real model (``orchestra bench ttc bank``).

Problems come from ``reasoning-gym`` (procedural generators with a difficulty knob and their own
scorers, offline). Each problem gets ``samples`` independent completions at ``temperature``; each
completion's answer is extracted with :func:`orchestra.ttc.extract_number` (in ``3 + 4 = 7`` the
first number is the question) and scored by the task's own ``score_answer``. Finished problems
are appended to the bank a few at a time, so a killed build resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from orchestra.chat import ChatRequest, Message
from orchestra.endpoints import Endpoint
from orchestra.errors import UsageError
from orchestra.ttc.answers import extract_number
from orchestra.ttc.bank import BankHeader, BankQuery, BankSample, append_queries, read_bank, write_header

__all__ = ["DEFAULT_TASKS", "BankSpec", "TaskSpec", "build_bank", "problems"]

SYSTEM = "You are a calculator. Reply with the result."


@dataclass(frozen=True)
class TaskSpec:
    """One reasoning-gym task at one difficulty.

    Attributes:
        name: the reasoning-gym dataset name (``chain_sum``, ``basic_arithmetic`` ...).
        count: problems to draw.
        difficulty: the label written to the bank.
        config: keyword arguments of the dataset (digits, terms, ...).
    """

    name: str
    count: int
    difficulty: str
    config: dict[str, Any] = field(default_factory=dict)


# Measured with SmolLM2-135M: 1-digit sums range from near 0 to near 1 per problem, which is the
# spread adaptive allocation needs; 2-digit sums are mostly hard.
DEFAULT_TASKS = (
    TaskSpec("chain_sum", 200, "1-digit", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}),
    TaskSpec("chain_sum", 50, "2-digit", {"min_terms": 2, "max_terms": 2, "min_digits": 2, "max_digits": 2}),
)


@dataclass(frozen=True)
class BankSpec:
    """What to generate.

    Attributes:
        tasks: the problem mix.
        samples: completions per problem.
        temperature: sampling temperature.
        max_tokens: completion bound of each sample.
        seed: seed of the problem generators.
        concurrency: requests in flight at once.
        per_request: samples per request (the OpenAI ``n``); llama.cpp serves up to its
            parallel slots in one request, twice as fast here as as many single requests.
    """

    tasks: tuple[TaskSpec, ...] = DEFAULT_TASKS
    samples: int = 32
    temperature: float = 0.8
    max_tokens: int = 24
    seed: int = 7
    concurrency: int = 2
    per_request: int = 1


Scorer = Callable[[str | None], bool]


def problems(spec: BankSpec) -> Iterator[tuple[str, str, str, str, Scorer]]:
    """``(id, question, answer, difficulty, scorer)`` for every problem of ``spec``, in a fixed order.

    Raises:
        UsageError: reasoning-gym is not installed (``pip install "orchestra-runtime[ttc]"``).
    """
    try:
        import reasoning_gym
    except ImportError as exc:
        raise UsageError('bank: needs reasoning-gym: pip install "orchestra-runtime[ttc]"') from exc
    made: list[tuple[float, int, tuple[str, str, str, str, Scorer]]] = []
    for index, task in enumerate(spec.tasks):
        data = reasoning_gym.create_dataset(task.name, size=task.count, seed=spec.seed + index, **task.config)
        for i, entry in enumerate(data):

            def score(answer: str | None, entry: dict[str, Any] = entry, data: Any = data) -> bool:
                return answer is not None and float(data.score_answer(answer, entry)) >= 1.0

            problem: tuple[str, str, str, str, Scorer] = (
                f"{task.name}-{task.difficulty}-{i}",
                entry["question"],
                str(entry["answer"]),
                task.difficulty,
                score,
            )
            made.append((i / task.count, index, problem))
    # Tasks interleaved in proportion, so a bank cut short still holds every difficulty.
    for _, _, problem in sorted(made, key=lambda m: (m[0], m[1])):
        yield problem


TokenCounter = Callable[[str], Awaitable[int]]
"""Counts a text's tokens (with n > 1, servers report usage for the first choice only)."""


def _request(question: str, spec: BankSpec, n: int) -> ChatRequest:
    messages = [Message(role="system", content=SYSTEM), Message(role="user", content=question)]
    return ChatRequest(messages=messages, max_tokens=spec.max_tokens, temperature=spec.temperature, n=n)


async def _sample_problem(
    endpoint: Endpoint,
    spec: BankSpec,
    problem: tuple[str, str, str, str, Scorer],
    slots: anyio.Semaphore,
    count_tokens: TokenCounter | None,
) -> BankQuery:
    qid, question, answer, difficulty, score = problem
    samples: list[BankSample] = []

    async def one(n: int) -> None:
        async with slots:
            response = await endpoint.complete(_request(question, spec, n))
        for choice in response.choices:
            text = choice.message.text
            extracted = extract_number(text)
            tokens = response.usage.completion_tokens
            if len(response.choices) > 1:
                tokens = await count_tokens(text) if count_tokens is not None else max(1, len(text) // 4)
            samples.append(
                BankSample(
                    answer=extracted,
                    correct=score(extracted),
                    prompt_tokens=response.usage.prompt_tokens,
                    completion_tokens=tokens,
                    text=text,
                )
            )

    async with anyio.create_task_group() as tg:
        for start in range(0, spec.samples, spec.per_request):
            tg.start_soon(one, min(spec.per_request, spec.samples - start))
    return BankQuery(id=qid, question=question, answer=answer, difficulty=difficulty, samples=samples)


async def build_bank(
    path: Path,
    endpoint: Endpoint,
    spec: BankSpec,
    *,
    model: str,
    on_progress: Callable[[int, int], None] | None = None,
    count_tokens: TokenCounter | None = None,
) -> int:
    """Generate the problems of ``spec`` missing from the bank at ``path``; return how many were added.

    A new file gets a header first; an existing one must have been built with the same model,
    temperature and max_tokens (else :class:`UsageError`), and its finished problems are skipped.

    Args:
        path: the ``.jsonl.gz`` bank.
        endpoint: where samples come from.
        spec: the problems and sampling settings.
        model: the model name written to the header.
        on_progress: called with (problems done, problems total) after each problem.
        count_tokens: counts a sample's completion tokens when a request carries several
            (default: 4 characters a token).
    """
    done: set[str] = set()
    queries: list[BankQuery] = []
    if await anyio.Path(path).exists():
        header, queries = read_bank(path)
        if (header.model, header.temperature, header.max_tokens) != (
            model,
            spec.temperature,
            spec.max_tokens,
        ):
            raise UsageError(
                f"bank {path} was built with {header.model} at temperature {header.temperature}, "
                f"max_tokens {header.max_tokens}: use another file to change them"
            )
        done = {q.id for q in queries}
    else:
        created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        tasks = "; ".join(f"{t.name}[{t.difficulty}] x{t.count} {t.config}" for t in spec.tasks)
        generator = f"reasoning-gym {tasks}; seed {spec.seed}; system prompt {SYSTEM!r}"
        write_header(
            path,
            BankHeader(
                model=model,
                endpoint=endpoint.name,
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                created=created,
                generator=generator,
            ),
        )
    # A generator redraws the same question (1-digit sums have ~200), and a repeat would count
    # one question twice: only questions not yet in the bank are added.
    seen = {q.question for q in queries} if done else set()
    todo = []
    for problem in problems(spec):
        if problem[0] not in done and problem[1] not in seen:
            seen.add(problem[1])
            todo.append(problem)
    total = len(done) + len(todo)
    finished: list[BankQuery] = []
    count = len(done)
    slots = anyio.Semaphore(spec.concurrency)
    # Two problems at a time keep the slots busy while one finishes its last samples.
    problems_at_once = anyio.Semaphore(2)

    async def run(problem: tuple[str, str, str, str, Scorer]) -> None:
        nonlocal count
        async with problems_at_once:
            query = await _sample_problem(endpoint, spec, problem, slots, count_tokens)
        # Written one problem at a time: a kill loses at most the problems in flight.
        append_queries(path, [query])
        finished.append(query)
        count += 1
        if on_progress is not None:
            on_progress(count, total)

    if on_progress is not None:
        on_progress(count, total)
    async with anyio.create_task_group() as tg:
        for problem in todo:
            tg.start_soon(run, problem)
    return len(finished)
