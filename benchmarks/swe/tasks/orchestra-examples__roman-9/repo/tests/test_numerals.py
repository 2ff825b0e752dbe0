import pytest

from roman import from_roman, to_roman


def test_additive():
    assert to_roman(3) == "III"
    assert to_roman(2026) == "MMXXVI"


def test_from_roman():
    assert from_roman("MCMXCIV") == 1994


def test_range():
    with pytest.raises(ValueError):
        to_roman(0)
