"""One shared budget for a batch of queries, in tokens, dollars and/or calls.

Every unit of work is *reserved* at its worst case before it is sent (prompt plus ``max_tokens``,
at the price given) and *charged* its real usage when it returns, so spending never passes the
limit: a unit that would not fit in what is left unreserved is not sent. Probes, judges and
test-generation requests are units like any sample, so they are charged the same way (the public
tools charge only the samples, if anything).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestra.endpoints.accounting import Price
from orchestra.errors import UsageError

__all__ = ["Budget", "Cost"]


@dataclass(frozen=True)
class Cost:
    """What one unit costs (or may cost): tokens, US dollars, calls."""

    tokens: int = 0
    dollars: float = 0.0
    calls: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.tokens + other.tokens, self.dollars + other.dollars, self.calls + other.calls)

    def __sub__(self, other: Cost) -> Cost:
        return Cost(self.tokens - other.tokens, self.dollars - other.dollars, self.calls - other.calls)


class Budget:
    """Limits on tokens, dollars and calls (None: unlimited), with reservations in flight.

    Args:
        tokens: prompt + completion tokens at most.
        dollars: USD at most; needs ``price`` so a unit's worst case can be reserved.
        calls: model requests at most.
        price: the price used to reserve dollars (USD per million tokens).

    Raises:
        UsageError: a negative limit, or a dollar limit without a price.
    """

    def __init__(
        self,
        tokens: int | None = None,
        dollars: float | None = None,
        calls: int | None = None,
        *,
        price: Price | None = None,
    ) -> None:
        if any(v is not None and v < 0 for v in (tokens, dollars, calls)):
            raise UsageError("budget: limits cannot be negative")
        if dollars is not None and price is None:
            raise UsageError("budget: a dollar limit needs a price to reserve against")
        self.tokens = tokens
        self.dollars = dollars
        self.calls = calls
        self.price = price
        self.spent = Cost()
        self.reserved = Cost()

    def worst_case(self, prompt_tokens: int, max_tokens: int, calls: int = 1) -> Cost:
        """The most a request of this size can cost."""
        dollars = 0.0
        if self.price is not None:
            dollars = (
                prompt_tokens * self.price.input_per_mtok + max_tokens * self.price.output_per_mtok
            ) / 1e6
        return Cost(prompt_tokens + max_tokens, dollars, calls)

    def fits(self, cost: Cost) -> bool:
        """Whether ``cost`` fits in what is neither spent nor reserved."""
        spent, reserved = self.spent, self.reserved
        return (
            (self.tokens is None or spent.tokens + reserved.tokens + cost.tokens <= self.tokens)
            and (
                self.dollars is None
                or spent.dollars + reserved.dollars + cost.dollars <= self.dollars + 1e-12
            )
            and (self.calls is None or spent.calls + reserved.calls + cost.calls <= self.calls)
        )

    def reserve(self, cost: Cost) -> bool:
        """Reserve ``cost`` if it fits; return whether it did."""
        if not self.fits(cost):
            return False
        self.reserved = self.reserved + cost
        return True

    def settle(self, reserved: Cost, actual: Cost) -> None:
        """Replace a reservation by what the unit really cost."""
        self.reserved = self.reserved - reserved
        self.spent = self.spent + actual

    @property
    def exhausted(self) -> bool:
        """True when not even the smallest request (one token, one call) fits any more."""
        return not self.fits(Cost(1, 0.0, 1))

    def remaining_tokens(self) -> int | None:
        """Tokens neither spent nor reserved (None: unlimited)."""
        return None if self.tokens is None else self.tokens - self.spent.tokens - self.reserved.tokens
