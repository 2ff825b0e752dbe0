"""A streamed answer laid out in time: SSE events grouped by the moment they are due.

Laying the whole stream out first (pure, no I/O) keeps the HTTP shell a loop of "sleep until due,
write", lets a dropped stream cut it at any batch, and writes all events that are due together in
one ``send`` (with infinite speed the whole stream is one write).

Tool calls stream as OpenAI streams them: after any content, each call's first fragment carries
its ``index``, ``id``, ``type`` and ``function.name`` (with empty ``arguments``), and the following
fragments carry pieces of ``function.arguments`` under the same ``index``. The name fragment
costs one token and each argument piece one token, paced like content tokens.
"""

from __future__ import annotations

import re
from typing import Any

from orchestra.sim.content import Reply
from orchestra.sim.latency import Pace
from orchestra.sim.wire import DONE_EVENT, SimRequest, chunk_event, delta_choice

__all__ = ["reply_deltas", "sse_batches"]

_TOKEN = re.compile(r"\s*\S+")  # the unit content is streamed in (orchestra.sim.content)


def _call_deltas(index: int, call: dict[str, Any]) -> list[dict[str, Any]]:
    function = call["function"]
    head = {
        "index": index,
        "id": call["id"],
        "type": "function",
        "function": {"name": function["name"], "arguments": ""},
    }
    pieces = _TOKEN.findall(function["arguments"])
    return [{"tool_calls": [head]}] + [
        {"tool_calls": [{"index": index, "function": {"arguments": piece}}]} for piece in pieces
    ]


def reply_deltas(reply: Reply) -> list[list[dict[str, Any]]]:
    """The ``delta`` objects of one choice, grouped by token (the k-th group is due with token k).

    A text answer opens with ``{"role": "assistant", "content": ""}``; an answer of tool calls
    only opens with its first call's name fragment carrying ``role`` and ``content: null``, as
    OpenAI sends them.
    """
    steps: list[list[dict[str, Any]]] = [[{"content": piece}] for piece in reply.pieces]
    for index, call in enumerate(reply.tool_calls):
        steps += [[d] for d in _call_deltas(index, call)]
    if reply.pieces or not steps:
        opening: dict[str, Any] = {"role": "assistant", "content": ""}
        return [[opening, *steps[0]], *steps[1:]] if steps else [[opening]]
    steps[0] = [{"role": "assistant", "content": None, **steps[0][0]}]
    return steps


def sse_batches(
    ident: str, created: int, request: SimRequest, replies: list[Reply], pace: Pace
) -> list[tuple[float, bytes]]:
    """The events of a streamed answer as ``(seconds after the request, bytes)`` batches.

    Token ``k`` of every choice is due at ``pace.token_time(k)``; the finish reasons, the usage
    chunk (when ``stream_options.include_usage``) and ``[DONE]`` go out with the last token.
    """
    per_choice = [reply_deltas(r) for r in replies]
    steps = max([len(d) for d in per_choice] + [1])
    batches: list[tuple[float, bytes]] = []
    for k in range(steps):
        events = [
            chunk_event(ident, created, request, [delta_choice(i, delta)])
            for i, deltas in enumerate(per_choice)
            if k < len(deltas)
            for delta in deltas[k]
        ]
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
