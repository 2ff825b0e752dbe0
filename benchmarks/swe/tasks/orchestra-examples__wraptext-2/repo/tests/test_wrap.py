import pytest

from wraptext import wrap


def test_short_text():
    assert wrap("hello", 10) == ["hello"]


def test_breaks_at_spaces():
    assert wrap("the quick brown fox", 10) == ["the quick", "brown fox"]


def test_bad_width():
    with pytest.raises(ValueError):
        wrap("x", 0)
