"""One classification of failures (orchestra.faults.classify), used by every layer."""

from __future__ import annotations

import pytest

from orchestra.errors import (
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    EndpointUnavailable,
    NoHealthyEndpoint,
    RateLimitError,
    UsageError,
)
from orchestra.faults import Outcome, classify


@pytest.mark.parametrize(
    ("exc", "code", "retryable", "final"),
    [
        (RateLimitError("x", status=429), "rate_limited", True, False),
        # OpenAI's exhausted account: a 429 that no wait fixes (the cookbook processor retries it).
        (RateLimitError("x", status=429, code="insufficient_quota"), "insufficient_quota", False, True),
        (EndpointError("x", status=401, code="invalid_api_key"), "authentication_error", False, True),
        (EndpointError("x", status=403), "permission_denied", False, True),
        (EndpointError("x", status=404, code="model_not_found"), "not_found", False, True),
        (EndpointError("x", status=400), "http_error", False, False),
        (EndpointError("x", status=422), "http_error", False, False),
        (EndpointError("x", status=408), "server_error", True, False),
        (EndpointError("x", status=503), "server_error", True, False),
        (EndpointTimeout("x"), "timeout", True, False),
        (EndpointConnectionError("x"), "connection_error", True, False),
        (NoHealthyEndpoint("x"), "no_healthy_endpoint", True, False),
        (EndpointUnavailable("x", status=401), "endpoint_unavailable", False, True),
        (UsageError("x"), "invalid_request", False, False),
        (ValueError("x"), "internal_error", True, False),
    ],
)
def test_classify(exc: BaseException, code: str, retryable: bool, final: bool) -> None:
    fault = classify(exc)
    assert (fault.code, fault.retryable, fault.endpoint_final) == (code, retryable, final)
    if isinstance(exc, EndpointError):
        assert exc.retryable is retryable  # the property asks the same classifier


def test_outcomes_for_limits() -> None:
    assert classify(RateLimitError("x", status=429)).outcome is Outcome.RATE_LIMITED
    assert classify(EndpointError("x", status=503)).outcome is Outcome.OVERLOADED
    assert classify(EndpointTimeout("x")).outcome is Outcome.TIMEOUT
    assert classify(RateLimitError("x", status=429, code="insufficient_quota")).outcome is Outcome.ERROR
    assert classify(EndpointTimeout("x")).keeps_tokens  # the server may still be generating
    assert not classify(EndpointError("x", status=500)).keeps_tokens
