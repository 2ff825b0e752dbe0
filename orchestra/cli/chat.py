"""``orchestra chat``: a streamed answer from any endpoint.

Light at import (only typer): the chat types and the endpoint stack are imported inside the
command, so ``orchestra --help`` and other commands do not pay for the OpenAI SDK.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from orchestra.cli.help import example
from orchestra.cli.options import EndpointOpt, EndpointsFileOpt, ModelOpt, QuestionArg

if TYPE_CHECKING:
    from orchestra.chat import ChatRequest, Usage

__all__ = ["chat", "stream_answer"]


async def stream_answer(
    request: ChatRequest,
    endpoint: str | None,
    model: str | None,
    endpoints_file: Path | None,
    out: IO[str] | None = None,
) -> tuple[str, Usage]:
    """Stream one answer to ``out`` (stdout) and return its text and usage.

    Raises:
        UsageError: no endpoint serves the model asked for (see ``connect(check_models=True)``).
        EndpointError: the endpoint failed (after a few attempts).
    """
    from orchestra.chat import Usage
    from orchestra.endpoints.config import resolve_specs
    from orchestra.endpoints.stack import connect

    out = out or sys.stdout
    specs = resolve_specs(endpoint, model, endpoints_file)
    parts: list[str] = []
    usage = Usage()
    # Few attempts: an interactive user wants a quick, clear error from a dead endpoint.
    async with connect(specs, max_attempts=3, check_models=True) as conn:
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
    prompt: QuestionArg,
    endpoint: EndpointOpt = None,
    model: ModelOpt = None,
    endpoints: EndpointsFileOpt = None,
    system: Annotated[str | None, typer.Option(metavar="TEXT", help="A system message.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens to generate.")] = 256,
    temperature: Annotated[
        float | None, typer.Option(min=0.0, help="Sampling temperature (default: the server's).")
    ] = None,
) -> None:
    import anyio

    from orchestra.chat import ChatRequest, Message

    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=prompt))
    request = ChatRequest(messages=messages, max_tokens=max_tokens, temperature=temperature)
    _, usage = anyio.run(stream_answer, request, endpoint, model, endpoints)
    sys.stderr.write(f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens\n")


chat.__doc__ = "Stream an answer to QUESTION from an endpoint." + example(
    'orchestra chat "What is 2 + 3?"',
    'orchestra chat "Say hi" -e https://api.openai.com/v1 -m gpt-4o-mini',
    'OPENAI_BASE_URL=http://127.0.0.1:8787/v1 orchestra chat "hello"',
)
