"""The coding agent: solve a task with file tools and a shell, by any strategy, k samples voted.

Each sample gets its own working copy and runs :class:`orchestra.Agent` (so every LLM call and
tool call is a span of its trace) with the tools of :mod:`._repo_tools`, a bounded number of
steps, and the issue as the question. The sample's patch is the working copy's diff against
``base_commit`` (its test script left out). With ``samples > 1`` each sample is asked for a test
script too; every patch runs against every test, and :func:`._selection.rank_candidates` picks one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio

from orchestra import Agent
from orchestra.benchmarks.swe._checkout import apply_patch, checkout, diff_of
from orchestra.benchmarks.swe._predictions import Prediction
from orchestra.benchmarks.swe._repo_tools import TEST_SCRIPT, make_repo_tools, run_shell
from orchestra.benchmarks.swe._runner import workspace
from orchestra.benchmarks.swe._selection import Ranking, rank_candidates
from orchestra.benchmarks.swe._task import SWETask
from orchestra.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.endpoints.base import Endpoint, WrapperEndpoint
from orchestra.errors import OrchestraError, UsageError
from orchestra.trace import Trace

__all__ = [
    "Candidate",
    "SolveConfig",
    "SolveResult",
    "solve_all",
    "solve_task",
    "task_prompt",
    "write_traces",
]

_PROMPT = """Task {instance_id}: fix this issue in the repository (you are at its root).

{problem}
{listing}
Tools: view_file and search to read the code, edit_file (replace text that occurs once) and
create_file to change it, shell to run commands such as `python -m pytest -q`.
Change the source, not the existing tests.{test_note} Finish with a one-line summary when done."""

_MAX_LISTED = 40

_TEST_NOTE = (
    f"\nAlso write a script {TEST_SCRIPT} at the root that exits 0 when the issue is fixed and "
    "non-zero while it is not (plain asserts; it is run as `python " + TEST_SCRIPT + "`)."
)


@dataclass(frozen=True)
class SolveConfig:
    """How to solve.

    Attributes:
        strategy: ``sequential``, ``parallel`` or ``compiler``.
        max_steps: most tool-calling turns (sequential/parallel) or replans + 1 (compiler).
        samples: candidate patches per task; above 1 they are voted on by their tests.
        temperature: sampling temperature (None: 0 for one sample, 0.7 for several).
        max_tokens: most tokens per model turn.
        shell_timeout: seconds one shell command may run.
        test_timeout: seconds one candidate test script may run during the vote.
        concurrency: tasks solved at once.
        model_name: ``model_name_or_path`` in the predictions.
    """

    strategy: str = "sequential"
    max_steps: int = 10
    samples: int = 1
    temperature: float | None = None
    max_tokens: int = 512
    shell_timeout: float = 30.0
    test_timeout: float = 30.0
    concurrency: int = 2
    model_name: str = "orchestra"

    def __post_init__(self) -> None:
        if self.samples < 1 or self.max_steps < 1 or self.concurrency < 1:
            raise UsageError("samples, max-steps and concurrency must be >= 1")


@dataclass
class Candidate:
    """One sample's outcome: its patch, its test script, the agent's answer and trace."""

    index: int
    patch: str = ""
    test_script: str = ""
    answer: str = ""
    error: str | None = None
    trace: Trace = field(default_factory=Trace)


@dataclass
class SolveResult:
    """A task's candidates, the vote (None for one sample) and the chosen prediction."""

    task: SWETask
    candidates: list[Candidate]
    ranking: Ranking | None
    prediction: Prediction
    vote_trace: Trace = field(default_factory=Trace)

    @property
    def chosen(self) -> int:
        """The index of the chosen candidate."""
        return 0 if self.ranking is None else self.ranking.best


class _Seeded(WrapperEndpoint):
    """Adds ``seed`` and a temperature to every request, so that samples differ reproducibly."""

    def __init__(self, inner: Endpoint, seed: int, temperature: float | None) -> None:
        super().__init__(inner)
        self.seed, self.temperature = seed, temperature

    def _with(self, request: ChatRequest) -> ChatRequest:
        extra = dict(request.extra, seed=self.seed)
        temperature = request.temperature if self.temperature is None else self.temperature
        return request.model_copy(update={"extra": extra, "temperature": temperature})

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.inner.complete(self._with(request))

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self.inner.stream(self._with(request))


def task_prompt(task: SWETask, *, with_test: bool, files: list[str] | None = None) -> str:
    """The question the agent answers: the issue, the repository's files (when given), how to work."""
    listing = ""
    if files:
        shown = files[:_MAX_LISTED]
        more = f" (and {len(files) - len(shown)} more)" if len(files) > len(shown) else ""
        listing = "\nFiles: " + ", ".join(shown) + more + "\n"
    return _PROMPT.format(
        instance_id=task.instance_id,
        problem=task.problem_statement.strip(),
        listing=listing,
        test_note=_TEST_NOTE if with_test else "",
    )


def _listing(root: Path) -> list[str]:
    """The working copy's files, relative, without git's and caches' folders."""
    skip = {".git", "__pycache__", ".pytest_cache"}
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(root).parts)
    )


def _planner(strategy: str, max_tokens: int) -> Any:
    from orchestra.planners import default_planner

    planner = default_planner(strategy)
    return replace(planner, max_tokens=max(getattr(planner, "max_tokens", 0), max_tokens))


def _record_args(result: Any, trace: Trace) -> None:
    """Put each task's arguments on its span: trajectory replay reads the files a call touched."""
    args = {t.id: dict(t.kwargs) for t in result.tasks}
    for span in trace.of_kind("task"):
        tid = span.attrs.get("task_id")
        if tid in args:
            span.attrs["args"] = {k: v for k, v in args[tid].items() if isinstance(v, str | int | float)}


async def _candidate(task: SWETask, endpoint: Endpoint, config: SolveConfig, index: int) -> Candidate:
    candidate = Candidate(index)
    many = config.samples > 1
    model = endpoint
    if many or config.temperature is not None:
        temperature = config.temperature if config.temperature is not None else (0.7 if many else None)
        model = _Seeded(endpoint, seed=index, temperature=temperature)
    async with workspace() as tmp:
        work = tmp / "repo"
        commit = await checkout(task, work)
        agent = Agent(
            model,
            make_repo_tools(work, shell_timeout=config.shell_timeout),
            planner=_planner(config.strategy, config.max_tokens),
            strategy=config.strategy,
            max_turns=config.max_steps,
            max_replans=config.max_steps - 1,
        )
        try:
            # our own trace, so that the spans of a run that fails are kept too
            result = await agent.run(
                task_prompt(task, with_test=many, files=_listing(work)), trace=candidate.trace
            )
            candidate.answer = result.answer
            _record_args(result, candidate.trace)
        except OrchestraError as exc:
            candidate.error = f"{type(exc).__name__}: {exc}"
        script = work / TEST_SCRIPT
        candidate.test_script = (
            script.read_text(encoding="utf-8", errors="replace") if script.is_file() else ""
        )
        candidate.patch = await diff_of(work, commit, exclude=(TEST_SCRIPT,))
    return candidate


async def _run_scripts(
    task: SWETask, patch: str, scripts: dict[int, str], timeout_s: float, trace: Trace, label: str
) -> dict[int, bool]:
    """Apply ``patch`` to a fresh working copy and run each test script; True where it exits 0."""
    outcome = dict.fromkeys(scripts, False)
    async with workspace() as tmp:
        work = tmp / "repo"
        await checkout(task, work)
        if not (await apply_patch(work, patch, name="candidate")).applied:
            return outcome
        for j, text in scripts.items():
            name = f".orchestra_vote_{j}.py"
            (work / name).write_text(text, encoding="utf-8")
            with trace.span(f"{label} x test {j}", "test", patch=label, test=j) as span:
                out = await run_shell(work, f"python {name}", timeout_s=timeout_s)
                outcome[j] = out.startswith("exit code 0")
                span.attrs["passed"] = outcome[j]
            (work / name).unlink(missing_ok=True)
    return outcome


async def _vote(task: SWETask, candidates: list[Candidate], config: SolveConfig, trace: Trace) -> Ranking:
    scripts = {c.index: c.test_script for c in candidates if c.test_script.strip()}
    base = await _run_scripts(task, "", scripts, config.test_timeout, trace, "base")
    voters = {j: s for j, s in scripts.items() if not base[j]}
    passes: dict[tuple[int, int], bool] = {}

    async def one(c: Candidate) -> None:
        if c.patch.strip() and voters:
            got = await _run_scripts(task, c.patch, voters, config.test_timeout, trace, f"patch {c.index}")
            passes.update({(c.index, j): ok for j, ok in got.items()})

    async with anyio.create_task_group() as tg:
        for c in candidates:
            tg.start_soon(one, c)
    return rank_candidates([c.patch for c in candidates], passes, base)


async def solve_task(task: SWETask, endpoint: Endpoint, config: SolveConfig) -> SolveResult:
    """Make ``config.samples`` candidates for ``task`` and choose one.

    Raises:
        CheckoutError: the task's repository cannot be checked out.
    """
    candidates: list[Candidate] = [Candidate(i) for i in range(config.samples)]

    async def sample(i: int) -> None:
        candidates[i] = await _candidate(task, endpoint, config, i)

    async with anyio.create_task_group() as tg:
        for i in range(config.samples):
            tg.start_soon(sample, i)
    trace = Trace()
    ranking = await _vote(task, candidates, config, trace) if config.samples > 1 else None
    chosen = candidates[0 if ranking is None else ranking.best]
    prediction = Prediction(task.instance_id, config.model_name, chosen.patch)
    return SolveResult(task, candidates, ranking, prediction, trace)


async def solve_all(
    tasks: Sequence[SWETask],
    endpoint: Endpoint,
    config: SolveConfig,
    *,
    on_done: Callable[[SolveResult], None] | None = None,
) -> list[SolveResult]:
    """Solve every task, ``config.concurrency`` at a time; a task that cannot be checked out is skipped
    with an empty prediction (its error in ``candidates[0].error``)."""
    limiter = anyio.CapacityLimiter(config.concurrency)
    results: dict[str, SolveResult] = {}

    async def one(task: SWETask) -> None:
        async with limiter:
            try:
                result = await solve_task(task, endpoint, config)
            except OrchestraError as exc:
                failed = Candidate(0, error=str(exc))
                result = SolveResult(
                    task, [failed], None, Prediction(task.instance_id, config.model_name, None)
                )
        results[task.instance_id] = result
        if on_done is not None:
            on_done(result)

    async with anyio.create_task_group() as tg:
        for task in tasks:
            tg.start_soon(one, task)
    return [results[t.instance_id] for t in tasks]


def write_traces(results: Sequence[SolveResult], folder: Path) -> list[Path]:
    """One JSONL trace per candidate (``INSTANCE.sK.trace.jsonl``) and one per vote; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for result in results:
        iid = result.task.instance_id
        for c in result.candidates:
            paths.append(c.trace.to_jsonl(folder / f"{iid}.s{c.index}.trace.jsonl"))
        if result.vote_trace.spans:
            paths.append(result.vote_trace.to_jsonl(folder / f"{iid}.vote.trace.jsonl"))
    return paths
