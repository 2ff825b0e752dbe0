"""Streamed native tool calls, merged by ``index`` into whole calls as soon as each one closes.

OpenAI-compatible servers stream a call in pieces: the first delta of a call carries its ``index``,
``id`` and name, later ones only the ``index`` and a piece of the ``arguments`` JSON, and the pieces
of several calls may interleave. :class:`ToolCallMerger` joins the pieces by ``index`` and reports
a call *the moment its arguments JSON closes* (it parses as an object), so the ``async``
strategy's native mode dispatches each call while the model is still writing the next one, rather
than when the turn ends as parallel function calling does. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from orchestra.chat import ToolCall

__all__ = ["MergedCall", "ToolCallMerger"]


@dataclass
class MergedCall:
    """One call being assembled from deltas.

    Attributes:
        index: its position in the response.
        id: the server's call id ('' until a delta names it).
        name: the function name (pieces joined).
        arguments: the arguments JSON so far.
        closed: True once the arguments parsed (the call was reported).
        parsed: the arguments, once closed.
    """

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""
    closed: bool = False
    parsed: dict[str, Any] = field(default_factory=dict)


class ToolCallMerger:
    """Joins tool-call deltas by index; reports each call once its arguments are whole."""

    def __init__(self) -> None:
        self.calls: dict[int, MergedCall] = {}

    def feed(self, deltas: list[ToolCall]) -> list[MergedCall]:
        """Add the deltas of one chunk; return the calls they completed, in index order."""
        touched: list[MergedCall] = []
        for delta in deltas:
            index = delta.index if delta.index is not None else len(self.calls)
            call = self.calls.setdefault(index, MergedCall(index))
            if delta.id and (not call.id or call.id == str(index)):
                call.id = delta.id
            if delta.name and delta.name != call.name:  # some servers repeat the whole name
                call.name += delta.name
            call.arguments += delta.arguments
            if call not in touched:
                touched.append(call)
        return [c for c in sorted(touched, key=lambda c: c.index) if self._close(c)]

    def close(self) -> list[MergedCall]:
        """The stream ended: every call not yet reported, in index order (its JSON may be broken)."""
        rest = [c for c in sorted(self.calls.values(), key=lambda c: c.index) if not c.closed]
        for call in rest:
            call.closed = True
        return rest

    def _close(self, call: MergedCall) -> bool:
        if call.closed or not call.name:
            return False
        text = call.arguments.strip()
        if not text.endswith("}"):
            return False
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return False
        if not isinstance(value, dict):
            return False
        call.closed = True
        call.parsed = value
        return True
