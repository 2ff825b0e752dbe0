"""Chat with the embedded local model: no API key, no configuration.

python examples/chat_local.py "What is 2+3?"
"""

from __future__ import annotations

import sys

import anyio

from orchestra import ChatRequest
from orchestra.endpoints import connect, resolve_specs


async def main(question: str) -> None:
    async with connect(resolve_specs("local")) as conn:
        # Streamed: print tokens as they come.
        async for chunk in conn.default.stream(ChatRequest.of(question, max_tokens=48, temperature=0.0)):
            print(chunk.delta, end="", flush=True)
        print()
        # Whole, with two samples of the same prompt (n=2) and the usage the server reported.
        reply = await conn.default.complete(ChatRequest.of(question, max_tokens=24, n=2, temperature=0.8))
        for choice in reply.choices:
            print(f"sample {choice.index}: {choice.message.content!r}")
        print(
            f"usage: {reply.usage.prompt_tokens} prompt + {reply.usage.completion_tokens} completion tokens"
        )


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "What is 2+3?")
