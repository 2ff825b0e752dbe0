"""A streamed answer laid out in time: SSE events grouped by the moment they are due.

Laying the whole stream out first (pure, no I/O) keeps the HTTP shell a loop of "sleep until due,
write", lets a dropped stream cut it at any batch, and writes all events that are due together in
one ``send`` (with infinite speed the whole stream is one write).
"""

from __future__ import annotations

from typing import Any

from orchestra.sim.content import Reply
from orchestra.sim.latency import Pace
from orchestra.sim.wire import DONE_EVENT, SimRequest, chunk_event, delta_choice

__all__ = ["sse_batches"]


def _first_delta(reply: Reply) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": "assistant", "content": ""}
    if reply.tool_calls:
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(reply.tool_calls)]
    return delta


def sse_batches(
    ident: str, created: int, request: SimRequest, replies: list[Reply], pace: Pace
) -> list[tuple[float, bytes]]:
    """The events of a streamed answer as ``(seconds after the request, bytes)`` batches.

    Token ``k`` of every choice is due at ``pace.token_time(k)``; the role (and any tool calls)
    go out with the first token, the finish reasons, the usage chunk (when
    ``stream_options.include_usage``) and ``[DONE]`` with the last.
    """
    steps = max([len(r.pieces) for r in replies] + [1])
    batches: list[tuple[float, bytes]] = []
    for k in range(steps):
        choices = [delta_choice(i, _first_delta(r)) for i, r in enumerate(replies)] if k == 0 else []
        choices += [
            delta_choice(i, {"content": r.pieces[k]}) for i, r in enumerate(replies) if k < len(r.pieces)
        ]
        events = [chunk_event(ident, created, request, [c]) for c in choices]
        batches.append((pace.token_time(k), b"".join(events)))
    tail = [
        chunk_event(ident, created, request, [delta_choice(i, {}, r.finish_reason)])
        for i, r in enumerate(replies)
    ]
    if request.include_usage:
        tail.append(
            chunk_event(
                ident, created, request, [], usage=(request.prompt_tokens, sum(r.tokens for r in replies))
            )
        )
    tail.append(DONE_EVENT)
    last_time, last = batches[-1]
    batches[-1] = (last_time, last + b"".join(tail))
    return _merge_due(batches)


def _merge_due(batches: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """Join consecutive batches due at the same moment (infinite speed: one write)."""
    merged: list[tuple[float, bytes]] = []
    for due, data in batches:
        if merged and merged[-1][0] == due:
            merged[-1] = (due, merged[-1][1] + data)
        else:
            merged.append((due, data))
    return merged
