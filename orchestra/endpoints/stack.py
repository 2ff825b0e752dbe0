"""Build the wrapped endpoint stack from :class:`~orchestra.endpoints.config.EndpointSpec` entries.

Each spec becomes ``Metered(Limited(FirstByteTimeout(OpenAI)))``: metering outermost so it sees
every attempt, limits inside so each attempt waits its turn, and the learned first-byte timeout
innermost so that a hung request frees its slot and counts as a timeout. Specs serving the same model are grouped into one
``Retrying(Pool(...))`` so a failing endpoint falls back to a healthy one and retries see the
whole pool. This is the one place that composes the wrappers; the CLI, the agent and the batch
runner all come through :func:`connect`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from orchestra.clock import Clock, MonotonicClock
from orchestra.endpoints.accounting import Meter, MeteredEndpoint, Price, PriceTable
from orchestra.endpoints.base import Endpoint
from orchestra.endpoints.config import EndpointSpec
from orchestra.endpoints.limited import LimitedEndpoint
from orchestra.endpoints.limits import RateLimiter
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.endpoints.pool import EndpointPool
from orchestra.endpoints.retry import RetryingEndpoint
from orchestra.endpoints.timeouts import FirstByteTimeout, LatencyTracker
from orchestra.errors import UsageError

__all__ = ["Connection", "build_endpoint", "connect"]


def build_endpoint(
    spec: EndpointSpec,
    meter: Meter,
    *,
    base_url: str | None = None,
    model: str | None = None,
    clock: Clock | None = None,
    initial_concurrency: int = 100,
) -> tuple[Endpoint, RateLimiter]:
    """One endpoint: ``Metered(Limited(FirstByteTimeout(OpenAI)))`` and its limiter.

    A spec that states no concurrency cap gets an adaptive one (AIMD from
    ``initial_concurrency``): servers such as vLLM, llama.cpp and Ollama send no rate-limit
    headers, so the only signal is 429/503/timeouts (DESIGN.md, Endpoints).
    """
    clock = clock or MonotonicClock()
    model = model or spec.model
    raw = OpenAIEndpoint(
        base_url or spec.base_url,
        model,
        api_key=spec.api_key(),
        name=spec.name,
        timeout=spec.timeout,
        max_retry_after=spec.max_retry_after,
    )
    timed = FirstByteTimeout(raw, LatencyTracker(ceiling=spec.timeout), clock=clock)
    limiter = RateLimiter(
        rpm=spec.rpm,
        tpm=spec.tpm,
        max_concurrency=spec.max_concurrency,
        window=spec.window,
        clock=clock,
        adaptive=spec.max_concurrency is None,
        initial_concurrency=initial_concurrency,
    )
    prices = PriceTable({model: Price(spec.input_price, spec.output_price)}) if model else None
    limited = LimitedEndpoint(timed, limiter, max_retry_after=spec.max_retry_after)
    endpoint = MeteredEndpoint(limited, meter, prices, model=model, clock=clock)
    return endpoint, limiter


@dataclass
class Connection:
    """The endpoints a command talks to, grouped by model.

    Attributes:
        pools: model name -> a retrying pool of every endpoint serving it.
        limiters: endpoint name -> its limiter (for progress displays).
        meter: usage, errors and cost of every request.
    """

    pools: dict[str, Endpoint]
    limiters: dict[str, RateLimiter]
    meter: Meter
    _members: list[Endpoint] = field(default_factory=list)

    @property
    def default(self) -> Endpoint:
        """The pool of the first model configured."""
        return next(iter(self.pools.values()))

    @property
    def default_model(self) -> str:
        return next(iter(self.pools))

    def for_model(self, model: str | None) -> Endpoint:
        """The pool serving ``model`` (None: the default).

        Raises:
            UsageError: no endpoint serves that model.
        """
        if model is None:
            return self.default
        try:
            return self.pools[model]
        except KeyError:
            raise UsageError(
                f"no endpoint serves model {model!r}; configured: {', '.join(self.pools)}"
            ) from None


@asynccontextmanager
async def connect(
    specs: Sequence[EndpointSpec],
    *,
    meter: Meter | None = None,
    clock: Clock | None = None,
    max_attempts: int = 6,
    initial_concurrency: int = 100,
) -> AsyncIterator[Connection]:
    """Open every endpoint of ``specs`` (starting the embedded model if one is ``local``).

    Yields:
        a :class:`Connection`; everything is closed (and the local server stopped) on exit.
    """
    meter = meter or Meter()
    async with AsyncExitStack() as stack:
        local = None
        if any(s.is_local for s in specs):
            from orchestra.endpoints.local import LocalModel  # starts a process: only when asked for

            local = await stack.enter_async_context(LocalModel())
        members: dict[str, list[Endpoint]] = {}
        limiters: dict[str, RateLimiter] = {}
        all_members: list[Endpoint] = []
        for spec in specs:
            base_url = local.base_url if (spec.is_local and local) else None
            model = spec.model or (local.model_name if (spec.is_local and local) else None)
            if model is None:
                raise UsageError(
                    f"endpoint {spec.name}: no model given (use --model or set model in the file)"
                )
            endpoint, limiter = build_endpoint(
                spec,
                meter,
                base_url=base_url,
                model=model,
                clock=clock,
                initial_concurrency=initial_concurrency,
            )
            stack.push_async_callback(endpoint.aclose)
            members.setdefault(model, []).append(endpoint)
            limiters[spec.name] = limiter
            all_members.append(endpoint)
        pools: dict[str, Endpoint] = {
            model: RetryingEndpoint(
                EndpointPool(group, name=model, clock=clock),
                max_attempts=max_attempts,
                clock=clock,
                max_retry_after=min(s.max_retry_after for s in specs if (s.model or model) == model),
            )
            for model, group in members.items()
        }
        yield Connection(pools=pools, limiters=limiters, meter=meter, _members=all_members)
