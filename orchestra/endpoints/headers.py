"""Rate-limit and Retry-After headers, parsed safely whatever the server sends.

Every function here is total: garbage, ``inf``, ``nan``, negative numbers, dates in the past or
far future, and numbers too large for a float give None (or a bounded value), never an exception
and never an unbounded wait. A server's wait is honoured only up to a cap, as the openai SDK does
(``_calculate_retry_timeout``: a Retry-After above 60 s is ignored and the SDK's own backoff used
instead); past the cap the caller falls back to its own jittered backoff. Without this, one
``retry-after: inf`` paused an endpoint forever and ``retry-after: 86400`` for a day.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC

__all__ = [
    "DEFAULT_MAX_RETRY_AFTER",
    "honoured_wait",
    "parse_duration",
    "parse_number",
    "parse_retry_after",
]

DEFAULT_MAX_RETRY_AFTER = 60.0  # seconds: the openai SDK's bound on a server's Retry-After

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|h|m|s)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_number(text: str | None) -> float | None:
    """A finite, non-negative number, or None (garbage, ``inf``, ``nan``, negative, missing)."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def parse_duration(text: str | None) -> float | None:
    """Seconds in a Go-style duration as OpenAI sends it (``"1s"``, ``"6m0s"``, ``"20ms"``, ``"0.5s"``).

    A bare number is read as seconds. Returns None when ``text`` is not a finite, non-negative
    duration.
    """
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    number = parse_number(text)
    if number is not None:
        return number
    total, pos = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0 or not math.isfinite(total):
        return None
    return total


def _http_date(text: str, now: float) -> float | None:
    """Seconds from ``now`` (epoch) until an HTTP date (RFC 9110 §5.6.7), or None."""
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # RFC 9110: HTTP dates are in GMT
    try:
        return max(0.0, parsed.timestamp() - now)
    except (OverflowError, OSError, ValueError):
        return None


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, or None when it asks nothing we can read.

    Reads ``retry-after-ms`` (OpenAI's, preferred), then ``retry-after`` as seconds (RFC 9110
    §10.2.3), a Go-style duration (``1.5s``, which some proxies send), or an HTTP date. Header
    names must be lower-case. The value is finite and non-negative but not capped: see
    :func:`honoured_wait`.

    Args:
        headers: response headers with lower-case names.
        now: the current time as a Unix timestamp, for HTTP dates (default: ``time.time()``).
    """
    ms = parse_number(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0
    value = headers.get("retry-after")
    if value is None or not value.strip():
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    return _http_date(value.strip(), time.time() if now is None else now)


def honoured_wait(seconds: float | None, cap: float = DEFAULT_MAX_RETRY_AFTER) -> float | None:
    """The server's wait if we honour it: finite, non-negative and at most ``cap``; else None.

    None tells the caller to use its own (jittered) backoff instead, as the openai SDK does.
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0 or seconds > cap:
        return None
    return seconds
