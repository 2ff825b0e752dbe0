"""Batch input and output rows: the OpenAI Batch API JSONL and a simple prompt JSONL.

Input, one JSON object a line, in either form:

- the OpenAI Batch API form: ``{"custom_id", "method": "POST", "url": "/v1/chat/completions",
  "body": {<chat-completions request>}}``;
- a simple form: ``{"id", "prompt" | "messages", "model"?, "endpoint"?, "params"?}`` (``id`` may be
  left out: the row is then called ``line-N``, stable as long as the input file is).

Output is the Batch API output form, one line per input row::

    {"id", "custom_id", "response": {"status_code": 200, "request_id", "body": <chat.completion>}, "error": null}
    {"id", "custom_id", "response": null, "error": {"code", "message"}}

Errors are errors: a failed row has ``response: null`` and an ``error`` object, never an error
string in the answer field (prompto writes ``"error": ...`` text as if it were a response; docs/design.md,
batch). An input line that does not parse becomes a :class:`BadLine`, then an error row with code
``invalid_input`` carrying its line number; the run goes on.

Input is streamed: :class:`JsonlSource` reads one line at a time and keeps, for rows waiting to be
sent, only a :class:`LineRef` (line number, byte offset, length); the line is read again
(``os.pread``) when a worker takes it. A queued row therefore costs ~100 bytes whatever the
prompt's size, which is what keeps 100,000 rows far below 200 MB.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from orchestra.chat import ChatRequest, ChatResponse, Message
from orchestra.errors import UsageError
from orchestra.faults import RETRYABLE_CODES, classify

__all__ = [
    "DUPLICATE_ID",
    "RETRYABLE_CODES",
    "BadLine",
    "BatchResult",
    "BatchRow",
    "IterableSource",
    "JsonlSource",
    "LineRef",
    "RowSource",
    "dumps_row",
    "error_code",
    "error_row",
    "journal_key",
    "ok_row",
    "parse_line",
    "parse_object",
    "row_state",
]

DUPLICATE_ID = "duplicate_custom_id"  # the error code of a row whose custom_id an earlier row has
_BOM = b"\xef\xbb\xbf"
_GENERATED = re.compile(r"line-\d+(~\d+)?")
_REQUEST_ID = re.compile(r"request-\d+(~\d+)?")  # the ids IterableSource generates

# Chat-completion body fields that map onto ChatRequest's own fields; the rest go to ``extra``.
_REQUEST_FIELDS = (
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "n",
    "response_format",
    "tools",
    "tool_choice",
)
# We always ask for a whole answer: the output row holds a chat.completion body, not chunks.
_DROPPED_FIELDS = frozenset({"messages", "stream", "stream_options"})
_CHAT_URLS = ("/v1/chat/completions", "/chat/completions")


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One request of a batch.

    Args:
        custom_id: the caller's id, unique in the batch; the output row carries it back.
        request: the chat request to send.
        model: the model the row asks for (routes it to that model's endpoint pool), if any.
        endpoint: the endpoint (pool) the row names explicitly (simple form), if any.
        line: 1-based line number in the input file, when it came from one.
    """

    custom_id: str
    request: ChatRequest
    model: str | None = None
    endpoint: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class BadLine:
    """An input line that is not a valid request; it becomes an ``invalid_input`` error row.

    Args:
        custom_id: the id found on the line, else ``line-N``.
        line: 1-based line number.
        message: what is wrong, starting with ``line N:``.
    """

    custom_id: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class LineRef:
    """Where a row lives in the input file: enough to read it again, ~100 bytes in memory."""

    line: int
    offset: int
    length: int


# -- parsing ----------------------------------------------------------------------------------


def parse_line(raw: bytes | str, line: int, *, default_id: str | None = None) -> BatchRow | BadLine | None:
    """Parse one input line; None for a blank line (not a row).

    A UTF-8 byte-order mark (which Windows tools put at the start of a file) is skipped. Never
    raises: whatever is wrong with the line is reported in the :class:`BadLine`.

    Args:
        raw: the line.
        line: its 1-based number.
        default_id: the id of a row that has none (default ``line-N``; :class:`JsonlSource`
            gives one that no real id in the file uses).
    """
    generated = default_id or f"line-{line}"
    if isinstance(raw, bytes):
        if raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return BadLine(generated, line, f"line {line}: not UTF-8: {exc}")
    else:
        text = raw.removeprefix("\ufeff")
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return BadLine(generated, line, f"line {line}: not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return BadLine(generated, line, f"line {line}: expected a JSON object, got {type(obj).__name__}")
    try:
        return parse_object(obj, line=line, default_id=generated)
    except UsageError as exc:
        return BadLine(_id_of(obj) or generated, line, f"line {line}: {exc}")


def parse_object(obj: dict[str, Any], *, line: int | None = None, default_id: str | None = None) -> BatchRow:
    """Turn one decoded input object (either form) into a :class:`BatchRow`.

    Args:
        obj: the decoded JSON object.
        line: its line number, used for the default id and messages.
        default_id: the id to use when the object has none (simple form only).

    Raises:
        UsageError: the object is not a valid request in either form.
    """
    if "body" in obj:
        return _parse_batch_api(obj, line)
    return _parse_simple(obj, line, default_id)


def _id_of(obj: dict[str, Any]) -> str | None:
    value = obj.get("custom_id", obj.get("id"))
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def _parse_batch_api(obj: dict[str, Any], line: int | None) -> BatchRow:
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise UsageError("custom_id must be a non-empty string")
    method = obj.get("method", "POST")
    if not isinstance(method, str) or method.upper() != "POST":
        raise UsageError(f"method must be POST, got {method!r}")
    url = obj.get("url", _CHAT_URLS[0])
    if not isinstance(url, str) or not url.rstrip("/").endswith(_CHAT_URLS[1]):
        raise UsageError(f"only {_CHAT_URLS[0]} is supported, got url {url!r}")
    body = obj["body"]
    if not isinstance(body, dict):
        raise UsageError("body must be a JSON object")
    request = _request(body.get("messages"), body, "body")
    return BatchRow(custom_id, request, model=request.model, line=line)


def _parse_simple(obj: dict[str, Any], line: int | None, default_id: str | None) -> BatchRow:
    custom_id = _id_of(obj)
    if custom_id is None:
        if "id" in obj or "custom_id" in obj:
            raise UsageError("id must be a non-empty string or an integer")
        custom_id = default_id or (f"line-{line}" if line is not None else None)
        if custom_id is None:
            raise UsageError("the request has no id")
    params = obj.get("params", {})
    if not isinstance(params, dict):
        raise UsageError("params must be a JSON object")
    if "prompt" in obj:
        if not isinstance(obj["prompt"], str):
            raise UsageError("prompt must be a string")
        messages: Any = [{"role": "user", "content": obj["prompt"]}]
    elif "messages" in obj:
        messages = obj["messages"]
    else:
        raise UsageError("expected 'body' (Batch API form), or 'prompt' or 'messages' (simple form)")
    model = obj.get("model", params.get("model"))
    endpoint = obj.get("endpoint")
    if endpoint is not None and not isinstance(endpoint, str):
        raise UsageError("endpoint must be a string")
    request = _request(messages, {**params, "model": model}, "params")
    return BatchRow(custom_id, request, model=request.model, endpoint=endpoint, line=line)


def _request(messages: Any, fields: dict[str, Any], where: str) -> ChatRequest:
    if not isinstance(messages, list) or not messages:
        raise UsageError("messages must be a non-empty list")
    known = {k: fields[k] for k in _REQUEST_FIELDS if fields.get(k) is not None}
    extra = {k: v for k, v in fields.items() if k not in _REQUEST_FIELDS and k not in _DROPPED_FIELDS}
    try:
        return ChatRequest(messages=[Message.model_validate(m) for m in messages], extra=extra, **known)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{where}: {loc}: {first['msg']}" if loc else f"{where}: {first['msg']}") from exc
    except TypeError as exc:  # e.g. a non-dict message
        raise UsageError(f"{where}: {exc}") from exc


# -- sources ----------------------------------------------------------------------------------


def _unused(candidate: str, reserved: set[str]) -> str:
    """``candidate``, or ``candidate~k`` with the first k that no real id in ``reserved`` uses."""
    base, k = candidate, 0
    while candidate in reserved:
        k += 1
        candidate = f"{base}~{k}"
    return candidate


def _real_id(item: Any) -> str | None:
    """The id a Python batch item gives itself (None when it leaves the id to us)."""
    if isinstance(item, BatchRow):
        return item.custom_id
    if isinstance(item, dict):
        return _id_of(item)
    return None


@runtime_checkable
class RowSource(Protocol):
    """Where a batch's rows come from: scanned once, each queued row loaded again when sent."""

    def scan(self) -> Iterator[tuple[Any, BatchRow | BadLine]]:
        """Every row in input order, with a small ticket to :meth:`load` it again later."""
        ...

    def load(self, ticket: Any) -> BatchRow:
        """The row a ticket from :meth:`scan` stands for."""
        ...

    def close(self) -> None:
        """Release the file, if any."""
        ...


class JsonlSource:
    """A JSONL input file, read line by line, never whole.

    Args:
        path: the input file.

    Raises:
        UsageError: the file cannot be opened.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise UsageError(f"cannot read input {self.path}: {exc.strerror}") from exc
        self._reserved: set[str] | None = None

    def generated_id(self, line: int) -> str:
        """The id of line ``line`` when it has none: ``line-N``, unless a real id in the file is
        already ``line-N``; then ``line-N~1`` (or the next number no real id uses).

        Stable across runs of the same file, and never equal to a real id, so a malformed line's
        error row cannot take the place of a valid row that happens to be called ``line-N``.
        """
        if self._reserved is None:
            self._reserved = self._real_generated_like_ids()
        return _unused(f"line-{line}", self._reserved)

    def _real_generated_like_ids(self) -> set[str]:
        """Real ids of the form ``line-N[~k]``; a byte search first, so most files are not parsed."""
        found = False
        with open(self.path, "rb") as handle:
            while block := handle.read(1 << 20):
                if b"line-" in block or b"\\u" in block:
                    found = True
                    break
        reserved: set[str] = set()
        if not found:
            return reserved
        with open(self.path, "rb") as handle:
            for raw in handle:
                try:
                    obj = json.loads(raw.removeprefix(_BOM))
                except (ValueError, UnicodeDecodeError):
                    continue
                if isinstance(obj, dict):
                    for key in ("custom_id", "id"):
                        value = obj.get(key)
                        if isinstance(value, str) and _GENERATED.fullmatch(value):
                            reserved.add(value)
        return reserved

    def scan(self) -> Iterator[tuple[LineRef, BatchRow | BadLine]]:
        offset = 0
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                ref = LineRef(number, offset, len(raw))
                offset += len(raw)
                parsed = parse_line(raw, number, default_id=self.generated_id(number))
                if parsed is not None:
                    yield ref, parsed

    def load(self, ticket: LineRef) -> BatchRow:
        raw = os.pread(self._fd, ticket.length, ticket.offset)
        parsed = parse_line(raw, ticket.line, default_id=self.generated_id(ticket.line))
        if not isinstance(parsed, BatchRow):
            raise UsageError(f"{self.path} changed while the batch ran (line {ticket.line})")
        return parsed

    def count_lines(self) -> int:
        """Number of lines, by counting newlines in 1 MiB blocks (a cheap upper bound on rows)."""
        count, last = 0, b"\n"
        with open(self.path, "rb") as handle:
            while block := handle.read(1 << 20):
                count += block.count(b"\n")
                last = block[-1:]
        return count + (last != b"\n")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class IterableSource:
    """Rows given in Python: :class:`BatchRow`, ``ChatRequest``, a prompt string, or an input dict.

    Rows without an id are called ``request-N`` (N counts from 0 in iteration order), unless a
    real id anywhere in the input is already ``request-N``: then ``request-N~1`` (or the next
    number no real id uses), so a generated id never takes a real row's place, wherever in the
    input the real row comes. To know every real id before the first is generated, a one-shot
    iterator (a generator) is read to its end first, keeping only references: the batch engine
    queues every row's ticket as soon as it is read anyway, so this holds no more in memory. A
    re-iterable input (a list) is walked twice instead.

    Args:
        items: the requests; read once more for their ids when re-iterable.
    """

    def __init__(self, items: Iterable[BatchRow | ChatRequest | str | dict[str, Any]]) -> None:
        self._items = items

    def scan(self) -> Iterator[tuple[BatchRow | BadLine, BatchRow | BadLine]]:
        items = self._items
        if iter(items) is items:  # an iterator: a second pass would find it empty
            items = list(items)
        reserved = {cid for cid in map(_real_id, items) if cid is not None and _REQUEST_ID.fullmatch(cid)}
        for index, item in enumerate(items):
            row = self._row(item, index, _unused(f"request-{index}", reserved))
            yield row, row

    @staticmethod
    def _row(item: Any, index: int, default_id: str) -> BatchRow | BadLine:
        if isinstance(item, BatchRow):
            return item
        if isinstance(item, ChatRequest):
            return BatchRow(default_id, item, model=item.model)
        if isinstance(item, str):
            return BatchRow(default_id, ChatRequest.of(item))
        if isinstance(item, dict):
            try:
                return parse_object(item, default_id=default_id)
            except UsageError as exc:
                return BadLine(_id_of(item) or default_id, index + 1, f"request {index}: {exc}")
        return BadLine(default_id, index + 1, f"request {index}: unsupported type {type(item).__name__}")

    def load(self, ticket: BatchRow) -> BatchRow:
        return ticket

    def close(self) -> None:
        return None


# -- output rows ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One finished row, as :func:`orchestra.batch.run` yields it.

    Args:
        custom_id: the row's id.
        row: the output line (Batch API output form), as written to the output file.
        response: the answer, None for an error row.
        lane: the endpoint pool that served (or failed) it; None when it never reached one.
        line: its input line number, when it came from a file.
        attempts: times it was sent (runner-level; the endpoint's own retries are inside each).
    """

    custom_id: str
    row: dict[str, Any]
    response: ChatResponse | None = None
    lane: str | None = None
    line: int | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """Whether the row was answered."""
        return self.response is not None

    @property
    def error(self) -> dict[str, Any] | None:
        """The error object (``code``, ``message``) of a failed row."""
        return self.row.get("error")

    @property
    def text(self) -> str:
        """The answer's text ('' for an error row)."""
        return self.response.text if self.response is not None else ""


def ok_row(custom_id: str, response: ChatResponse) -> dict[str, Any]:
    """The Batch API output row of a successful request."""
    return {
        "id": _row_id(),
        "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": response.id or _row_id(), "body": response.to_wire()},
        "error": None,
    }


def error_row(custom_id: str, code: str, message: str, *, line: int | None = None) -> dict[str, Any]:
    """The Batch API output row of a failed request (``response`` is null)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if line is not None:
        error["line"] = line
    return {"id": _row_id(), "custom_id": custom_id, "response": None, "error": error}


def error_code(exc: BaseException) -> str:
    """The error code an exception is recorded under: :func:`orchestra.faults.classify`'s code."""
    return classify(exc).code


def journal_key(row: dict[str, Any]) -> str:
    """The key a result line is journalled under: its ``custom_id``, except for the error row of a
    duplicate id, keyed by id and line so that it neither replaces nor is replaced by the answer
    of the first row with that id."""
    error = row.get("error")
    cid = str(row.get("custom_id"))
    if isinstance(error, dict) and error.get("code") == DUPLICATE_ID:
        return f"{cid}\x00{error.get('line')}"
    return cid


def row_state(row: dict[str, Any], *, retry_failed: bool = False) -> str:
    """``"ok"``, ``"failed"`` (a final error) or ``"redo"`` (to be sent again on resume)."""
    error = row.get("error")
    if not error:
        return "ok"
    if retry_failed or (isinstance(error, dict) and error.get("code") in RETRYABLE_CODES):
        return "redo"
    return "failed"


def dumps_row(row: dict[str, Any]) -> bytes:
    """One output line: compact JSON and a newline (JSON escapes newlines, so a row is one line)."""
    return (json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


def _row_id() -> str:
    return "batch_req_" + secrets.token_hex(12)
