"""Compare dotted version strings such as ``1.4.2``."""

from functools import cmp_to_key


def parse(version):
    """``"1.4.2"`` -> ``("1", "4", "2")``; a leading ``v`` is dropped."""
    return tuple(version.strip().lstrip("v").split("."))


def compare(a, b):
    """-1, 0 or 1 as version ``a`` is older than, equal to or newer than ``b``."""
    left, right = parse(a), parse(b)
    return (left > right) - (left < right)


def newest(versions):
    """The newest of ``versions``."""
    return max(versions, key=cmp_to_key(compare))
