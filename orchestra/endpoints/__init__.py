"""Model endpoints: the protocol, the OpenAI-compatible client, and the wrappers around it.

Names are imported on first use (PEP 562), so importing one light module of this package (the
config, the limits) does not load the HTTP stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestra.endpoints.accounting import Meter, MeteredEndpoint, Price, PriceTable
    from orchestra.endpoints.base import Endpoint, WrapperEndpoint
    from orchestra.endpoints.config import EndpointSpec, load_endpoints, resolve_specs
    from orchestra.endpoints.headers import honoured_wait, parse_number, parse_retry_after
    from orchestra.endpoints.limited import LimitedEndpoint
    from orchestra.endpoints.limits import (
        AdaptiveConcurrency,
        LimiterStats,
        Outcome,
        Permit,
        RateLimiter,
        Reservation,
        TokenBucket,
        parse_duration,
    )
    from orchestra.endpoints.local import LocalModel
    from orchestra.endpoints.local_model import ensure_model
    from orchestra.endpoints.openai import OpenAIEndpoint
    from orchestra.endpoints.pool import EndpointPool
    from orchestra.endpoints.retry import RetryingEndpoint, RetryStats
    from orchestra.endpoints.routing import EndpointHealth, RoutingPolicy
    from orchestra.endpoints.stack import Connection, build_endpoint, connect
    from orchestra.endpoints.timeouts import FirstByteTimeout, LatencyTracker
    from orchestra.endpoints.traced import TracedEndpoint

_LAZY = {
    "Meter": "orchestra.endpoints.accounting",
    "MeteredEndpoint": "orchestra.endpoints.accounting",
    "Price": "orchestra.endpoints.accounting",
    "PriceTable": "orchestra.endpoints.accounting",
    "Endpoint": "orchestra.endpoints.base",
    "WrapperEndpoint": "orchestra.endpoints.base",
    "EndpointSpec": "orchestra.endpoints.config",
    "load_endpoints": "orchestra.endpoints.config",
    "resolve_specs": "orchestra.endpoints.config",
    "honoured_wait": "orchestra.endpoints.headers",
    "parse_number": "orchestra.endpoints.headers",
    "parse_retry_after": "orchestra.endpoints.headers",
    "LimitedEndpoint": "orchestra.endpoints.limited",
    "AdaptiveConcurrency": "orchestra.endpoints.limits",
    "LimiterStats": "orchestra.endpoints.limits",
    "Outcome": "orchestra.endpoints.limits",
    "Permit": "orchestra.endpoints.limits",
    "RateLimiter": "orchestra.endpoints.limits",
    "Reservation": "orchestra.endpoints.limits",
    "TokenBucket": "orchestra.endpoints.limits",
    "parse_duration": "orchestra.endpoints.limits",
    "LocalModel": "orchestra.endpoints.local",
    "ensure_model": "orchestra.endpoints.local_model",
    "OpenAIEndpoint": "orchestra.endpoints.openai",
    "EndpointPool": "orchestra.endpoints.pool",
    "RetryingEndpoint": "orchestra.endpoints.retry",
    "RetryStats": "orchestra.endpoints.retry",
    "EndpointHealth": "orchestra.endpoints.routing",
    "RoutingPolicy": "orchestra.endpoints.routing",
    "Connection": "orchestra.endpoints.stack",
    "build_endpoint": "orchestra.endpoints.stack",
    "connect": "orchestra.endpoints.stack",
    "FirstByteTimeout": "orchestra.endpoints.timeouts",
    "LatencyTracker": "orchestra.endpoints.timeouts",
    "TracedEndpoint": "orchestra.endpoints.traced",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestra.endpoints' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AdaptiveConcurrency",
    "Connection",
    "Endpoint",
    "EndpointHealth",
    "EndpointPool",
    "EndpointSpec",
    "FirstByteTimeout",
    "LatencyTracker",
    "LimitedEndpoint",
    "LimiterStats",
    "LocalModel",
    "Meter",
    "MeteredEndpoint",
    "OpenAIEndpoint",
    "Outcome",
    "Permit",
    "Price",
    "PriceTable",
    "RateLimiter",
    "Reservation",
    "RetryStats",
    "RetryingEndpoint",
    "RoutingPolicy",
    "TokenBucket",
    "TracedEndpoint",
    "WrapperEndpoint",
    "build_endpoint",
    "connect",
    "ensure_model",
    "honoured_wait",
    "load_endpoints",
    "parse_duration",
    "parse_number",
    "parse_retry_after",
    "resolve_specs",
]
