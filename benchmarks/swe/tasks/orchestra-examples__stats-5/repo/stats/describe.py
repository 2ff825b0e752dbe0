"""Small descriptive statistics."""

from collections import Counter


def mean(values):
    """The arithmetic mean; ValueError for no values."""
    if not values:
        raise ValueError("mean of no values")
    return sum(values) / len(values)


def median(values):
    """The middle value of the sorted values (the mean of the two middle ones for even counts)."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def mode(values):
    """The most common value; the smallest of them on a tie."""
    if not values:
        raise ValueError("mode of no values")
    counts = Counter(values)
    return counts.most_common(1)[0][0]
