"""Build the wrapped endpoint stack from :class:`~orchestra.endpoints.config.EndpointSpec` entries.

Each spec becomes ``Metered(Limited(FirstByteTimeout(OpenAI)))``: metering outermost so it sees
every attempt, limits inside so each attempt waits its turn, and the learned first-byte timeout
innermost so that a hung request frees its slot and counts as a timeout. The embedded model is the
exception: its server shares this machine's CPUs, so its latency follows the machine's load (ten
times slower when other work starts), not the server's health; it gets no learned timeout, and a
request timeout of :data:`LOCAL_TIMEOUT` unless the spec sets one. Specs serving the same model are grouped into one
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
from orchestra.endpoints.served import discover
from orchestra.endpoints.timeouts import FirstByteTimeout, LatencyTracker
from orchestra.errors import UsageError

__all__ = ["LOCAL_TIMEOUT", "Connection", "build_endpoint", "connect"]

LOCAL_TIMEOUT = 600.0
"""Seconds a request to the embedded model may take when its spec sets no ``timeout``: a 135M
model writing a few hundred tokens on two CPUs shared with other work needs minutes, and a
timeout there would only send the same work again to the same busy CPUs."""


def build_endpoint(
    spec: EndpointSpec,
    meter: Meter,
    *,
    base_url: str | None = None,
    model: str | None = None,
    clock: Clock | None = None,
    initial_concurrency: int = 100,
    raw: OpenAIEndpoint | None = None,
) -> tuple[Endpoint, RateLimiter]:
    """One endpoint: ``Metered(Limited(FirstByteTimeout(OpenAI)))`` and its limiter.

    A spec that states no concurrency cap gets an adaptive one (AIMD from
    ``initial_concurrency``): servers such as vLLM, llama.cpp and Ollama send no rate-limit
    headers, so the only signal is 429/503/timeouts (docs/design.md, Endpoints). ``raw`` is the
    already-built client to wrap, if any (e.g. the one that fetched the model list).
    """
    clock = clock or MonotonicClock()
    model = model or spec.model
    timeout = spec.timeout
    if spec.is_local and "timeout" not in spec.model_fields_set:
        timeout = max(timeout, LOCAL_TIMEOUT)
    raw = raw or spec.raw_endpoint(model, base_url=base_url, timeout=timeout)
    # The embedded model's latency is the machine's load: learning a timeout from it would fail
    # requests whenever the load rises (see the module docstring).
    timed: Endpoint = (
        raw if spec.is_local else FirstByteTimeout(raw, LatencyTracker(ceiling=spec.timeout), clock=clock)
    )
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
        served: model name -> every model its endpoints list (``GET /models``), or None when
            unknown (not checked, or the server keeps no list).
    """

    pools: dict[str, Endpoint]
    limiters: dict[str, RateLimiter]
    meter: Meter
    served: dict[str, frozenset[str] | None] = field(default_factory=dict)
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
    check_models: bool = False,
) -> AsyncIterator[Connection]:
    """Open every endpoint of ``specs`` (starting the embedded model if one is ``local``).

    Args:
        check_models: ask each server which models it serves (``GET /models``) before the first
            request: a model it does not serve is a ``UsageError``, and a spec that names no
            model gets the server's only one (:mod:`orchestra.endpoints.served`). The CLI sets it.

    Yields:
        a :class:`Connection`; everything is closed (and the local server stopped) on exit.

    Raises:
        UsageError: a spec names no model and the server does not say which (or, with
            ``check_models``, a model the server does not serve).
    """
    meter = meter or Meter()
    async with AsyncExitStack() as stack:
        local = None
        if any(s.is_local for s in specs):
            from orchestra.endpoints.local import LocalModel, check_local_model  # starts a process

            if check_models:  # before the (first-run) download, not after it
                for spec in specs:
                    if spec.is_local:
                        check_local_model(spec.model)
            local = await stack.enter_async_context(LocalModel())
        members: dict[str, list[Endpoint]] = {}
        limiters: dict[str, RateLimiter] = {}
        served: dict[str, frozenset[str] | None] = {}
        all_members: list[Endpoint] = []
        for spec in specs:
            raw: OpenAIEndpoint | None = None
            listed: frozenset[str] | None = None
            base_url: str | None = None
            model: str | None = spec.model
            if spec.is_local and local is not None:
                base_url = local.base_url
                model = spec.model or local.model_name
                listed = frozenset({local.model_name})
            elif check_models:
                raw = spec.raw_endpoint()
                stack.push_async_callback(raw.aclose)
                model, listed = await discover(raw, model, strict=len(specs) == 1)
                raw.model = model
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
                raw=raw,
            )
            stack.push_async_callback(endpoint.aclose)
            members.setdefault(model, []).append(endpoint)
            limiters[spec.name] = limiter
            all_members.append(endpoint)
            if listed is None or served.get(model, frozenset()) is None:
                served[model] = None  # one member with an unknown list: the pool's is unknown
            else:
                served[model] = (served.get(model) or frozenset()) | listed
        pools: dict[str, Endpoint] = {
            model: RetryingEndpoint(
                EndpointPool(group, name=model, clock=clock),
                max_attempts=max_attempts,
                clock=clock,
                max_retry_after=min(s.max_retry_after for s in specs if (s.model or model) == model),
            )
            for model, group in members.items()
        }
        yield Connection(pools=pools, limiters=limiters, meter=meter, served=served, _members=all_members)
