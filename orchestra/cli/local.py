"""``orchestra local``: the embedded model (llama.cpp serving SmolLM2-135M on 127.0.0.1)."""

from __future__ import annotations

import typer
from rich.console import Console

from orchestra.endpoints.local import LocalModel
from orchestra.errors import OrchestraError

__all__ = ["app"]

app = typer.Typer(
    help="The embedded local model: llama.cpp serving SmolLM2-135M on 127.0.0.1.", no_args_is_help=True
)


@app.callback()
def _group() -> None:
    """The embedded local model: llama.cpp serving SmolLM2-135M on 127.0.0.1."""


@app.command()
def serve(
    port: int = typer.Option(0, min=0, max=65535, help="TCP port on 127.0.0.1 (0 picks a free one)."),
    parallel: int = typer.Option(4, min=1, help="Parallel decoding slots (concurrent requests)."),
    ctx: int = typer.Option(8192, min=64, help="Context size in tokens, shared by the slots."),
) -> None:
    """Serve the embedded model over the OpenAI chat-completions API until Ctrl-C."""
    err = Console(stderr=True)
    try:
        with LocalModel(parallel=parallel, ctx=ctx, port=port) as model:
            typer.echo(f"orchestra local model listening on {model.base_url} (model {model.model_name})")
            code = model.wait()
    except KeyboardInterrupt:
        return  # the `with` already stopped the server
    except OrchestraError as exc:
        err.print(f"error: {exc}", style="red", soft_wrap=True, markup=False, highlight=False)
        raise typer.Exit(1) from None
    err.print(f"error: the local model server exited with code {code}", style="red", soft_wrap=True)
    raise typer.Exit(1)
