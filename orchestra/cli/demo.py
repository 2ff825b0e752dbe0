"""``orchestra demo``: the main job on the embedded model, with no configuration."""

from __future__ import annotations

import anyio
from rich.console import Console

from orchestra.chat import ChatRequest
from orchestra.cli.chat import stream_answer

__all__ = ["demo"]

QUESTION = "What is 2+3? Answer in one short sentence."


def demo() -> None:
    """Ask the embedded local model a question and stream its answer (no API key needed)."""
    console = Console(stderr=True)
    console.print(f"[bold]orchestra demo[/bold] on the embedded model: {QUESTION}")
    anyio.run(stream_answer, ChatRequest.of(QUESTION, max_tokens=64, temperature=0.0), None, None, None)
