"""Format integer cents as a decimal string."""


def format_cents(cents):
    """``1234`` -> ``"12.34"``."""
    return f"{cents // 100}.{cents % 100:02d}"
