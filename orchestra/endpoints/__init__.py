"""Model endpoints: the protocol, the OpenAI-compatible client, and the wrappers around it."""

from __future__ import annotations

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
