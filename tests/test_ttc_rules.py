"""Pure rules of test-time compute: answer extraction, Certaindex, hedge words, estimators."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.errors import UsageError
from orchestra.ttc import (
    EntropyCertainty,
    PosteriorCertainty,
    QueryState,
    entropy_certainty,
    extract_number,
    has_hedge,
    normalize_answer,
    pass_fail_gain,
    posterior_certainty,
    vote_flip_gain,
)
from orchestra.ttc.dynasor import probe_answer, probes_agree

# -- answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("3 + 4 = 7", "7"),  # the first number is the question
        ("4 - 1 = 3", "3"),
        ("3 + -7 = -4.", "-4"),
        ("The answer is 11.", "11"),
        ("The final answer to 3 + 9 is 12", "12"),
        ("The sum of 3 and 7 is 18.", "18"),
        ("so \\boxed{-4} and 5", "-4"),
        ("58 + 26 = 84. The final answer is 84.", "84"),
        ("It costs 1,000 dollars", "1000"),
        ("no number here", None),
        ("7.0", "7"),
    ],
)
def test_extract_number_takes_the_answer_not_the_question(text: str, answer: str | None) -> None:
    assert extract_number(text) == answer


@given(st.integers(-(10**9), 10**9))
def test_an_equation_yields_its_result(n: int) -> None:
    assert extract_number(f"{abs(n) + 3} + {n} = {abs(n) + 3 + n}") == str(abs(n) + 3 + n)


@given(st.text())
def test_extraction_never_raises_and_is_normalised(text: str) -> None:
    answer = extract_number(text)
    assert answer is None or normalize_answer(answer) == answer


@pytest.mark.parametrize(
    ("raw", "norm"),
    [("7.0", "7"), (" +7 ", "7"), ("7.", "7"), ("−3", "-3"), ("$12$", "12"), ("\\boxed{ABC}", "abc")],
)
def test_normalize_answer_puts_equal_answers_in_one_cluster(raw: str, norm: str) -> None:
    assert normalize_answer(raw) == norm


# -- Certaindex for self-consistency ----------------------------------------------------------


def test_entropy_certainty_at_its_edges() -> None:
    assert entropy_certainty([]) == 0.0 and entropy_certainty(["7"]) == 0.0
    assert entropy_certainty(["7", "7", "7"]) == pytest.approx(1.0)
    assert entropy_certainty(["1", "2", "3", "4"]) == pytest.approx(0.0)
    assert entropy_certainty([None, None]) == pytest.approx(0.0)  # nulls are clusters of their own
    # 3 of 4 agree: 1 - H/log 4 with H = -(.75 log .75 + .25 log .25)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert entropy_certainty(["7", "7", "7", "8"]) == pytest.approx(1 - h / math.log(4))


def test_entropy_rule_stops_at_the_threshold_not_before() -> None:
    rule = EntropyCertainty(threshold=0.5, min_samples=2)
    answers = ["7", "7", "7", "8"]  # certainty 0.594
    assert rule.should_stop(answers)
    assert not EntropyCertainty(threshold=0.6).should_stop(answers)
    assert not rule.should_stop(["7"])  # below min_samples
    assert rule.should_stop(["7", "7"])  # exactly min_samples, all agree
    assert not EntropyCertainty(0.5, min_samples=3).should_stop(["7", "7"])


@given(st.lists(st.sampled_from(["1", "2", "3", None]), min_size=2, max_size=30), st.floats(0.01, 1.0))
def test_certaindex_never_stops_on_a_tie_or_on_all_different_answers(
    answers: list[str | None], threshold: float
) -> None:
    counts = {a: answers.count(a) for a in set(answers) if a is not None}
    tie = len(counts) > 1 and sorted(counts.values())[-1] == sorted(counts.values())[-2]
    distinct = len(set(answers)) == len(answers) and None not in answers
    for rule in (EntropyCertainty(threshold), PosteriorCertainty(threshold)):
        if tie or distinct or not counts:
            assert not rule.should_stop(answers)


def test_posterior_rule_at_its_edges() -> None:
    # Leader 2 of 2, one seen answer: Beta(3, 1): P(share > 1/2) = 1 - 0.5**3
    assert posterior_certainty(["7", "7"]) == pytest.approx(0.875)
    assert posterior_certainty([]) == 0.0
    assert posterior_certainty([None, None]) == 0.0
    assert posterior_certainty(["7"] * 10) > posterior_certainty(["7"] * 9 + ["8"])
    rule = PosteriorCertainty(threshold=0.875)
    assert rule.should_stop(["7", "7"]) and not PosteriorCertainty(0.88).should_stop(["7", "7"])


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_thresholds_outside_zero_one_are_refused(bad: float) -> None:
    with pytest.raises(UsageError):
        EntropyCertainty(bad)
    with pytest.raises(UsageError):
        PosteriorCertainty(0.5, min_samples=1)


# -- Dynasor-CoT ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hedged"),
    [
        ("the denominator is 4", False),
        ("Nothing to add: 4", False),
        ("know it: 4", False),
        ("No, it is 4", True),
        ("4, but check", True),
        ("WAIT 4", True),
        ("hmm", True),
        ("butter is 4", False),
        ("okay", True),
        ("I'm not  sure", True),
        ("notes", False),
    ],
)
def test_hedge_words_match_whole_words_only(text: str, hedged: bool) -> None:
    assert has_hedge(text) is hedged


def test_probe_answer_reads_up_to_the_closing_brace() -> None:
    assert probe_answer("42} because") == "42"
    assert probe_answer("\\frac{1}{2}} so") == "\\frac{1}{2}"
    assert probe_answer("} nothing") is None


def test_probes_stop_only_when_the_last_window_agree_unhedged() -> None:
    agree = [("7", "7}"), ("7", "7}"), ("7", "7}")]
    assert probes_agree(agree, 3)
    assert not probes_agree(agree[:2], 3)  # fewer than the window
    assert not probes_agree([("7", "7}"), (None, "}"), ("7", "7}")], 3)  # an empty answer
    assert not probes_agree([("7", "7}"), ("7", "wait 7}"), ("7", "7}")], 3)  # a hedge
    assert probes_agree([("8", "8}"), ("7", "7}"), ("7", "7}"), ("7", "the denominator 7}")], 3)


@given(st.lists(st.sampled_from(["1", "2", "3"]), min_size=1, max_size=12), st.integers(1, 5))
def test_probes_never_stop_on_disagreeing_answers(answers: list[str], window: int) -> None:
    # Dynasor's public code has a path that stops on non-empty, unhedged answers without comparing them.
    probes = [(a, a + "}") for a in answers]
    if len(answers) >= window and len(set(answers[-window:])) > 1:
        assert not probes_agree(probes, window)


# -- estimators -------------------------------------------------------------------------------


def test_pass_fail_gain_is_p_times_one_minus_p_to_the_b() -> None:
    assert pass_fail_gain(QueryState("q", [], [])) == pytest.approx(0.5)
    p = 1 / 5  # Beta(1, 1) after 3 failures: mean 1/5
    assert pass_fail_gain(QueryState("q", [None] * 3, [False] * 3)) == pytest.approx(p * (1 - p) ** 3)
    assert pass_fail_gain(QueryState("q", ["x", "y"], [False, True])) == 0.0


def test_vote_flip_gain_falls_as_the_vote_settles() -> None:
    fresh = vote_flip_gain(QueryState("q", []))
    split = vote_flip_gain(QueryState("q", ["7", "8", "7"]))
    settled = vote_flip_gain(QueryState("q", ["7", "7", "7", "8"]))
    tie = vote_flip_gain(QueryState("q", ["7", "8"]))
    assert fresh == 1.0 and tie == 1.0
    assert 0 < settled < split < 1
    assert vote_flip_gain(QueryState("q", ["7"] * 8), horizon=4) == 0.0  # a lead of 8 cannot go in 4
    assert vote_flip_gain(QueryState("q", ["7", "7", "8"]), horizon=1) == pytest.approx(2 / 6)
