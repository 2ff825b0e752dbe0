"""``orchestra chat``: a streamed answer from any endpoint.

Light at import (only typer): the chat types and the endpoint stack are imported inside the
command, so ``orchestra --help`` and other commands do not pay for the HTTP stack.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from orchestra.cli.help import example
from orchestra.cli.observe import observed
from orchestra.cli.options import (
    EndpointOpt,
    EndpointsFileOpt,
    JsonOpt,
    ModelOpt,
    QuestionArg,
    QuietOpt,
    TraceOpt,
    VerboseOpt,
)

if TYPE_CHECKING:
    from orchestra.chat import ChatRequest, Usage

__all__ = ["chat", "stream_answer"]


async def stream_answer(
    request: ChatRequest,
    endpoint: str | None,
    model: str | None,
    endpoints_file: Path | None,
    out: IO[str] | None = sys.stdout,
) -> tuple[str, Usage]:
    """Stream one answer to ``out`` (None: nowhere) and return its text and usage.

    Raises:
        UsageError: no endpoint serves the model asked for (see ``connect(check_models=True)``).
        EndpointError: the endpoint failed (after a few attempts).
    """
    from orchestra.chat import Usage
    from orchestra.endpoints.config import resolve_specs
    from orchestra.endpoints.stack import connect
    from orchestra.trace import Trace, current_trace, request_record

    specs = resolve_specs(endpoint, model, endpoints_file)
    parts: list[str] = []
    usage = Usage()
    trace = current_trace() or Trace(listeners=[])
    # Few attempts: an interactive user wants a quick, clear error from a dead endpoint.
    async with connect(specs, max_attempts=3, check_models=True) as conn:
        model = request.model or conn.default_model
        with trace.span("chat", "llm", model=model, request=request_record(request)) as span:
            async for chunk in conn.default.stream(request):
                if chunk.delta and chunk.index == 0:
                    parts.append(chunk.delta)
                    if out is not None:
                        out.write(chunk.delta)
                        out.flush()
                if chunk.usage is not None:
                    usage = chunk.usage
            span.attrs.update(
                response="".join(parts),
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
            )
    if out is not None:
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
    trace: TraceOpt = None,
    verbose: VerboseOpt = 0,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    import anyio

    from orchestra.chat import ChatRequest, Message

    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=prompt))
    with observed("chat", trace_file=trace, verbose=verbose, as_json=as_json):
        request = ChatRequest(messages=messages, max_tokens=max_tokens, temperature=temperature)
        out = None if as_json else sys.stdout
        text, usage = anyio.run(stream_answer, request, endpoint, model, endpoints, out)
    if as_json:
        sys.stdout.write(json.dumps({"answer": text, "usage": usage.model_dump()}) + "\n")
    elif not quiet:
        sys.stderr.write(f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens\n")


chat.__doc__ = "Stream an answer to QUESTION from an endpoint." + example(
    'orchestra chat "What is 2 + 3?"',
    'orchestra chat "Say hi" -e https://api.openai.com/v1 -m gpt-4o-mini',
    'OPENAI_BASE_URL=http://127.0.0.1:8787/v1 orchestra chat "hello"',
    'orchestra chat "hello" -v --trace chat.jsonl',
)
