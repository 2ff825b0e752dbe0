"""``orchestra sim``: run the simulated OpenAI-compatible server from the shell.

Thin: flags become a :class:`~orchestra.sim.SimConfig`, :func:`~orchestra.sim.serve_sim` serves
it until Ctrl-C / SIGTERM, and what was served is printed at exit. ``python -m orchestra.sim``
runs the same ``serve`` command.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from orchestra.cli.help import example, new_app

if TYPE_CHECKING:
    from orchestra.sim import ModelLatency, SimConfig, SimStats

__all__ = ["app", "main", "serve"]


def _loop_options() -> dict[str, Any]:
    # uvloop where it is installed (a dependency off Windows). uvicorn would pick it by itself only
    # when it owns the loop; here anyio does. Measured: raw aiohttp at 100 in flight against the
    # simulator process took 1.11-1.12x the ideal on asyncio's loop and 1.03-1.07x on uvloop, i.e.
    # the server itself added ~50 ms to a 500 ms answer at the median.
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}


app = new_app("The simulated OpenAI-compatible server (latency, rate limits, faults).")


@app.callback()
def _group() -> None:
    """Run the simulated OpenAI-compatible server (latency, rate limits, faults)."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def _model_latency(specs: list[str]) -> dict[str, ModelLatency]:
    from pydantic import ValidationError

    from orchestra.sim import ModelLatency

    out = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        ttft, _, tps = values.partition(":")
        try:
            if not sep or not name:
                raise ValueError
            out[name] = ModelLatency(ttft=float(ttft or 0), tokens_per_second=float(tps or 0))
        except (ValueError, ValidationError):
            raise _fail(
                f"--model-latency {spec!r}: expected NAME=TTFT[:TOKENS_PER_SECOND], e.g. big=0.8:40"
            ) from None
    return out


def _build_config(config_json: str | None, fields: dict[str, Any]) -> SimConfig:
    from pydantic import ValidationError

    from orchestra.sim import SimConfig

    try:
        if config_json:
            return SimConfig.model_validate_json(config_json)
        return SimConfig(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise _fail(f"invalid simulator settings: {problems}") from None


def _watch_stdin() -> None:
    """Exit when stdin closes: a parent that dies (even by SIGKILL) takes this server with it."""
    sys.stdin.buffer.read()
    os.kill(os.getpid(), signal.SIGTERM)


async def _serve_until_signal(config: SimConfig, host: str, port: int, exit_on_stdin_eof: bool) -> SimStats:
    import anyio

    from orchestra.sim import serve_sim

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with serve_sim(config, host, port) as sim:
            print(f"orchestra sim listening on {sim.url}", flush=True)
            if exit_on_stdin_eof:
                threading.Thread(target=_watch_stdin, daemon=True, name="sim-stdin").start()
            async for _ in signals:
                break
    return sim.stats


def _show(stats: SimStats) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="orchestra sim served", show_header=False)
    for name in ("requests", "ok", "rate_limited", "bursts_429", "errors_5xx", "hangs", "drops", "malformed",
                 "bad_requests", "prompt_tokens", "completion_tokens"):  # fmt: skip
        table.add_row(name, str(getattr(stats, name)))
    for model, counts in sorted(stats.per_model.items()):
        table.add_row(f"model {model}", f"{counts.requests} requests, {counts.ok} ok")
    Console().print(table)


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")] = 8787,
    ttft: Annotated[
        float | None, typer.Option(help="Seconds to the first token.", show_default="0.0")
    ] = None,
    tps: Annotated[
        float | None,
        typer.Option(
            "--tps", "--tokens-per-second", help="Tokens/s after the first; 0 = instant.", show_default="0.0"
        ),
    ] = None,
    model_latency: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME=TTFT[:TPS]", help="Per-model latency, e.g. big=0.8:40; repeatable."),
    ] = None,
    content: Annotated[
        Literal["generate", "echo", "script"] | None,
        typer.Option(
            help="generate (filler words), echo (the last user message) or script.", show_default="generate"
        ),
    ] = None,
    script: Annotated[
        Path | None, typer.Option(metavar="FILE", help="JSONL script of answers for --content script.")
    ] = None,
    completion_tokens: Annotated[
        int | None, typer.Option(help="Length of generated answers in tokens.", show_default="16")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME", help="A model listed by /v1/models; repeatable.", show_default="sim-model"
        ),
    ] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per window (default: no limit).")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per window (default: no limit).")] = None,
    window: Annotated[
        float | None, typer.Option(help="Rate-limit window in seconds.", show_default="60.0")
    ] = None,
    error_rate: Annotated[
        float | None, typer.Option(help="Share of 500/502/503 answers.", show_default="0.0")
    ] = None,
    hang_rate: Annotated[
        float | None, typer.Option(help="Share of hung requests.", show_default="0.0")
    ] = None,
    hang_seconds: Annotated[
        float | None, typer.Option(help="How long a hung request is held.", show_default="3600.0")
    ] = None,
    drop_rate: Annotated[
        float | None, typer.Option(help="Share of connections dropped mid-body.", show_default="0.0")
    ] = None,
    malformed_rate: Annotated[
        float | None, typer.Option(help="Share of 200s with an invalid body.", show_default="0.0")
    ] = None,
    burst_429_rate: Annotated[
        float | None,
        typer.Option("--burst-429-rate", help="Share of 429s sent under the limit.", show_default="0.0"),
    ] = None,
    burst_retry_seconds: Annotated[
        float | None, typer.Option(help="retry-after of a burst 429, seconds.", show_default="0.2")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for faults and content (default: random).")] = None,
    config_json: Annotated[str | None, typer.Option(hidden=True, help="A whole SimConfig as JSON.")] = None,
    json_stats: Annotated[bool, typer.Option(help="Print the final stats as one JSON line.")] = False,
    exit_on_stdin_eof: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    import anyio

    from orchestra.errors import ConfigError

    fields = {
        "ttft": ttft, "tokens_per_second": tps, "content": content, "script": script,
        "completion_tokens": completion_tokens, "models": model or None, "rpm": rpm, "tpm": tpm,
        "window_seconds": window, "error_rate": error_rate, "hang_rate": hang_rate, "hang_seconds": hang_seconds,
        "drop_rate": drop_rate, "malformed_rate": malformed_rate, "burst_429_rate": burst_429_rate,
        "burst_retry_seconds": burst_retry_seconds, "seed": seed,
        "model_latency": _model_latency(model_latency) if model_latency else None,
    }  # fmt: skip
    config = _build_config(config_json, fields)
    try:
        stats = anyio.run(
            _serve_until_signal, config, host, port, exit_on_stdin_eof, backend_options=_loop_options()
        )
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if json_stats:
        print(json.dumps(stats.to_dict(times=True), separators=(",", ":")), flush=True)
    else:
        _show(stats)


serve.__doc__ = "Serve the simulator until Ctrl-C, then print what it served." + example(
    "orchestra sim serve --port 8787 --ttft 0.5",
    "orchestra sim serve --rpm 60 --error-rate 0.05 --model gpt-4o-mini",
    'orchestra chat "hello" -e http://127.0.0.1:8787/v1',
)

app.command()(serve)


def main() -> None:
    """``python -m orchestra.sim``: the ``serve`` command on its own."""
    typer.run(serve)
