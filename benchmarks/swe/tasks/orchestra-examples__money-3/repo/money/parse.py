"""Parse a decimal string into integer cents."""


def parse_amount(text):
    """``"12.34"`` -> ``1234``; ``"12"`` -> ``1200``."""
    text = text.strip()
    if "." not in text:
        return int(text) * 100
    units, fraction = text.split(".")
    fraction = (fraction + "00")[:2]
    return int(units) * 100 + int(fraction)
