"""The one classification of failures: :func:`classify` says what an exception means for every layer.

Limits, retries, routing, metering and the batch runner all ask the same question of a failed
request (may another attempt succeed? is the endpoint itself unusable? does it say the server is
congested? what label does it get?) and must all answer it the same way, so it is answered here,
once. Peers that classify in three places drift apart: the OpenAI cookbook processor retries a
429 but misses OpenAI's own ``insufficient_quota`` code, and retries it 18 times per row.

Final errors (:attr:`Fault.endpoint_final`) are those that no wait will fix and that concern the
endpoint rather than the request: an exhausted quota (429 ``insufficient_quota``), a key that is
refused (401/403), a model the server does not have (404), an endpoint that never answered at all.
They are final on the first answer, and the pool marks the endpoint unusable for that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from orchestra.errors import (
    EndpointError,
    EndpointTimeout,
    EndpointUnavailable,
    NoHealthyEndpoint,
    OrchestraError,
    UsageError,
)

__all__ = ["RETRYABLE_CODES", "Fault", "Outcome", "classify"]


class Outcome(StrEnum):
    """How a request ended, as far as limits care."""

    OK = "ok"
    RATE_LIMITED = "rate_limited"  # 429: pause the endpoint, cut concurrency
    OVERLOADED = "overloaded"  # 503: cut concurrency
    TIMEOUT = "timeout"  # no answer in time: cut concurrency
    ERROR = "error"  # any other failure: says nothing about load
    CANCELLED = "cancelled"  # the caller gave up: says nothing at all

    @property
    def congested(self) -> bool:
        """Whether this outcome is a sign the server is overloaded (AIMD's loss signal)."""
        return self in (Outcome.RATE_LIMITED, Outcome.OVERLOADED, Outcome.TIMEOUT)


# Error codes whose rows are redone on resume (and re-queued within a run). Everything else is a
# final error, redone only with --retry-failed: a 400 or a malformed line fails the same way again.
RETRYABLE_CODES = frozenset(
    {"rate_limited", "timeout", "connection_error", "server_error", "no_healthy_endpoint", "internal_error"}
)

# OpenAI error codes (the body's ``error.code`` or ``error.type``) that no wait will fix.
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})
_FINAL_STATUS_CODES = {401: "authentication_error", 403: "permission_denied", 404: "not_found"}


@dataclass(frozen=True, slots=True)
class Fault:
    """What one failure means.

    Attributes:
        code: the label it is counted and recorded under (a batch row's ``error.code``):
            ``rate_limited``, ``timeout``, ``connection_error``, ``server_error``, ``http_error``,
            ``insufficient_quota``, ``authentication_error``, ``permission_denied``,
            ``not_found``, ``endpoint_unavailable``, ``no_healthy_endpoint``,
            ``invalid_request``, ``orchestra_error``, ``internal_error`` or ``cancelled``.
        retryable: another attempt (after a wait) may succeed.
        endpoint_final: the endpoint itself is unusable (quota, key, model, never reachable):
            stop sending to it, whatever the request.
        outcome: what the failure says about load (drives adaptive concurrency and pauses).
        keeps_tokens: the server may have worked on it (timeout, dropped connection), so the
            up-front token debit stays; False when an error status proves nothing was generated.
    """

    code: str
    retryable: bool
    endpoint_final: bool
    outcome: Outcome
    keeps_tokens: bool

    @property
    def row_retryable(self) -> bool:
        """Whether a batch row that ended with this fault is redone on resume."""
        return self.code in RETRYABLE_CODES


def classify(exc: BaseException) -> Fault:
    """Classify ``exc`` (any exception; endpoint errors are read by status and error code)."""
    if isinstance(exc, EndpointUnavailable):
        return Fault("endpoint_unavailable", False, True, Outcome.ERROR, False)
    if isinstance(exc, NoHealthyEndpoint):
        return Fault("no_healthy_endpoint", True, False, Outcome.ERROR, True)
    if isinstance(exc, EndpointTimeout):
        return Fault("timeout", True, False, Outcome.TIMEOUT, True)
    if isinstance(exc, EndpointError):
        return _classify_endpoint_error(exc)
    if isinstance(exc, UsageError):
        return Fault("invalid_request", False, False, Outcome.ERROR, False)
    if isinstance(exc, OrchestraError):
        return Fault("orchestra_error", False, False, Outcome.ERROR, True)
    if isinstance(exc, Exception):
        return Fault("internal_error", True, False, Outcome.ERROR, True)
    return Fault("cancelled", False, False, Outcome.CANCELLED, True)


def _classify_endpoint_error(exc: EndpointError) -> Fault:
    status, code = exc.status, exc.code
    if code in _QUOTA_CODES:
        return Fault("insufficient_quota", False, True, Outcome.ERROR, False)
    if status is None:
        return Fault("connection_error", True, False, Outcome.ERROR, True)
    if status == 429:
        return Fault("rate_limited", True, False, Outcome.RATE_LIMITED, False)
    if status in _FINAL_STATUS_CODES:
        return Fault(_FINAL_STATUS_CODES[status], False, True, Outcome.ERROR, False)
    if status in (408, 409) or status >= 500:
        outcome = Outcome.OVERLOADED if status == 503 else Outcome.ERROR
        return Fault("server_error", True, False, outcome, False)
    return Fault("http_error", False, False, Outcome.ERROR, False)
