"""Usage and cost accounting: prices per model, a meter per endpoint, and the wrapper that feeds it.

Every request through a :class:`MeteredEndpoint` is recorded in a :class:`Meter` (requests,
errors by kind, 429s, tokens, cost, latency), and its :class:`~orchestra.chat.ChatResponse`
carries its own ``cost``, so a caller can charge a query (a test-time-compute budget, a batch
row) without asking the meter.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Usage
from orchestra.clock import Clock, MonotonicClock
from orchestra.endpoints.base import Endpoint, WrapperEndpoint
from orchestra.endpoints.limited import close_stream
from orchestra.faults import classify

__all__ = ["Meter", "MeteredEndpoint", "Price", "PriceTable"]


@dataclass(frozen=True)
class Price:
    """USD per million tokens.

    Attributes:
        input_per_mtok: price of a million prompt tokens.
        output_per_mtok: price of a million completion tokens.
    """

    input_per_mtok: float
    output_per_mtok: float

    def __post_init__(self) -> None:
        if self.input_per_mtok < 0 or self.output_per_mtok < 0:
            raise ValueError("prices cannot be negative")

    def cost(self, usage: Usage) -> float:
        """USD for ``usage``."""
        return (
            usage.prompt_tokens * self.input_per_mtok + usage.completion_tokens * self.output_per_mtok
        ) / 1e6


class PriceTable:
    """Prices by model name.

    A model is found by exact name, else by the longest priced name it starts with (servers
    answer ``gpt-4o-mini-2024-07-18`` for ``gpt-4o-mini``), else under ``"*"`` when present.

    Args:
        prices: model name -> :class:`Price`, or a mapping with ``input_per_mtok`` and
            ``output_per_mtok`` (as read from a config file).
    """

    def __init__(self, prices: Mapping[str, Price | Mapping[str, float]] | None = None) -> None:
        self.prices: dict[str, Price] = {
            model: price if isinstance(price, Price) else Price(**price)
            for model, price in (prices or {}).items()
        }

    def lookup(self, *models: str | None) -> Price | None:
        """The price of the first of ``models`` that is priced (exact names before prefixes)."""
        names = [m for m in models if m]
        for model in names:
            if model in self.prices:
                return self.prices[model]
        for model in names:
            prefixes = [key for key in self.prices if key != "*" and model.startswith(key)]
            if prefixes:
                return self.prices[max(prefixes, key=len)]
        return self.prices.get("*")

    def cost(self, model: str | None, usage: Usage) -> float:
        """USD for ``usage`` of ``model`` (0.0 when the model is not priced)."""
        price = self.lookup(model)
        return price.cost(usage) if price is not None else 0.0


@dataclass
class _Tally:
    requests: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_sum: float = 0.0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))

    def add(self, latency: float, usage: Usage | None, cost: float, error: str | None) -> None:
        self.requests += 1
        if error is None:
            self.ok += 1
        else:
            self.errors[error] += 1
        if usage is not None:
            self.prompt_tokens += usage.prompt_tokens
            self.completion_tokens += usage.completion_tokens
        self.cost += cost
        self.latency_sum += latency
        self.latencies.append(latency)

    def as_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "requests": self.requests,
            "ok": self.ok,
            "errors": sum(self.errors.values()),
            "errors_by_kind": dict(self.errors),
            "rate_limited": self.errors.get("rate_limited", 0),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "cost": self.cost,
            "latency_mean": self.latency_sum / self.requests if self.requests else None,
            "latency_p50": _percentile(ordered, 0.50),
            "latency_p99": _percentile(ordered, 0.99),
        }


def _percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted samples (None when there are none)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Meter:
    """Counts requests, errors, tokens, cost and latency per endpoint and in total.

    Latency percentiles are over the last 10,000 requests of each endpoint, so a run of a
    million rows keeps a bounded memory.
    """

    def __init__(self) -> None:
        self._total = _Tally()
        self._by_endpoint: dict[str, _Tally] = {}

    def record(
        self,
        endpoint: str,
        *,
        latency: float,
        usage: Usage | None = None,
        cost: float = 0.0,
        error: str | None = None,
    ) -> None:
        """Record one request to ``endpoint``: ``error`` is an :func:`orchestra.faults.classify` code, None for success."""
        tally = self._by_endpoint.setdefault(endpoint, _Tally())
        tally.add(latency, usage, cost, error)
        self._total.add(latency, usage, cost, error)

    @property
    def cost(self) -> float:
        """USD spent so far, over every endpoint."""
        return self._total.cost

    def snapshot(self) -> dict[str, Any]:
        """``{"total": {...}, "endpoints": {name: {...}}}`` of plain numbers, ready for JSON."""
        return {
            "total": self._total.as_dict(),
            "endpoints": {name: tally.as_dict() for name, tally in self._by_endpoint.items()},
        }


class MeteredEndpoint(WrapperEndpoint):
    """Records every request of ``inner`` in ``meter`` and prices each response.

    Args:
        inner: the endpoint to meter.
        meter: where to record (may be shared by many endpoints).
        prices: the price table (None: every request costs 0).
        model: the model to price when neither the request nor the response names one.
        clock: time source for latencies.
    """

    def __init__(
        self,
        inner: Endpoint,
        meter: Meter,
        prices: PriceTable | None = None,
        *,
        model: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(inner)
        self.meter = meter
        self.prices = prices or PriceTable()
        self.model = model or getattr(inner, "model", None)
        self.clock: Clock = clock or MonotonicClock()

    def _cost(self, usage: Usage, *models: str | None) -> float:
        price = self.prices.lookup(*models, self.model)
        return price.cost(usage) if price is not None else 0.0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        start = self.clock.now()
        try:
            response = await self.inner.complete(request)
        except BaseException as exc:
            self.meter.record(self.name, latency=self.clock.now() - start, error=classify(exc).code)
            raise
        cost = self._cost(response.usage, request.model, response.model)
        response = response.model_copy(update={"cost": cost, "endpoint": response.endpoint or self.name})
        self.meter.record(self.name, latency=self.clock.now() - start, usage=response.usage, cost=cost)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream and record the request when it ends (tokens from the final usage chunk)."""
        start = self.clock.now()
        usage: Usage | None = None
        chunks = self.inner.stream(request)
        try:
            async for chunk in chunks:
                usage = chunk.usage or usage
                yield chunk
        except BaseException as exc:
            self.meter.record(
                self.name, latency=self.clock.now() - start, usage=usage, error=classify(exc).code
            )
            raise
        finally:
            await close_stream(chunks)
        cost = self._cost(usage, request.model) if usage is not None else 0.0
        self.meter.record(self.name, latency=self.clock.now() - start, usage=usage, cost=cost)
