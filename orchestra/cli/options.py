"""Flags shared by every command that talks to a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["EndpointOpt", "EndpointsFileOpt", "ModelOpt"]

EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        "-e",
        help="'local' (the embedded model, the default), a base URL such as http://127.0.0.1:8787/v1, "
        "or a name from --endpoints.",
    ),
]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model name to request.")]
EndpointsFileOpt = Annotated[
    Path | None,
    typer.Option("--endpoints", help="TOML file of endpoints (name, base_url, model, rpm, tpm, prices ...)."),
]
