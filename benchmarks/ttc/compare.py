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

The saved-samples figure: on each seed, the accuracy of fixed-k SC at k = K is the target (the
papers' baseline: the full fixed budget); a method's samples to reach it are interpolated along
its curve; saved = 1 − samples / K. The interval is the 2.5–97.5 percentile over seeds; seeds on
which a method never reaches the target are left out and counted in ``seeds_reaching``. Because
fixed-k SC often reaches its k = K accuracy well before K, ``saved_vs_knee`` also compares with
the k, interpolated on the seed's fixed-k curve, at which SC itself first reaches the target.
Every point of every curve also gets the k, interpolated on the fixed-k curve, that reaches its
accuracy.

The fixed-k and Certaindex points are computed from each query's draw order directly (the
programs' own stopping rules on prefixes); seed 0 of ``certaindex`` is re-run through the
allocator and the :class:`~orchestra.ttc.ReplayEndpoint` as a check that both agree.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
BUDGETS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 24.0)


@dataclass
class Curve:
    """One method's points: per setting, per seed, accuracy and mean samples/tokens per query."""

    method: str
    settings: list[float]
    accuracy: list[list[float]] = field(default_factory=list)  # [setting][seed]
    samples: list[list[float]] = field(default_factory=list)
    tokens: list[list[float]] = field(default_factory=list)

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
    saved: dict[str, dict[str, float]]
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


def k_for_accuracy(sc_accuracy: Sequence[float], target: float) -> float | None:
    """The k at which fixed-k SC reaches ``target``, by linear interpolation on its running maximum.

    None when SC never reaches it.
    """
    best, envelope = 0.0, []
    for a in sc_accuracy:
        best = max(best, a)
        envelope.append(best)
    if target <= envelope[0]:
        return 1.0
    for k in range(1, len(envelope)):
        lo, hi = envelope[k - 1], envelope[k]
        if hi >= target > lo:
            return k + (target - lo) / (hi - lo)
    return None


def _samples_to_reach(samples: Sequence[float], accuracy: Sequence[float], target: float) -> float | None:
    points = sorted(zip(samples, accuracy, strict=True))
    if points[0][1] >= target:
        return points[0][0]
    for (s0, a0), (s1, a1) in itertools.pairwise(points):
        if a1 >= target > a0:
            return s0 + (s1 - s0) * (target - a0) / (a1 - a0)
    return None


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


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
    for k in range(1, k_max + 1):
        acc, toks = [], []
        for run in runs:
            n = len(run.answers)
            acc.append(sum(run.right(i, a[:k]) for i, a in enumerate(run.answers)) / n)
            toks.append(sum(sum(t[:k]) for t in run.tokens) / n)
        curve.accuracy.append(acc)
        curve.samples.append([float(k)] * len(runs))
        curve.tokens.append(toks)
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


def _stopping(runs: Sequence[_Seeded], name: str, thresholds: Sequence[float], k_max: int) -> Curve:
    """Certaindex stopping on every prefix: the rules of :mod:`orchestra.ttc.certaindex` in one pass."""
    curve = Curve(name, list(thresholds))
    posterior = name == "posterior"
    paths = [[_certainties(a, posterior) for a in run.answers] for run in runs]
    for t in thresholds:
        acc, samples, toks = [], [], []
        for run, path in zip(runs, paths, strict=True):
            right = used = spent = 0
            for i, answers in enumerate(run.answers):
                n = next(
                    (m for m in range(2, k_max + 1) if path[i][m - 1][1] and path[i][m - 1][0] >= t - 1e-12),
                    k_max,
                )
                right += run.right(i, answers[:n])
                used += n
                spent += sum(run.tokens[i][:n])
            count = len(run.answers)
            acc.append(right / count)
            samples.append(used / count)
            toks.append(spent / count)
        curve.accuracy.append(acc)
        curve.samples.append(samples)
        curve.tokens.append(toks)
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
    for seed in range(seeds):
        for slot, (acc, samples, tokens) in enumerate(
            _adaptive_seed(queries, seed, budgets, k_max, max_tokens, estimator)
        ):
            curve.accuracy[slot].append(acc)
            curve.samples[slot].append(samples)
            curve.tokens[slot].append(tokens)
    return curve


def _adaptive_seed(
    queries: Sequence[BankQuery],
    seed: int,
    budgets: Sequence[float],
    k_max: int,
    max_tokens: int,
    estimator: Estimator,
) -> list[tuple[float, float, float]]:
    """One seed of adaptive allocation: (accuracy, mean samples, mean tokens) at each budget."""
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
    points: list[tuple[float, float, float]] = []
    sent = 0
    while len(points) < len(checkpoints):
        step = allocator.next()
        if isinstance(step, Dispatch):
            allocator.finish(step, endpoint.result(step))
            sent += 1
            if sent not in checkpoints:
                continue
        # At a checkpoint, or out of work (every query done): this and later budgets read the same.
        right = sum(
            1 for p, ok in zip(programs, correct, strict=True) if p.leader is not None and p.leader in ok
        )
        point = (right / count, sent / count, allocator.budget.spent.tokens / count)
        points.append(point)
        if not isinstance(step, Dispatch):
            points += [point] * (len(checkpoints) - len(points))
    return points


def _oracle(runs: Sequence[_Seeded], k_max: int) -> Curve:
    budgets = [b for b in BUDGETS if b <= k_max]
    curve = Curve("oracle", budgets)
    for b in budgets:
        acc, samples, toks = [], [], []
        for run in runs:
            needs = []
            for i, answers in enumerate(run.answers):
                k = next((m for m in range(1, k_max + 1) if run.right(i, answers[:m])), None)
                if k is not None:
                    needs.append((k, sum(run.tokens[i][:k])))
            needs.sort()
            count = len(run.answers)
            limit, used, spent, right = b * count, 0, 0, 0
            for k, t in needs:
                if used + k > limit:
                    break
                used, spent, right = used + k, spent + t, right + 1
            acc.append(right / count)
            samples.append(used / count)
            toks.append(spent / count)
        curve.accuracy.append(acc)
        curve.samples.append(samples)
        curve.tokens.append(toks)
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
        on_progress: called with each method's name as it starts.

    Raises:
        UsageError: an unknown method, no queries, or fewer than 1 seed.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UsageError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if not queries or seeds < 1:
        raise UsageError("compare: need at least one query and one seed")
    k_max = min(k_max, min(len(q.samples) for q in queries))
    runs = [_Seeded(queries, seed, k_max) for seed in range(seeds)]
    curves = {"sc": _fixed_k(runs, k_max)}
    check: bool | None = None
    for method in methods:
        if on_progress is not None:
            on_progress(method)
        if method == "certaindex":
            curves[method] = _stopping(runs, method, THRESHOLDS, k_max)
            check = all(
                _check_allocator(
                    queries, curves[method], i, EntropyCertainty(THRESHOLDS[i]), k_max, max_tokens
                )
                for i in (0, len(THRESHOLDS) // 2)
            )
        elif method == "posterior":
            curves[method] = _stopping(runs, method, POSTERIOR_THRESHOLDS, k_max)
        elif method == "adaptive":
            curves[method] = _adaptive(queries, seeds, k_max, max_tokens, estimator)
        elif method == "oracle":
            curves[method] = _oracle(runs, k_max)
    saved = {name: _saved(curves["sc"], curve, k_max) for name, curve in curves.items() if name != "sc"}
    return Comparison(len(queries), seeds, k_max, curves, saved, check)


def _saved(sc: Curve, curve: Curve, k_max: int) -> dict[str, float]:
    """Samples saved reaching fixed-k SC's accuracy at k = K: against K, and against the k at which
    fixed-k SC itself first reaches that accuracy on the same seed (its knee; never more than K)."""
    fractions, knee_fractions, reached = [], [], 0
    seeds = len(sc.accuracy[0])
    for seed in range(seeds):
        target = sc.accuracy[k_max - 1][seed]
        need = _samples_to_reach(
            [row[seed] for row in curve.samples], [row[seed] for row in curve.accuracy], target
        )
        if need is None:
            continue
        reached += 1
        fractions.append(1.0 - need / k_max)
        knee = k_for_accuracy([row[seed] for row in sc.accuracy], target) or float(k_max)
        knee_fractions.append(1.0 - need / knee)
    if not fractions:
        nan = float("nan")
        return {"saved": nan, "low": nan, "high": nan, "seeds_reaching": 0.0, "saved_vs_knee": nan}
    return {
        "saved": statistics.fmean(fractions),
        "low": _percentile(fractions, 0.025),
        "high": _percentile(fractions, 0.975),
        "seeds_reaching": reached / seeds,
        "target_accuracy": statistics.fmean(sc.accuracy[k_max - 1]),
        "saved_vs_knee": statistics.fmean(knee_fractions),
        "saved_vs_knee_low": _percentile(knee_fractions, 0.025),
        "saved_vs_knee_high": _percentile(knee_fractions, 0.975),
    }
