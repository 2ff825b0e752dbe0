"""``orchestra chat`` and the foundation's ``orchestra demo``: a streamed answer from any endpoint."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import anyio
import typer
from rich.console import Console

from orchestra.chat import ChatRequest, Message, Usage
from orchestra.cli.options import EndpointOpt, EndpointsFileOpt, ModelOpt
from orchestra.endpoints.config import resolve_specs
from orchestra.endpoints.stack import connect

__all__ = ["chat", "stream_answer"]


async def stream_answer(
    request: ChatRequest,
    endpoint: str | None,
    model: str | None,
    endpoints_file: Path | None,
    out: TextIO | None = None,
) -> tuple[str, Usage]:
    """Stream one answer to ``out`` (stdout) and return its text and usage."""
    out = out or sys.stdout
    specs = resolve_specs(endpoint, model, endpoints_file)
    parts: list[str] = []
    usage = Usage()
    # Few attempts: an interactive user wants a quick, clear error from a dead endpoint.
    async with connect(specs, max_attempts=3) as conn:
        async for chunk in conn.default.stream(request):
            if chunk.delta and chunk.index == 0:
                parts.append(chunk.delta)
                out.write(chunk.delta)
                out.flush()
            if chunk.usage is not None:
                usage = chunk.usage
    out.write("\n")
    return "".join(parts), usage


def chat(
    prompt: Annotated[str, typer.Argument(help="What to ask.")],
    endpoint: EndpointOpt = None,
    model: ModelOpt = None,
    endpoints: EndpointsFileOpt = None,
    system: Annotated[str | None, typer.Option(help="A system message.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens to generate.")] = 256,
    temperature: Annotated[float | None, typer.Option(min=0.0, help="Sampling temperature.")] = None,
) -> None:
    """Stream an answer to PROMPT from an endpoint (the embedded model by default)."""
    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=prompt))
    request = ChatRequest(messages=messages, max_tokens=max_tokens, temperature=temperature)
    _, usage = anyio.run(stream_answer, request, endpoint, model, endpoints)
    Console(stderr=True).print(
        f"[dim]{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens[/dim]"
    )
