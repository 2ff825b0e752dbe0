"""Samples saved at equal accuracy: interpolation on running maxima, levels, mean curves, intervals."""

from __future__ import annotations

import pytest

from orchestra.benchmarks.ttc.saving import (
    k_for_accuracy,
    level_accuracy,
    samples_to_reach,
    saving_figures,
)


def test_samples_to_reach_interpolates_on_the_running_maximum() -> None:
    samples, accuracy = [1.0, 2.0, 3.0, 4.0], [0.1, 0.3, 0.2, 0.5]
    # The dip at 3 is ignored: from (2, 0.3) straight to (4, 0.5).
    assert samples_to_reach(samples, accuracy, 0.4) == pytest.approx(3.0)
    assert samples_to_reach(samples, accuracy, 0.3) == pytest.approx(2.0)
    assert samples_to_reach(samples, accuracy, 0.05) == 1.0
    assert samples_to_reach(samples, accuracy, 0.6) is None
    assert samples_to_reach(list(reversed(samples)), list(reversed(accuracy)), 0.4) == pytest.approx(3.0)
    assert k_for_accuracy(accuracy, 0.4) == pytest.approx(3.0)


def test_levels_come_from_fixed_k_sc_alone() -> None:
    sc = [0.2, 0.4, 0.6, 0.5]
    assert level_accuracy(sc, "knee") == pytest.approx(0.2 + 0.9 * 0.4)
    assert level_accuracy(sc, "k=2") == 0.4
    assert level_accuracy(sc, "k=4") == 0.5  # SC's own accuracy at k=4; SC reaches it by k=2.5
    assert k_for_accuracy(sc, level_accuracy(sc, "k=4")) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="outside"):
        level_accuracy(sc, "k=5")


def test_saving_at_the_knee_with_identical_units_has_a_zero_width_interval() -> None:
    sc = [[0.2, 0.2], [0.3, 0.3], [0.4, 0.4], [0.5, 0.5]]  # [k - 1][unit]
    method = ([[1.0, 1.0], [2.0, 2.0]], [[0.3, 0.3], [0.5, 0.5]])
    figure = saving_figures(sc, {"m": method}, ["knee"], resamples=50)["m"]["knee"]
    # Knee 0.47: SC needs k = 3.7, the method 1.85 samples.
    assert figure["sc_k"] == pytest.approx(3.7)
    assert figure["samples"] == pytest.approx(1.85)
    assert figure["saved"] == pytest.approx(0.5)
    assert figure["low"] == pytest.approx(0.5) and figure["high"] == pytest.approx(0.5)
    assert figure["reached"] == 1.0


def test_the_figure_is_read_on_the_mean_curve_not_seed_by_seed() -> None:
    # Seed A's curve touches the target at 1 sample by chance; read seed by seed that would be
    # a 67% saving there and 33% on average. On the mean curve the method needs 3, as SC does.
    sc = [[0.3, 0.3], [0.4, 0.4], [0.5, 0.5]]
    samples = [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
    accuracy = [[0.5, 0.3], [0.4, 0.4], [0.5, 0.5]]
    figure = saving_figures(sc, {"m": (samples, accuracy)}, ["k=3"], resamples=200)["m"]["k=3"]
    assert figure["saved"] == pytest.approx(0.0)
    # Resamples that draw seed A twice do see the early crossing: the interval shows it.
    assert figure["high"] == pytest.approx(2 / 3)
    assert figure["low"] == pytest.approx(0.0)


def test_a_method_that_never_reaches_a_level_says_so() -> None:
    sc = [[0.2], [0.4]]
    figure = saving_figures(sc, {"m": ([[1.0]], [[0.3]])}, ["k=2"], resamples=10)["m"]["k=2"]
    assert figure["samples"] is None and figure["saved"] is None
    assert figure["reached"] == 0.0 and figure["low"] is None
