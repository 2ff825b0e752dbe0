"""``orchestra local``: the embedded model (llama.cpp serving SmolLM2-135M on 127.0.0.1)."""

from __future__ import annotations

import typer

from orchestra.cli.boundary import report
from orchestra.cli.help import example, new_app

__all__ = ["app"]

app = new_app("The embedded local model: llama.cpp serving SmolLM2-135M on 127.0.0.1.")


@app.callback()
def _group() -> None:
    """The embedded local model: llama.cpp serving SmolLM2-135M on 127.0.0.1."""


@app.command()
def serve(
    port: int = typer.Option(0, min=0, max=65535, help="TCP port on 127.0.0.1 (0 picks a free one)."),
    parallel: int = typer.Option(4, min=1, help="Parallel decoding slots (concurrent requests)."),
    ctx: int = typer.Option(8192, min=64, help="Context size in tokens, shared by the slots."),
) -> None:
    from orchestra.endpoints.local import LocalModel

    try:
        with LocalModel(parallel=parallel, ctx=ctx, port=port) as model:
            typer.echo(f"orchestra local model listening on {model.base_url} (model {model.model_name})")
            code = model.wait()
    except KeyboardInterrupt:
        return  # the `with` already stopped the server
    except Exception as exc:  # the boundary (also when this group runs on its own): one line
        raise typer.Exit(report(exc)) from None
    typer.echo(f"error: the local model server exited with code {code}", err=True)
    raise typer.Exit(1)


serve.__doc__ = (
    "Serve the embedded model over the OpenAI chat-completions API until Ctrl-C.\n\n"
    "The model (SmolLM2-135M, ~100 MB) is downloaded once into the cache; set "
    "ORCHESTRA_LOCAL_MODEL=/path/model.gguf to serve another GGUF."
    + example(
        "orchestra local serve --port 8080", 'orchestra chat "What is 2 + 3?" -e http://127.0.0.1:8080/v1'
    )
)
