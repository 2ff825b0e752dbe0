"""Endpoint configuration: the TOML file and the --endpoint/--model shorthands."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.endpoints.config import load_endpoints, resolve_specs
from orchestra.errors import ConfigError, UsageError

GOOD = """
[[endpoints]]
name = "a"
base_url = "http://127.0.0.1:9/v1/"
model = "m1"
rpm = 600
tpm = 100000
input_price = 0.15
output_price = 0.6

[[endpoints]]
name = "b"
base_url = "local"
model = "m2"
api_key_env = "ORCHESTRA_TEST_KEY"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "endpoints.toml"
    path.write_text(text)
    return path


def test_file_parses_and_normalises(tmp_path: Path) -> None:
    a, b = load_endpoints(write(tmp_path, GOOD))
    assert (a.name, a.base_url, a.model, a.rpm, a.tpm, a.window) == (
        "a",
        "http://127.0.0.1:9/v1",
        "m1",
        600,
        100000,
        60.0,
    )
    assert b.is_local and not a.is_local


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not toml [", "not valid TOML"),
        ("x = 1", "[[endpoints]]"),
        ('[[endpoints]]\nname = "a"\nbase_url = "ftp://x"', "base_url"),
        ('[[endpoints]]\nname = "a"\nbase_url = "local"\nrpm = -5', "rpm"),
        ('[[endpoints]]\nname = "a"\nbase_url = "local"\nspeed = 3', "speed"),
        (
            '[[endpoints]]\nname = "a"\nbase_url = "local"\n[[endpoints]]\nname = "a"\nbase_url = "local"',
            "duplicate",
        ),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        load_endpoints(write(tmp_path, text))
    assert needle in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_endpoints(tmp_path / "nope.toml")


def test_shorthands(tmp_path: Path) -> None:
    (only,) = resolve_specs()
    assert only.is_local
    (url,) = resolve_specs("http://127.0.0.1:8787/v1", "sim-model")
    assert (url.base_url, url.model) == ("http://127.0.0.1:8787/v1", "sim-model")
    path = write(tmp_path, GOOD)
    (named,) = resolve_specs("a", None, path)
    assert named.rpm == 600
    (overridden,) = resolve_specs("a", "other", path)
    assert overridden.model == "other"
    assert [s.name for s in resolve_specs(None, None, path)] == ["a", "b"]
    assert [s.name for s in resolve_specs(None, "m2", path)] == ["b"]
    with pytest.raises(UsageError, match="has: a, b"):
        resolve_specs("zzz", None, path)
    with pytest.raises(UsageError, match="unknown endpoint"):
        resolve_specs("zzz")


def test_api_key_from_named_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, b = load_endpoints(write(tmp_path, GOOD))
    monkeypatch.delenv("ORCHESTRA_TEST_KEY", raising=False)
    with pytest.raises(UsageError, match="ORCHESTRA_TEST_KEY"):
        b.api_key()
    monkeypatch.setenv("ORCHESTRA_TEST_KEY", "sk-test")
    assert b.api_key() == "sk-test"
