"""Keep secrets out of what orchestra writes: traces, logs, summaries and error messages.

Two kinds of secret are removed:

- *known values*: every API key an endpoint was given (:func:`register_secret`, called by
  :class:`~orchestra.endpoints.openai.OpenAIEndpoint`) and the values of environment variables
  whose names say they hold one (``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``);
- *shapes*: ``Authorization``/``api-key`` header values, ``Bearer`` tokens, ``sk-...`` keys and
  passwords in URLs.

A server may quote the key it was sent back in an error message (OpenAI's 401 says "Incorrect
API key provided: sk-..."), so errors from endpoints are redacted where they are made, not only
where they are shown.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

__all__ = ["REDACTED", "RedactFilter", "redact", "redact_value", "register_secret"]

REDACTED = "[REDACTED]"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_SENSITIVE_KEYS = frozenset({"authorization", "api_key", "api-key", "x-api-key", "proxy-authorization"})
_MIN_SECRET = 8  # shorter values ("1", "true") are not keys, and replacing them would garble text
_REGISTERED: set[str] = set()
_SHAPES = (
    # header lines or JSON fields: "Authorization: Bearer x", '"api-key": "x"'
    re.compile(
        r"(?i)(\b(?:proxy-)?authorization\b|\bx?-?api[-_]key\b)([\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+(?: [^\s\"',}]+)?)"
    ),
    re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{8,})"),
    re.compile(r"()()\b(sk-[A-Za-z0-9_-]{12,})"),
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)()([^/\s@]+)(?=@)"),
)


def register_secret(value: str | None) -> None:
    """Remember ``value`` (an API key) so that :func:`redact` removes it wherever it appears."""
    if value and len(value) >= _MIN_SECRET:
        _REGISTERED.add(value)


def _known() -> list[str]:
    values = set(_REGISTERED)
    for name, value in os.environ.items():
        if len(value) >= _MIN_SECRET and _SECRET_NAME.search(name):
            values.add(value)
    return sorted(values, key=len, reverse=True)  # longest first: a key containing another


def redact(text: str) -> str:
    """``text`` with every known secret value and secret-shaped token replaced by ``[REDACTED]``."""
    for value in _known():
        if value in text:
            text = text.replace(value, REDACTED)
    for shape in _SHAPES:
        text = shape.sub(_keep_label, text)
    return text


def _keep_label(match: re.Match[str]) -> str:
    if match.group(3) == REDACTED or match.group(3).startswith(REDACTED):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{REDACTED}"


def redact_value(value: Any) -> Any:
    """A copy of a JSON-like value with secrets redacted in every string, and the values of
    ``authorization`` / ``api_key`` fields replaced whole."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and k.lower() in _SENSITIVE_KEYS else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


class RedactFilter(logging.Filter):
    """A logging filter that redacts each record's message (attach it to a handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
