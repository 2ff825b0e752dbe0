"""Endpoint configuration: a TOML file of endpoints, and the one-flag shorthands of the CLI.

A file looks like::

    [[endpoints]]
    name = "openai"
    base_url = "https://api.openai.com/v1"
    model = "gpt-4o-mini"
    api_key_env = "OPENAI_API_KEY"   # the key is read from this variable, never stored in the file
    rpm = 500                        # requests per window (a minute unless `window` says otherwise)
    tpm = 200000                     # tokens per window
    max_concurrency = 50
    input_price = 0.15               # USD per million prompt tokens
    output_price = 0.60              # USD per million completion tokens

``--endpoint`` on the command line takes ``local`` (the embedded model, the default), a base URL,
or the name of an endpoint in the file given with ``--endpoints``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestra.errors import ConfigError, UsageError

__all__ = ["EndpointSpec", "load_endpoints", "resolve_specs"]

LOCAL = "local"


class EndpointSpec(BaseModel):
    """How to reach and pace one endpoint (one base URL serving one model)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Label in progress, traces and accounting; unique in a file.")
    base_url: str = Field(
        description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8787/v1, or 'local'."
    )
    model: str | None = Field(
        default=None, description="Model name sent to the server; requests may override it."
    )
    api_key_env: str | None = Field(default=None, description="Environment variable holding the API key.")
    rpm: int | None = Field(default=None, gt=0, description="Requests per window; None: unknown (adapt).")
    tpm: int | None = Field(default=None, gt=0, description="Tokens per window; None: unlimited.")
    window: float = Field(default=60.0, gt=0, description="Length of the rate-limit window in seconds.")
    max_concurrency: int | None = Field(default=None, gt=0, description="Cap on requests in flight.")
    timeout: float = Field(
        default=120.0, gt=0, description="Seconds before a request is abandoned and retried."
    )
    max_retry_after: float = Field(
        default=60.0,
        ge=0,
        description="Longest server-requested wait (Retry-After) honoured, in seconds; beyond it our "
        "own jittered backoff is used (the openai SDK's rule).",
    )
    input_price: float = Field(default=0.0, ge=0, description="USD per million prompt tokens.")
    output_price: float = Field(default=0.0, ge=0, description="USD per million completion tokens.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value != LOCAL and not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be 'local' or start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @property
    def is_local(self) -> bool:
        return self.base_url == LOCAL

    def api_key(self) -> str | None:
        """The key from ``api_key_env``; a named variable that is unset is a usage error."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise UsageError(f"endpoint {self.name}: environment variable {self.api_key_env} is not set")
        return key


def load_endpoints(path: Path) -> list[EndpointSpec]:
    """Read and validate an endpoints TOML file.

    Raises:
        ConfigError: the file is missing, not TOML, or an entry is invalid (the message names it).
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"endpoints file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read endpoints file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    entries = data.get("endpoints")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected one or more [[endpoints]] tables")
    specs = []
    for i, entry in enumerate(entries, 1):
        try:
            specs.append(EndpointSpec.model_validate(entry))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "entry"
            label = entry.get("name", f"#{i}") if isinstance(entry, dict) else f"#{i}"
            raise ConfigError(f"{path}: endpoint {label}: {where}: {first['msg']}") from exc
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: duplicate endpoint names: {', '.join(dupes)}")
    return specs


def resolve_specs(
    endpoint: str | None = None, model: str | None = None, endpoints_file: Path | None = None
) -> list[EndpointSpec]:
    """The endpoints a command should use, from its ``--endpoint/--model/--endpoints`` flags.

    - no flags: the embedded local model;
    - ``--endpoints FILE`` alone: every endpoint of the file;
    - ``--endpoint local`` or a URL: that one endpoint (``--model`` names the model);
    - ``--endpoint NAME``: that entry of the file (``--model`` overrides its model).

    Raises:
        UsageError: an unknown name, or a name without a file.
    """
    specs = load_endpoints(endpoints_file) if endpoints_file is not None else []
    if endpoint is None and specs:
        chosen = specs if model is None else [s for s in specs if s.model == model]
        if not chosen:
            raise UsageError(f"no endpoint in {endpoints_file} serves model {model!r}")
        return chosen
    endpoint = endpoint or LOCAL
    if endpoint == LOCAL or endpoint.startswith(("http://", "https://")):
        name = LOCAL if endpoint == LOCAL else endpoint
        return [EndpointSpec(name=name, base_url=endpoint, model=model)]
    for spec in specs:
        if spec.name == endpoint:
            return [spec.model_copy(update={"model": model}) if model else spec]
    if not specs:
        raise UsageError(
            f"unknown endpoint {endpoint!r}: use 'local', a base URL (http://...), or a name from --endpoints FILE"
        )
    raise UsageError(
        f"unknown endpoint {endpoint!r}; {endpoints_file} has: {', '.join(s.name for s in specs)}"
    )
