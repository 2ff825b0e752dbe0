"""Model endpoints: the protocol, the OpenAI-compatible client, and the wrappers around it."""

from __future__ import annotations

from orchestra.endpoints.accounting import Meter, MeteredEndpoint, Price, PriceTable, error_kind
from orchestra.endpoints.base import Endpoint, WrapperEndpoint
from orchestra.endpoints.config import EndpointSpec, load_endpoints, resolve_specs
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
from orchestra.endpoints.openai import OpenAIEndpoint, parse_retry_after
from orchestra.endpoints.pool import EndpointPool
from orchestra.endpoints.retry import RetryingEndpoint, RetryStats
from orchestra.endpoints.routing import EndpointHealth, RoutingPolicy
from orchestra.endpoints.stack import Connection, build_endpoint, connect

__all__ = [
    "AdaptiveConcurrency",
    "Connection",
    "Endpoint",
    "EndpointHealth",
    "EndpointPool",
    "EndpointSpec",
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
    "error_kind",
    "load_endpoints",
    "parse_duration",
    "parse_retry_after",
    "resolve_specs",
]
