"""CML, the in-context protocol of asynchronous function calling (AsyncLM, Gim et al.), and its
incremental parser.

The model writes calls and waits inside its own text; only the runtime writes results::

    [CALL] search("Nile length") [END]          a call; the runtime numbers calls 1, 2, ... in order
    [CALL] calculator(expression="${1} * 2") [END]   ${k} in text, or a bare $k, is call k's result
    [TRAP][END]                                  wait for at least one pending result
    [INTR] 1 [HEAD] 6650 km [END]                an interrupt: call 1's result (runtime only)

:class:`CMLParser` turns streamed model text into :class:`Text`, :class:`CallFrame`,
:class:`Trap`, :class:`Malformed` and :class:`Forged` events. It is right at any chunk boundary:
a marker split across chunks (``"[CA"`` + ``"LL]"``) is held back until it is known, so the events
do not depend on how the stream was cut (a property test feeds random chunkings). A malformed
frame (an unclosed call, a call inside a call, an over-long or empty body) becomes a
:class:`Malformed` event carrying repair feedback, never an exception. ``[INTR]`` written by the
model is a forgery: the parser reports :class:`Forged` and cuts the text there, whether or not the
server honoured ``[INTR]`` as a stop sequence.

Pure: no I/O, no clock. The call body (``fn(args)``) is left to the planner to read.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CALL",
    "END",
    "HEAD",
    "INTR",
    "STOP",
    "TRAP",
    "CMLEvent",
    "CMLParser",
    "CallFrame",
    "Forged",
    "Malformed",
    "Text",
    "Trap",
    "escape",
    "interrupt_frame",
    "parse_cml",
]

CALL = "[CALL]"
END = "[END]"
INTR = "[INTR]"
HEAD = "[HEAD]"
TRAP = "[TRAP]"
MARKERS = (CALL, END, INTR, HEAD, TRAP)
STOP = (INTR,)
"""Stop sequences of every CML request: the model may not write an interrupt. (``[TRAP]`` is not
one: a server drops the stop text and reports ``stop`` either way, so a trap could not be told from
the end of an answer; the runtime closes the stream itself when the parser reads ``[TRAP]``.)"""


@dataclass(frozen=True, slots=True)
class Text:
    """Model text outside any frame (reasoning, or the answer)."""

    text: str


@dataclass(frozen=True, slots=True)
class CallFrame:
    """A closed ``[CALL] body [END]`` frame; ``body`` is stripped (e.g. ``search("x")``)."""

    body: str


@dataclass(frozen=True, slots=True)
class Trap:
    """``[TRAP]``: the model waits for at least one pending result."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """A frame that cannot be a call; ``message`` is repair feedback for the model."""

    message: str


@dataclass(frozen=True, slots=True)
class Forged:
    """The model wrote ``[INTR]``, which only the runtime may write; the text was cut before it."""


CMLEvent = Text | CallFrame | Trap | Malformed | Forged


class CMLParser:
    """Incremental CML parser: feed chunks, get events; right at any chunk boundary.

    Args:
        max_call_chars: a call body longer than this is malformed (the rest of the frame is dropped).
    """

    def __init__(self, *, max_call_chars: int = 4000) -> None:
        self.max_call_chars = max_call_chars
        self.inside_call = False
        """True between ``[CALL]`` and its ``[END]``: no interrupt may be delivered there."""
        self.done = False
        """True after a forged ``[INTR]``; later text is ignored."""
        self.text = ""
        """Every character accepted so far (frames included, cut at a forged ``[INTR]``)."""
        self._buffer = ""  # unparsed text: a call body so far, or a possible marker prefix
        self._overflow = False  # the current call was too long: drop it up to its [END]

    @property
    def at_boundary(self) -> bool:
        """Whether an interrupt may be delivered now: outside any frame, no marker half-read."""
        return not self.inside_call and not self._buffer and not self.done

    def feed(self, chunk: str) -> list[CMLEvent]:
        """Consume the next chunk of model output; return the events it completed, in order."""
        if self.done or not chunk:
            return []
        self._buffer += chunk
        events: list[CMLEvent] = []
        while not self.done:
            before = (len(self._buffer), self.inside_call)
            if self.inside_call:
                self._in_call(events)
            else:
                self._in_text(events)
            if (len(self._buffer), self.inside_call) == before:
                break
        return events

    def close(self) -> list[CMLEvent]:
        """The output ended: flush held text; an unclosed call is :class:`Malformed`."""
        if self.done:
            return []
        events: list[CMLEvent] = []
        rest, self._buffer = self._buffer, ""
        self._accept(rest)
        if self.inside_call:
            self.inside_call = False
            if not self._overflow:
                events.append(Malformed(f"a call was not closed with {END}: {CALL} {_short(rest.strip())}"))
            self._overflow = False
        elif rest:
            events.append(Text(rest))
        self.done = True
        return events

    # -- states ---------------------------------------------------------------------------------

    def _in_text(self, events: list[CMLEvent]) -> None:
        buf = self._buffer
        at, marker = _first_marker(buf, MARKERS)
        if marker is None:
            keep = _partial_suffix(buf)
            emit = buf[: len(buf) - keep]
            if emit:
                self._accept(emit)
                events.append(Text(emit))
                self._buffer = buf[len(emit) :]
            return
        if at:
            self._accept(buf[:at])
            events.append(Text(buf[:at]))
        self._buffer = buf[at + len(marker) :]
        if marker == INTR:
            self.done = True
            self._buffer = ""
            events.append(Forged())
            return
        self._accept(marker)
        if marker == CALL:
            self.inside_call = True
        elif marker == TRAP:
            events.append(Trap())
        # A stray [END] (e.g. the one after [TRAP]) or [HEAD] outside a frame carries no meaning.

    def _in_call(self, events: list[CMLEvent]) -> None:
        buf = self._buffer
        at, marker = _first_marker(buf, MARKERS)
        if marker is None:
            if self._overflow:
                keep = _partial_suffix(buf)
                self._accept(buf[: len(buf) - keep])
                self._buffer = buf[len(buf) - keep :]
            elif len(buf) - _partial_suffix(buf) > self.max_call_chars:
                self._overflow = True
                events.append(self._too_long())
            return
        body = buf[:at]
        self._accept(body)
        if not self._overflow and len(body) > self.max_call_chars:
            self._overflow = True
            events.append(self._too_long())
        if marker in (END, HEAD):
            if marker == HEAD:  # `[CALL] k [HEAD] code [END]`, the paper's form: read the code part
                self._buffer = buf[at + len(marker) :]
                self._accept(marker)
                return
            self._buffer = buf[at + len(marker) :]
            self._accept(marker)
            self.inside_call = False
            overflow, self._overflow = self._overflow, False
            if not overflow:
                events.append(self._frame(body))
            return
        # [CALL], [TRAP] or [INTR] before this call's [END]: the frame is broken; the marker then
        # counts as written outside any frame.
        self.inside_call = False
        if not self._overflow:
            events.append(
                Malformed(f"a call was not closed with {END} before {marker}: {CALL} {_short(body.strip())}")
            )
        self._overflow = False
        self._buffer = buf[at:]

    def _too_long(self) -> Malformed:
        return Malformed(
            f"a call is longer than {self.max_call_chars} characters; keep arguments short "
            f"and close each call with {END}"
        )

    def _frame(self, body: str) -> CMLEvent:
        code = body.strip()
        if not code:
            return Malformed(f"an empty call: write {CALL} tool_name(arguments) {END}")
        return CallFrame(code)

    def _accept(self, text: str) -> None:
        self.text += text


def _first_marker(text: str, markers: tuple[str, ...]) -> tuple[int, str | None]:
    """The earliest marker in ``text`` and where it starts."""
    best, found = len(text), None
    start = text.find("[")
    while start != -1 and start < best:
        for marker in markers:
            if text.startswith(marker, start):
                return start, marker
        start = text.find("[", start + 1)
    return best, found


def _partial_suffix(text: str) -> int:
    """Length of the longest suffix of ``text`` that could be the start of a marker."""
    start = text.rfind("[", max(0, len(text) - max(len(m) for m in MARKERS)))
    while start != -1:
        tail = text[start:]
        if any(m.startswith(tail) for m in MARKERS):
            return len(tail)
        start = text.find("[", start + 1)
    return 0


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def escape(value: str) -> str:
    """``value`` with CML markers defused (``[END]`` -> ``(END)``), so a result cannot close or
    open a frame in the model's context."""
    for marker in MARKERS:
        if marker in value:
            value = value.replace(marker, "(" + marker[1:-1] + ")")
    return value


def interrupt_frame(call_id: int, value: str) -> str:
    """``[INTR] k [HEAD] value [END]``, with markers in ``value`` defused."""
    return f"{INTR} {call_id} {HEAD} {escape(value)} {END}"


def parse_cml(text: str, cuts: tuple[int, ...] = ()) -> list[CMLEvent]:
    """All events of a whole text fed in pieces cut at ``cuts``, adjacent text events joined."""
    parser = CMLParser()
    events: list[CMLEvent] = []
    last = 0
    for cut in sorted(cuts):
        events += parser.feed(text[last:cut])
        last = cut
    events += parser.feed(text[last:])
    events += parser.close()
    return join_text(events)


def join_text(events: list[CMLEvent]) -> list[CMLEvent]:
    """Adjacent :class:`Text` events merged (their split depends on chunking, nothing else does)."""
    out: list[CMLEvent] = []
    for event in events:
        if isinstance(event, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].text + event.text)
        else:
            out.append(event)
    return out
