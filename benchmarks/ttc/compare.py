"""Compare allocation policies on a replayed sample bank (``orchestra bench ttc``).

Methods, each run for ``seeds`` seeds (a seed fixes the order in which every query's samples are
drawn, without replacement):

- ``sc``: fixed-k self-consistency, k = 1 … K (K = the bank's samples per query, at most 32).
- ``certaindex``: self-consistency stopped by :class:`~orchestra.ttc.EntropyCertainty` at a
  range of thresholds (a query's stop depends only on its own samples).
- ``posterior``: the same with :class:`~orchestra.ttc.PosteriorCertainty`.
- ``adaptive``: one shared budget of samples across all queries, each next sample given by the
  :class:`~orchestra.ttc.Allocator` to the query with the highest predicted gain. The allocator
  gives units one at a time, so the run with the largest budget passes through every smaller
  budget on the way: accuracy is read at each budget of the grid.
- ``oracle``: knows which samples are right; gives each query the fewest samples whose majority
  is right, cheapest queries first: the upper bound of any prefix-majority allocation.

The saved-samples figure is read on the curves averaged over seeds, never seed by seed (on one
seed's noisy curve the first crossing of a flat plateau comes early by chance, which inflates the
saving). At an accuracy level, fixed-k SC's k is interpolated on its curve and the method's mean
samples on its own (both on their running maximum); saved = 1 − samples / k. The headline level is
fixed before any method is run, from fixed-k SC's curve alone: the accuracy at which SC has made
90% of its gain from k = 1 to its best k (its knee). The saving is also given at the accuracy of
fixed-k SC at k = 4, 8, 16 and K. Each figure has two 95% intervals (percentile bootstrap, 1000
resamples): over the seeds (draw orders), and over the problems (the bank is itself a sample of
problems; this interval is the wider, and the one to quote).

The fixed-k and Certaindex points are computed from each query's draw order directly (the
programs' own stopping rules on prefixes); seed 0 of ``certaindex`` is re-run through the
allocator and the :class:`~orchestra.ttc.ReplayEndpoint` as a check that both agree.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestra.benchmarks.ttc.saving import k_for_accuracy, saving_figures
from orchestra.chat import ChatRequest
from orchestra.errors import UsageError
from orchestra.ttc import (
    Allocator,
    BankQuery,
    Budget,
    Dispatch,
    EntropyCertainty,
    Estimator,
    Lane,
    ReplayBank,
    ReplayEndpoint,
    SelfConsistency,
    StoppingRule,
    contender_gain,
    drive,
)
from orchestra.ttc.certaindex import posterior_certainty

__all__ = ["METHODS", "Comparison", "Curve", "compare"]

METHODS = ("sc", "certaindex", "posterior", "adaptive", "oracle")
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
POSTERIOR_THRESHOLDS = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
RESAMPLES = 1000
"""Bootstrap resamples of each interval."""
BUDGETS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 24.0, 28.0, 32.0)


@dataclass
class Curve:
    """One method's points: per setting, per seed, accuracy and mean samples/tokens per query."""

    method: str
    settings: list[float]
    accuracy: list[list[float]] = field(default_factory=list)  # [setting][seed]
    samples: list[list[float]] = field(default_factory=list)
    tokens: list[list[float]] = field(default_factory=list)
    query_accuracy: list[list[float]] = field(default_factory=list)  # [setting][query], over seeds
    query_samples: list[list[float]] = field(default_factory=list)

    def add(
        self,
        accuracy: list[float],
        samples: list[float],
        tokens: list[float],
        query_right: list[float],
        query_used: list[float],
    ) -> None:
        """One setting's point: per-seed accuracy and mean samples/tokens per query, and per
        query the right answers and samples summed over the ``len(accuracy)`` seeds."""
        seeds = len(accuracy)
        self.accuracy.append(accuracy)
        self.samples.append(samples)
        self.tokens.append(tokens)
        self.query_accuracy.append([r / seeds for r in query_right])
        self.query_samples.append([u / seeds for u in query_used])

    def mean(self, which: str) -> list[float]:
        """Mean over seeds of ``accuracy``, ``samples`` or ``tokens``, per setting."""
        return [statistics.fmean(row) for row in getattr(self, which)]


@dataclass
class Comparison:
    """Everything ``orchestra bench ttc`` reports."""

    queries: int
    seeds: int
    k_max: int
    curves: dict[str, Curve]
    saved: dict[str, dict[str, dict[str, float | None]]]
    """Per method and level (``knee``, ``k=N``): see :func:`_figures`."""
    allocator_check: bool | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary: mean curves, k-equivalents, saved samples with intervals."""
        sc = self.curves["sc"].mean("accuracy")
        out: dict[str, Any] = {
            "queries": self.queries,
            "seeds": self.seeds,
            "k_max": self.k_max,
            "allocator_check": self.allocator_check,
            "saved_at_equal_accuracy": self.saved,
            "curves": {},
        }
        for name, curve in self.curves.items():
            acc = curve.mean("accuracy")
            out["curves"][name] = {
                "settings": curve.settings,
                "accuracy": acc,
                "mean_samples": curve.mean("samples"),
                "mean_tokens": curve.mean("tokens"),
                "k_equivalent": [k_for_accuracy(sc, a) for a in acc],
            }
        return out


class _Seeded:
    """Per seed: every query's answers, correctness and tokens in draw order."""

    def __init__(self, queries: Sequence[BankQuery], seed: int, k_max: int) -> None:
        bank = ReplayBank(queries, seed)
        self.answers: list[list[str | None]] = []
        self.tokens: list[list[int]] = []
        self.correct: list[set[str]] = []
        for q in queries:
            order = list(reversed(bank.order(q.id)))[:k_max]
            drawn = [q.samples[i] for i in order]
            self.answers.append([s.answer for s in drawn])
            self.tokens.append([s.prompt_tokens + s.completion_tokens for s in drawn])
            self.correct.append(bank.correct_answers(q.id))
        # Whether the majority of the first k samples is right, for every k: one pass per query.
        self.prefix_right = [
            [top is not None and top in ok for top in prefix_leaders(answers)]
            for answers, ok in zip(self.answers, self.correct, strict=True)
        ]

    def right(self, index: int, answers: Sequence[str | None]) -> bool:
        return bool(answers) and self.prefix_right[index][len(answers) - 1]


def prefix_leaders(answers: Sequence[str | None]) -> list[str | None]:
    """The vote's leader after each prefix, as :func:`~orchestra.ttc.certaindex.leader` picks it
    (most votes; a tie goes to the answer seen first), kept up to date in one pass."""
    counts: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    top: str | None = None
    out: list[str | None] = []
    for answer in answers:
        if answer is not None:
            counts[answer] = counts.get(answer, 0) + 1
            first_seen.setdefault(answer, len(first_seen))
            if (
                top is None
                or counts[answer] > counts[top]
                or (counts[answer] == counts[top] and first_seen[answer] < first_seen[top])
            ):
                top = answer
        out.append(top)
    return out


def _fixed_k(runs: Sequence[_Seeded], k_max: int) -> Curve:
    curve = Curve("sc", [float(k) for k in range(1, k_max + 1)])
    count = len(runs[0].answers)
    for k in range(1, k_max + 1):
        acc, toks = [], []
        per_query = [0.0] * count
        for run in runs:
            right = [run.prefix_right[i][k - 1] for i in range(count)]
            for i, r in enumerate(right):
                per_query[i] += r
            acc.append(sum(right) / count)
            toks.append(sum(sum(t[:k]) for t in run.tokens) / count)
        curve.add(acc, [float(k)] * len(runs), toks, per_query, [float(k) * len(runs)] * count)
    return curve


def _certainties(answers: Sequence[str | None], posterior: bool) -> list[tuple[float, bool]]:
    """(certainty, leader alone) after each prefix of ``answers``: one pass, counts kept as it goes."""
    out: list[tuple[float, bool]] = []
    counts: dict[str, int] = {}
    nulls = 0
    for n, answer in enumerate(answers, 1):
        if answer is None:
            nulls += 1
        else:
            counts[answer] = counts.get(answer, 0) + 1
        ranked = sorted(counts.values(), reverse=True)
        alone = bool(ranked) and (len(ranked) == 1 or ranked[0] > ranked[1])
        if posterior:
            out.append((posterior_certainty(answers[:n]), alone))
        elif n < 2:
            out.append((0.0, alone))
        else:
            h = -sum(c / n * math.log(c / n) for c in ranked) - nulls * (1 / n) * math.log(1 / n)
            out.append((max(0.0, 1.0 - h / math.log(n)), alone))
    return out


def _stopping(
    runs: Sequence[_Seeded], name: str, thresholds: Sequence[float], k_max: int, min_samples: int
) -> Curve:
    """Certaindex stopping on every prefix: the rules of :mod:`orchestra.ttc.certaindex` in one pass."""
    curve = Curve(name, list(thresholds))
    posterior = name == "posterior"
    paths = [[_certainties(a, posterior) for a in run.answers] for run in runs]
    count = len(runs[0].answers)
    for t in thresholds:
        acc, samples, toks = [], [], []
        query_right, query_used = [0.0] * count, [0.0] * count
        for run, path in zip(runs, paths, strict=True):
            right = used = spent = 0
            for i, answers in enumerate(run.answers):
                n = next(
                    (
                        m
                        for m in range(min_samples, k_max + 1)
                        if path[i][m - 1][1] and path[i][m - 1][0] >= t - 1e-12
                    ),
                    k_max,
                )
                ok = run.right(i, answers[:n])
                right += ok
                used += n
                spent += sum(run.tokens[i][:n])
                query_right[i] += ok
                query_used[i] += n
            acc.append(right / count)
            samples.append(used / count)
            toks.append(spent / count)
        curve.add(acc, samples, toks, query_right, query_used)
    return curve


def _request(query: BankQuery, max_tokens: int) -> ChatRequest:
    return ChatRequest.of(query.question, max_tokens=max_tokens, extra={"replay_id": query.id})


def _adaptive(
    queries: Sequence[BankQuery], seeds: int, k_max: int, max_tokens: int, estimator: Estimator
) -> Curve:
    budgets = [b for b in BUDGETS if b <= k_max]
    curve = Curve("adaptive", budgets)
    curve.accuracy = [[] for _ in budgets]
    curve.samples = [[] for _ in budgets]
    curve.tokens = [[] for _ in budgets]
    count = len(queries)
    curve.query_accuracy = [[0.0] * count for _ in budgets]
    curve.query_samples = [[0.0] * count for _ in budgets]
    for seed in range(seeds):
        for slot, point in enumerate(_adaptive_seed(queries, seed, budgets, k_max, max_tokens, estimator)):
            curve.accuracy[slot].append(sum(point.right) / count)
            curve.samples[slot].append(sum(point.used) / count)
            curve.tokens[slot].append(point.tokens / count)
            for i in range(count):
                curve.query_accuracy[slot][i] += point.right[i] / seeds
                curve.query_samples[slot][i] += point.used[i] / seeds
    return curve


@dataclass(frozen=True)
class _Point:
    """One checkpoint of one adaptive run: per query, right or not and samples used; tokens in all."""

    right: list[bool]
    used: list[int]
    tokens: int


def _adaptive_seed(
    queries: Sequence[BankQuery],
    seed: int,
    budgets: Sequence[float],
    k_max: int,
    max_tokens: int,
    estimator: Estimator,
) -> list[_Point]:
    """One seed of adaptive allocation: each query's outcome at each budget."""
    count = len(queries)
    bank = ReplayBank(queries, seed)
    endpoint = ReplayEndpoint(bank)
    allocator = Allocator(
        Budget(calls=round(budgets[-1] * count)), [Lane("replay")], min_samples=1, ageing=0.0
    )
    programs = []
    for q in queries:
        program = SelfConsistency(
            _request(q, max_tokens), k_max, query_id=q.id, extract=bank.extractor(q.id), estimator=estimator
        )
        programs.append(program)
        allocator.add(q.id, program)
    correct = [bank.correct_answers(q.id) for q in queries]
    checkpoints = [round(b * count) for b in budgets]
    points: list[_Point] = []
    sent = 0
    while len(points) < len(checkpoints):
        step = allocator.next()
        if isinstance(step, Dispatch):
            allocator.finish(step, endpoint.result(step))
            sent += 1
            if sent not in checkpoints:
                continue
        # At a checkpoint, or out of work (every query done): this and later budgets read the same.
        point = _Point(
            [p.leader is not None and p.leader in ok for p, ok in zip(programs, correct, strict=True)],
            [len(p.answers) for p in programs],
            allocator.budget.spent.tokens,
        )
        points.append(point)
        if not isinstance(step, Dispatch):
            points += [point] * (len(checkpoints) - len(points))
    return points


def _oracle(runs: Sequence[_Seeded], k_max: int) -> Curve:
    budgets = [b for b in BUDGETS if b <= k_max]
    curve = Curve("oracle", budgets)
    count = len(runs[0].answers)
    for b in budgets:
        acc, samples, toks = [], [], []
        query_right, query_used = [0.0] * count, [0.0] * count
        for run in runs:
            needs = []
            for i, answers in enumerate(run.answers):
                k = next((m for m in range(1, k_max + 1) if run.right(i, answers[:m])), None)
                if k is not None:
                    needs.append((k, sum(run.tokens[i][:k]), i))
            needs.sort()
            limit, used, spent, right = b * count, 0, 0, 0
            for k, t, i in needs:
                if used + k > limit:
                    break
                used, spent, right = used + k, spent + t, right + 1
                query_right[i] += 1
                query_used[i] += k
            acc.append(right / count)
            samples.append(used / count)
            toks.append(spent / count)
        curve.add(acc, samples, toks, query_right, query_used)
    return curve


def _check_allocator(
    queries: Sequence[BankQuery], curve: Curve, index: int, rule: StoppingRule, k_max: int, max_tokens: int
) -> bool:
    """Seed 0 of one Certaindex threshold through the allocator: the same accuracy and samples."""
    bank = ReplayBank(queries, 0)
    endpoint = ReplayEndpoint(bank)
    allocator = Allocator(Budget(), [Lane("replay")], min_samples=0)
    for q in queries:
        allocator.add(
            q.id,
            SelfConsistency(
                _request(q, max_tokens), k_max, query_id=q.id, stop=rule, extract=bank.extractor(q.id)
            ),
        )
    drive(allocator, endpoint.result)
    right = sum(
        1
        for q in queries
        if (a := allocator.selection(q.id).answer) is not None and a in bank.correct_answers(q.id)
    )
    samples = sum(allocator.usage(q.id).samples for q in queries)
    count = len(queries)
    return (
        abs(right / count - curve.accuracy[index][0]) < 1e-9
        and abs(samples / count - curve.samples[index][0]) < 1e-9
    )


def compare(
    queries: Sequence[BankQuery],
    *,
    methods: Sequence[str] = ("sc", "certaindex", "adaptive", "oracle"),
    seeds: int = 200,
    k_max: int = 32,
    max_tokens: int = 32,
    estimator: Estimator = contender_gain,
    min_samples: int = 2,
    on_progress: Callable[[str], None] | None = None,
) -> Comparison:
    """Run the comparison.

    Args:
        queries: the bank's queries (each needs at least ``k_max`` samples; K is lowered to the
            smallest sample count otherwise).
        methods: any of :data:`METHODS`; ``sc`` is always run (it is the reference).
        seeds: draw orders.
        k_max: the largest fixed k.
        max_tokens: the completion bound of the replayed requests (the bank's).
        estimator: the adaptive method's gain estimate.
        min_samples: Certaindex's samples before it may stop (>= 2).
        on_progress: called with each method's name as it starts.

    Raises:
        UsageError: an unknown method, no queries, or fewer than 1 seed.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UsageError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if not queries or seeds < 1:
        raise UsageError("compare: need at least one query and one seed")
    if min_samples < 2:
        raise UsageError("compare: Certaindex needs --min-samples of at least 2")
    k_max = min(k_max, min(len(q.samples) for q in queries))
    runs = [_Seeded(queries, seed, k_max) for seed in range(seeds)]
    curves = {"sc": _fixed_k(runs, k_max)}
    check: bool | None = None
    for method in methods:
        if on_progress is not None:
            on_progress(method)
        if method == "certaindex":
            curves[method] = _stopping(runs, method, THRESHOLDS, k_max, min_samples)
            check = all(
                _check_allocator(
                    queries,
                    curves[method],
                    i,
                    EntropyCertainty(THRESHOLDS[i], min_samples),
                    k_max,
                    max_tokens,
                )
                for i in (0, len(THRESHOLDS) // 2)
            )
        elif method == "posterior":
            curves[method] = _stopping(runs, method, POSTERIOR_THRESHOLDS, k_max, min_samples)
        elif method == "adaptive":
            curves[method] = _adaptive(queries, seeds, k_max, max_tokens, estimator)
        elif method == "oracle":
            curves[method] = _oracle(runs, k_max)
    return Comparison(len(queries), seeds, k_max, curves, _figures(curves, k_max), check)


def _levels(k_max: int) -> list[str]:
    return ["knee"] + [f"k={k}" for k in sorted({k for k in (4, 8, 16) if k < k_max} | {k_max})]


def _figures(curves: dict[str, Curve], k_max: int) -> dict[str, dict[str, dict[str, float | None]]]:
    """Saved samples per method and level, with intervals over the seeds and over the problems."""
    sc = curves["sc"]
    others = {name: curve for name, curve in curves.items() if name != "sc"}
    levels = _levels(k_max)
    by_seed = saving_figures(
        sc.accuracy, {n: (c.samples, c.accuracy) for n, c in others.items()}, levels, resamples=RESAMPLES
    )
    by_problem = saving_figures(
        sc.query_accuracy,
        {n: (c.query_samples, c.query_accuracy) for n, c in others.items()},
        levels,
        resamples=RESAMPLES,
    )
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for name in others:
        out[name] = {}
        for level in levels:
            seeds, problems = by_seed[name][level], by_problem[name][level]
            out[name][level] = {
                "accuracy": seeds["accuracy"],
                "sc_k": seeds["sc_k"],
                "samples": seeds["samples"],
                "saved": seeds["saved"],
                "seeds_low": seeds["low"],
                "seeds_high": seeds["high"],
                "seeds_reached": seeds["reached"],
                "problems_low": problems["low"],
                "problems_high": problems["high"],
                "problems_reached": problems["reached"],
            }
    return out
