"""Roman numerals."""

_VALUES = [("M", 1000), ("D", 500), ("C", 100), ("L", 50), ("X", 10), ("V", 5), ("I", 1)]
_DIGITS = dict(_VALUES)


def to_roman(number):
    """``1994`` -> ``"MCMXCIV"`` (1 to 3999)."""
    if not 0 < number < 4000:
        raise ValueError("roman numerals cover 1 to 3999")
    out = []
    for symbol, value in _VALUES:
        count, number = divmod(number, value)
        out.append(symbol * count)
    return "".join(out)


def from_roman(text):
    """``"MCMXCIV"`` -> ``1994``."""
    total = 0
    for i, ch in enumerate(text):
        value = _DIGITS[ch]
        if i + 1 < len(text) and _DIGITS[text[i + 1]] > value:
            total -= value
        else:
            total += value
    return total
