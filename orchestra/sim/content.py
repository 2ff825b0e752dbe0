"""What the simulator answers: generated words, an echo of the prompt, or lines of a script.

A token is a word here (the same estimate :func:`~orchestra.sim.wire.count_tokens` uses for
prompts), so ``usage`` is exact with respect to the text served and ``max_tokens`` truncates at a
word boundary with ``finish_reason="length"``, as a real server would.

Script files are JSONL. Each line is one of::

    {"content": "text"}                                  served in turn, cycling
    {"match": "substring", "content": "text"}            served when the last user message contains it
    {"match": "weather", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
    {"match": "substring", "once": true, "content": "text"}   served at most once

In ``generate`` mode a request that offers ``tools`` (and does not say ``tool_choice: "none"``)
is answered with one native call of a seeded choice among them, its arguments generated from the
function's JSON schema (required properties; strings are words of :data:`VOCABULARY`), so
function-calling clients run against the simulator without a script.

Matching lines are tried first, in file order (first match wins); requests that match none get
the next unconditional line. A ``once`` line is used up by the first request it answers, so
several ``once`` lines with the same ``match`` script a multi-turn conversation in order (a ReAct
run's turns, a planner then its joiner) whatever the prompt format. Tool calls let planners that
use native function calling (the "parallel" strategy of docs/design.md) run against the simulator.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestra.errors import ConfigError, UsageError
from orchestra.sim.config import SimConfig
from orchestra.sim.wire import BadRequest, SimRequest, count_tokens
from orchestra.text_files import read_user_text

__all__ = ["VOCABULARY", "ContentSource", "Reply", "ScriptLine", "load_script"]

# Generated answers are drawn from this list: plain words, so whitespace tokenisation is exact.
VOCABULARY = tuple(
    """the a of to and in is it that for on with as was at by this be from or are an not have but which
    model token answer plan task tool call result value data graph node edge query search lookup join
    stream chunk batch limit window retry error server client request response latency budget sample
    fast slow red green blue river mountain city paper table window light sound water stone tree cloud
    one two three four five six seven eight nine ten first second last next every each some many""".split()
)

_TOKEN = re.compile(r"\s*\S+")  # one word with the whitespace before it: pieces re-join to the text


@dataclass(frozen=True, slots=True)
class Reply:
    """One choice's answer.

    Args:
        pieces: the text, one token per piece, in streaming order.
        finish_reason: "stop", "length" or "tool_calls".
        tool_calls: wire-form tool calls (``{"id", "type", "function": {"name", "arguments"}}``).
        tool_tokens: tokens charged for the tool calls' arguments.
    """

    pieces: tuple[str, ...]
    finish_reason: str
    tool_calls: tuple[dict[str, Any], ...] = ()
    tool_tokens: int = 0

    @property
    def text(self) -> str | None:
        """The content (None for a tool-call-only answer, as OpenAI sends it)."""
        if self.tool_calls and not self.pieces:
            return None
        return "".join(self.pieces)

    @property
    def tokens(self) -> int:
        """Completion tokens of this choice."""
        return len(self.pieces) + self.tool_tokens


@dataclass(frozen=True, slots=True)
class ScriptLine:
    """One line of a script file."""

    line: int
    match: str | None
    content: str | None
    tool_calls: tuple[dict[str, Any], ...] = ()
    once: bool = False


def _tool_call(raw: Any, line: int, index: int) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ValueError("each tool call needs a 'name'")
    arguments = raw.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    call_id = raw.get("id") or f"call_sim_{line}_{index}"
    return {"id": call_id, "type": "function", "function": {"name": raw["name"], "arguments": arguments}}


def _script_line(text: str, line: int) -> ScriptLine:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a line must be a JSON object")
    content, match, calls = data.get("content"), data.get("match"), data.get("tool_calls") or []
    if content is not None and not isinstance(content, str):
        raise ValueError("'content' must be a string")
    if match is not None and not isinstance(match, str):
        raise ValueError("'match' must be a string")
    if content is None and not calls:
        raise ValueError("a line needs 'content' or 'tool_calls'")
    if not isinstance(calls, list):
        raise ValueError("'tool_calls' must be a list")
    once = data.get("once", False)
    if not isinstance(once, bool):
        raise ValueError("'once' must be true or false")
    return ScriptLine(
        line=line,
        match=match,
        content=content,
        tool_calls=tuple(_tool_call(c, line, i) for i, c in enumerate(calls)),
        once=once,
    )


def load_script(path: Path) -> list[ScriptLine]:
    """Read a script file (blank lines skipped).

    Raises:
        ConfigError: the file is missing, empty, or a line is invalid (with its line number).
    """
    try:
        text = read_user_text(path)  # a BOM or CRLFs (Windows editors) are harmless
    except OSError as exc:
        raise ConfigError(f"simulator script {path}: {exc.strerror or exc}") from exc
    except UsageError as exc:  # not UTF-8
        raise ConfigError(f"simulator script {exc}") from None
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            lines.append(_script_line(raw, number))
        except ValueError as exc:
            raise ConfigError(f"simulator script {path}, line {number}: {exc}") from exc
    if not lines:
        raise ConfigError(f"simulator script {path} has no lines")
    return lines


def _pieces(text: str, max_tokens: int | None) -> tuple[tuple[str, ...], str]:
    pieces = tuple(_TOKEN.findall(text))
    if max_tokens is not None and len(pieces) > max_tokens:
        return pieces[:max_tokens], "length"
    return pieces, "stop"


class ContentSource:
    """Builds the replies of a request according to ``SimConfig.content``.

    Args:
        config: the content mode, script and generated length.
        rng: the seeded generator for generated words (its own, so faults do not shift content).
    """

    def __init__(self, config: SimConfig, rng: random.Random) -> None:
        self._mode = config.content
        self._length = config.completion_tokens
        self._rng = rng
        script = load_script(config.script) if config.content == "script" and config.script else []
        self._matching = [s for s in script if s.match is not None]
        self._cycle = [s for s in script if s.match is None]
        self._turn = 0
        self._used: set[int] = set()  # line numbers of `once` lines already served
        self._generated = 0  # generated tool calls so far (their ids)

    def replies(self, request: SimRequest) -> list[Reply]:
        """One reply per choice (``n``).

        Raises:
            BadRequest: a script has no line for this request.
        """
        return [self._reply(request) for _ in range(request.n)]

    def _reply(self, request: SimRequest) -> Reply:
        if self._mode == "echo":
            pieces, finish = _pieces(request.last_user, request.max_tokens)
            return Reply(pieces, finish)
        if self._mode == "script":
            return self._scripted(request)
        if request.tools:
            return self._generated_call(request)
        length = self._length if request.max_tokens is None else min(self._length, request.max_tokens)
        words = self._rng.choices(VOCABULARY, k=length)
        pieces = tuple(w if i == 0 else " " + w for i, w in enumerate(words))
        return Reply(pieces, "length" if length < self._length else "stop")

    def _generated_call(self, request: SimRequest) -> Reply:
        function = self._rng.choice(request.tools)
        arguments = json.dumps(self._value(function.get("parameters") or {"type": "object"}, depth=0))
        self._generated += 1
        call = {
            "id": f"call_sim_gen_{self._generated}",
            "type": "function",
            "function": {"name": function["name"], "arguments": arguments},
        }
        return Reply((), "tool_calls", (call,), count_tokens(arguments) + 1)

    def _value(self, schema: Any, depth: int) -> Any:
        """A seeded value of a JSON schema: objects get their required properties, arrays one item."""
        if not isinstance(schema, dict):
            return self._rng.choice(VOCABULARY)
        if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
            return self._rng.choice(schema["enum"])
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = kind[0] if kind else None
        if kind == "object" or (kind is None and "properties" in schema):
            properties = schema.get("properties") or {}
            required = [r for r in schema.get("required") or [] if r in properties]
            return {} if depth > 3 else {r: self._value(properties[r], depth + 1) for r in required}
        if kind == "array":
            return [] if depth > 3 else [self._value(schema.get("items"), depth + 1)]
        if kind == "integer":
            return self._rng.randint(0, 100)
        if kind == "number":
            return round(self._rng.uniform(0, 100), 2)
        if kind == "boolean":
            return self._rng.random() < 0.5
        if kind == "null":
            return None
        return self._rng.choice(VOCABULARY)

    def _scripted(self, request: SimRequest) -> Reply:
        line = next(
            (s for s in self._matching if s.match in request.last_user and s.line not in self._used),  # type: ignore[operator]
            None,
        )
        if line is not None and line.once:
            self._used.add(line.line)
        if line is None:
            if not self._cycle:
                raise BadRequest("simulator script: no line matches the last user message", "messages")
            line = self._cycle[self._turn % len(self._cycle)]
            self._turn += 1
        pieces, finish = _pieces(line.content or "", request.max_tokens)
        if line.tool_calls:
            tokens = sum(count_tokens(c["function"]["arguments"]) + 1 for c in line.tool_calls)
            return Reply(pieces, "tool_calls", line.tool_calls, tokens)
        return Reply(pieces, finish)
