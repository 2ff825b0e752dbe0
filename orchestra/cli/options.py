"""Flags and arguments shared by the commands: one definition each, so they read the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "EndpointOpt",
    "EndpointsFileOpt",
    "JsonOpt",
    "ModelOpt",
    "QuestionArg",
    "QuietOpt",
    "TraceOpt",
    "VerboseOpt",
    "not_blank",
]


def not_blank(value: str) -> str:
    """Refuse an empty or all-blank question before any model is started (a usage error, exit 2)."""
    if not value.strip():
        raise typer.BadParameter("must not be empty or blank")
    return value


EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        "-e",
        metavar="URL|NAME",
        help="A base URL such as http://127.0.0.1:8787/v1, a name from the endpoints file, or "
        "'local' (the embedded model). Default: the endpoints file if there is one, else "
        "OPENAI_BASE_URL if set, else local.",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        metavar="MODEL",
        help="Model to request; it must be one the endpoint serves (GET /v1/models). Optional when "
        "the endpoint serves exactly one.",
    ),
]
EndpointsFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--endpoints",
        metavar="FILE",
        help="TOML file of [[endpoints]] (name, base_url, model, rpm, tpm, prices ...). Default: "
        "$ORCHESTRA_ENDPOINTS, else ~/.config/orchestra/endpoints.toml if it exists.",
    ),
]
QuestionArg = Annotated[str, typer.Argument(metavar="QUESTION", help="What to ask.", callback=not_blank)]

# -- observing a run (shared by every command that talks to a model) ----------------------------
TraceOpt = Annotated[
    Path | None,
    typer.Option(
        "--trace",
        help="Write the run's spans to FILE as JSONL (times in seconds from the start; "
        "read it with `orchestra trace show FILE` or `orchestra trace plot FILE -o x.svg`).",
        metavar="FILE",
    ),
]
VerboseOpt = Annotated[
    int,
    typer.Option(
        "--verbose",
        "-v",
        count=True,
        help="Log retries, 429 pauses, learned limits, plan repairs and replans to stderr (-vv: debug; "
        "or set ORCHESTRA_LOG=info|debug).",
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", help='Print one JSON object; a failure prints {"error": {"type", "message", ...}}.'
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print the answer only (no live view).")]

# The simulated model of the latency replays (``bench compiler``, ``bench bfcl --mode latency``).
TtftOpt = Annotated[float, typer.Option("--ttft", min=0.0, help="Simulated time to first token, seconds.")]
TpsOpt = Annotated[float, typer.Option("--tps", min=0.0, help="Simulated tokens per second (0 = instant).")]
