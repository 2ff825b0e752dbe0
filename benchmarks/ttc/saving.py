"""Samples saved at equal accuracy, read on mean curves, with bootstrap intervals.

A curve is a matrix ``[setting][unit]`` of accuracy and one of mean samples per query, a unit
being a seed (a draw order) or a problem. Every figure is read on the curve averaged over the
units, never unit by unit: on one seed's noisy curve the first crossing of a flat plateau comes
early by chance, which makes savings look larger than they are.

At an accuracy level, fixed-k self-consistency's k is interpolated on its running maximum, a
method's mean samples likewise on its own curve, and ``saved = 1 − samples / k``. Levels are
read off fixed-k SC's curve alone, so they are fixed before any method is looked at:

- ``knee``: the accuracy at which SC has made :data:`KNEE_GAIN` (90%) of its gain from k = 1 to
  its best k;
- ``k=N``: SC's accuracy at k = N (on a plateau SC may reach it at a smaller k, which is the k
  the saving is measured against).

An interval resamples the units with replacement (percentile bootstrap, 2.5–97.5%) and
recomputes the level and both curves on each resample.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Mapping, Sequence

__all__ = [
    "KNEE_GAIN",
    "Matrix",
    "k_for_accuracy",
    "level_accuracy",
    "samples_to_reach",
    "saved_fraction",
    "saving_figures",
]

KNEE_GAIN = 0.9
"""The share of fixed-k SC's gain (k = 1 to its best k) at which the ``knee`` level sits."""

Matrix = Sequence[Sequence[float]]
"""Values per setting (rows) and unit (columns: seeds or problems)."""


def samples_to_reach(samples: Sequence[float], accuracy: Sequence[float], target: float) -> float | None:
    """Fewest samples at which a curve's running maximum reaches ``target``, interpolated linearly.

    Points are taken in order of samples. None when the curve never reaches ``target``.
    """
    points = sorted(zip(samples, accuracy, strict=True))
    if not points:
        return None
    best = points[0]
    if best[1] >= target:
        return best[0]
    for s, a in points[1:]:
        if a >= target:
            return best[0] + (s - best[0]) * (target - best[1]) / (a - best[1])
        if a > best[1]:
            best = (s, a)
    return None


def k_for_accuracy(sc_accuracy: Sequence[float], target: float) -> float | None:
    """The k at which fixed-k SC (accuracy at k = 1, 2, ...) reaches ``target``; None if never."""
    return samples_to_reach([float(k) for k in range(1, len(sc_accuracy) + 1)], sc_accuracy, target)


def level_accuracy(sc_accuracy: Sequence[float], level: str) -> float:
    """The accuracy of a level (``knee`` or ``k=N``) on fixed-k SC's curve.

    Raises:
        ValueError: an unknown level, or ``k=N`` beyond the curve.
    """
    if level == "knee":
        first, top = sc_accuracy[0], max(sc_accuracy)
        return first + KNEE_GAIN * (top - first)
    k = int(level.removeprefix("k="))
    if not 1 <= k <= len(sc_accuracy):
        raise ValueError(f"level {level}: k outside 1..{len(sc_accuracy)}")
    return sc_accuracy[k - 1]


def saved_fraction(
    sc_accuracy: Sequence[float], samples: Sequence[float], accuracy: Sequence[float], level: str
) -> tuple[float, float, float | None, float | None]:
    """``(target accuracy, SC's k, method's samples, saved)`` at ``level``; None where not reached."""
    target = level_accuracy(sc_accuracy, level)
    k = k_for_accuracy(sc_accuracy, target)
    assert k is not None  # a level is a point of SC's own curve
    need = samples_to_reach(samples, accuracy, target)
    return target, k, need, None if need is None else 1.0 - need / k


def _means(matrix: Matrix, picks: Sequence[int]) -> list[float]:
    take = operator.itemgetter(*picks)
    if len(picks) == 1:
        return [float(row[picks[0]]) for row in matrix]
    return [sum(take(row)) / len(picks) for row in matrix]


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def saving_figures(
    sc_accuracy: Matrix,
    methods: Mapping[str, tuple[Matrix, Matrix]],
    levels: Sequence[str],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Saved samples per method and level, with a bootstrap interval over the units.

    Args:
        sc_accuracy: fixed-k SC's accuracy ``[k - 1][unit]``.
        methods: per method, its ``(mean samples, accuracy)`` matrices ``[setting][unit]``.
        levels: ``knee`` and/or ``k=N``.
        resamples: bootstrap resamples (0: no interval).
        seed: the resampling's seed.

    Returns:
        ``{method: {level: {"accuracy", "sc_k", "samples", "saved", "low", "high", "reached"}}}``:
        the point figures on the full mean curves; ``low``/``high`` the 2.5/97.5 percentiles of
        ``saved`` over the resamples in which the method reaches the level (``reached`` is
        their share). ``samples``/``saved`` are None when the method never reaches the level.
    """
    units = len(sc_accuracy[0])
    everyone = list(range(units))
    sc_mean = _means(sc_accuracy, everyone)
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    drawn: dict[tuple[str, str], list[float]] = {}
    for name, (samples, accuracy) in methods.items():
        out[name] = {}
        for level in levels:
            target, k, need, saved = saved_fraction(
                sc_mean, _means(samples, everyone), _means(accuracy, everyone), level
            )
            out[name][level] = {"accuracy": target, "sc_k": k, "samples": need, "saved": saved}
            drawn[name, level] = []
    rng = random.Random(seed)
    for _ in range(resamples):
        picks = rng.choices(everyone, k=units)
        sc = _means(sc_accuracy, picks)
        for name, (samples, accuracy) in methods.items():
            s, a = _means(samples, picks), _means(accuracy, picks)
            for level in levels:
                saved = saved_fraction(sc, s, a, level)[3]
                if saved is not None:
                    drawn[name, level].append(saved)
    for (name, level), values in drawn.items():
        figure = out[name][level]
        figure["reached"] = len(values) / resamples if resamples else None
        figure["low"] = _percentile(values, 0.025) if values else None
        figure["high"] = _percentile(values, 0.975) if values else None
    return out
