from money.fmt import format_cents
from money.parse import parse_amount

__all__ = ["format_cents", "parse_amount"]
