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

``--endpoint`` on the command line takes ``local`` (the embedded model), a base URL, or the name
of an endpoint in the file. The file is ``--endpoints FILE``, else the one ``ORCHESTRA_ENDPOINTS``
names, else ``~/.config/orchestra/endpoints.toml`` when it exists (:func:`resolve_specs`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestra.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.redact import redact
from orchestra.text_files import read_user_text

__all__ = [
    "ENDPOINTS_ENV",
    "EndpointSpec",
    "default_endpoints_path",
    "endpoints_file_in_use",
    "load_endpoints",
    "resolve_specs",
]

LOCAL = "local"
ENDPOINTS_ENV = "ORCHESTRA_ENDPOINTS"
"""Environment variable naming the endpoints file when ``--endpoints`` is not given."""


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

    def raw_endpoint(
        self, model: str | None = None, *, base_url: str | None = None, timeout: float | None = None
    ) -> OpenAIEndpoint:
        """The bare HTTP endpoint this spec describes: its URL, key, name, timeout and Retry-After
        bound, with no limits, retries or metering (:func:`orchestra.endpoints.stack.build_endpoint`
        wraps it). ``model``, ``base_url`` and ``timeout`` override the spec's.

        Raises:
            UsageError: the key's environment variable is unset.
        """
        from orchestra.endpoints.openai import OpenAIEndpoint  # the HTTP stack, only when used

        return OpenAIEndpoint(
            base_url or self.base_url,
            model,
            api_key=self.api_key(),
            name=self.name,
            timeout=self.timeout if timeout is None else timeout,
            max_retry_after=self.max_retry_after,
        )


def load_endpoints(path: Path) -> list[EndpointSpec]:
    """Read and validate an endpoints TOML file.

    Raises:
        ConfigError: the file is missing, not TOML, or an entry is invalid (the message names it).
    """
    try:
        data = tomllib.loads(read_user_text(path))  # a BOM or CRLFs (Windows editors) are harmless
    except FileNotFoundError as exc:
        raise ConfigError(f"endpoints file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"endpoints file {path} is a directory, not a file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read endpoints file {path}: {exc.strerror or exc}") from exc
    except UsageError as exc:  # not UTF-8
        raise ConfigError(f"endpoints file {exc}") from None
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


def default_endpoints_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where an endpoints file is read from when neither ``--endpoints`` nor ``ORCHESTRA_ENDPOINTS``
    names one: ``$XDG_CONFIG_HOME/orchestra/endpoints.toml``, by default
    ``~/.config/orchestra/endpoints.toml``."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "orchestra" / "endpoints.toml"


def endpoints_file_in_use(
    endpoints_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The endpoints file a command reads: ``--endpoints``, else ``ORCHESTRA_ENDPOINTS``, else the
    default location if a file is there (:func:`default_endpoints_path`), else None."""
    environ = os.environ if environ is None else environ
    if endpoints_file is not None:
        return Path(endpoints_file)
    named = environ.get(ENDPOINTS_ENV)
    if named:
        return Path(named).expanduser()
    default = default_endpoints_path(environ)
    return default if default.is_file() else None


def resolve_specs(
    endpoint: str | None = None,
    model: str | None = None,
    endpoints_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[EndpointSpec]:
    """The endpoints a command should use, from its ``--endpoint/--model/--endpoints`` flags.

    With no ``--endpoint``, the first of these that is set decides:

    1. an endpoints file: ``--endpoints FILE``, else ``ORCHESTRA_ENDPOINTS``, else
       ``~/.config/orchestra/endpoints.toml`` if it exists: every endpoint of the file (those
       serving ``--model`` if given);
    2. ``OPENAI_BASE_URL`` (the openai SDK's convention; ``OPENAI_API_KEY`` is its key);
    3. the embedded local model.

    ``--endpoint`` takes ``local``, a base URL, or the name of an endpoint in the file;
    ``--model`` names the model (on a named endpoint, it overrides the file's).

    Raises:
        UsageError: an unknown name, a name without a file, or no endpoint serving ``--model``.
        ConfigError: the endpoints file is missing or invalid.
    """
    environ = os.environ if environ is None else environ
    path = endpoints_file_in_use(endpoints_file, environ)
    specs = load_endpoints(path) if path is not None else []
    if endpoint is None and specs:
        chosen = specs if model is None else [s for s in specs if s.model == model]
        if not chosen:
            served = ", ".join(sorted({s.model for s in specs if s.model})) or "none named"
            raise UsageError(f"no endpoint in {path} serves model {model!r}; its models: {served}")
        return chosen
    if endpoint is None:
        endpoint = environ.get("OPENAI_BASE_URL") or LOCAL
    if endpoint == LOCAL or endpoint.startswith(("http://", "https://")):
        name = (
            LOCAL if endpoint == LOCAL else redact(endpoint.rstrip("/"))
        )  # a password in the URL is no label
        return [EndpointSpec(name=name, base_url=endpoint, model=model)]
    for spec in specs:
        if spec.name == endpoint:
            return [spec.model_copy(update={"model": model}) if model else spec]
    if not specs:
        raise UsageError(
            f"unknown endpoint {endpoint!r}: use 'local', a base URL (http://...), or a name from "
            f"an endpoints file (--endpoints FILE, {ENDPOINTS_ENV}, or {default_endpoints_path(environ)})"
        )
    raise UsageError(f"unknown endpoint {endpoint!r}; {path} has: {', '.join(s.name for s in specs)}")
