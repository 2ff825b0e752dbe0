"""Secrets are removed from any text they are embedded in, and shapes of secrets are caught unregistered."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.redact import REDACTED, RedactFilter, redact, redact_value, register_secret

KEY = "k3y-" + "Q7x9" * 6
register_secret(KEY)


@given(st.text(max_size=40), st.text(max_size=40))
def test_a_registered_key_never_survives(before: str, after: str) -> None:
    assert KEY not in redact(before + KEY + after + KEY)


def test_secret_shapes_are_redacted_without_being_registered() -> None:
    text = (
        'Authorization: Bearer abc.DEF-123_xyz; {"api_key": "plainvalue99"}; '
        "https://bob:s3cretpass@example.test/v1; sk-proj-AAAABBBBCCCCDDDD"
    )
    clean = redact(text)
    for secret in ("abc.DEF-123_xyz", "plainvalue99", "s3cretpass", "sk-proj-AAAABBBBCCCCDDDD"):
        assert secret not in clean
    assert clean.count(REDACTED) == 4 and "https://bob:" in clean  # labels are kept, values go


def test_environment_keys_and_sensitive_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-abcdefgh12345")
    assert redact_value({"note": "tok-abcdefgh12345", "authorization": "anything", "n": 3}) == {
        "note": REDACTED,
        "authorization": REDACTED,
        "n": 3,
    }
    assert redact("plain words stay") == "plain words stay"


def test_the_logging_filter_redacts_arguments() -> None:
    record = logging.LogRecord("orchestra.x", logging.INFO, __file__, 1, "sent %s", (KEY,), None)
    assert RedactFilter().filter(record)
    assert record.getMessage() == f"sent {REDACTED}"
