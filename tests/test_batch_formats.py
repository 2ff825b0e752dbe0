"""Batch input parsing (both forms, malformed lines, fuzzed) and output rows."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.batch.formats import (
    RETRYABLE_CODES,
    BadLine,
    BatchRow,
    IterableSource,
    JsonlSource,
    dumps_row,
    error_code,
    error_row,
    ok_row,
    parse_line,
    row_state,
)
from orchestra.chat import ChatRequest, ChatResponse, Choice, Message, Usage
from orchestra.errors import (
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    NoHealthyEndpoint,
    RateLimitError,
    UsageError,
)


def _batch_line(custom_id: str = "a", **body: object) -> str:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


def test_batch_api_form_maps_known_fields_and_keeps_vendor_params() -> None:
    row = parse_line(
        _batch_line("r1", max_tokens=5, temperature=0.1, seed=7, stream=True, cache_prompt=True), 3
    )
    assert isinstance(row, BatchRow)
    assert (row.custom_id, row.model, row.line) == ("r1", "m", 3)
    assert row.request.max_tokens == 5 and row.request.temperature == 0.1
    # stream is dropped: the output holds a whole chat.completion, never chunks
    assert row.request.extra == {"seed": 7, "cache_prompt": True}


def test_simple_form_prompt_messages_params_and_default_id() -> None:
    row = parse_line(json.dumps({"id": 7, "prompt": "2+3?", "model": "x", "params": {"max_tokens": 3}}), 1)
    assert isinstance(row, BatchRow)
    assert (row.custom_id, row.model, row.request.max_tokens) == ("7", "x", 3)
    assert row.request.messages[0].content == "2+3?"
    row = parse_line(json.dumps({"messages": [{"role": "user", "content": "q"}], "endpoint": "e1"}), 9)
    assert isinstance(row, BatchRow)
    assert (row.custom_id, row.endpoint, row.model) == ("line-9", "e1", None)


def test_blank_lines_are_not_rows() -> None:
    assert parse_line("   \n", 4) is None
    assert parse_line(b"\n", 4) is None


def test_malformed_lines_carry_their_line_number_and_any_id_found() -> None:
    cases = {
        "{not json": "not valid JSON",
        "[1, 2]": "expected a JSON object",
        json.dumps({"custom_id": "z", "body": {"messages": []}}): "messages must be a non-empty list",
        json.dumps({"custom_id": "y", "method": "GET", "body": {}}): "method must be POST",
        json.dumps({"custom_id": "w", "url": "/v1/embeddings", "body": {}}): "only /v1/chat/completions",
        json.dumps({"id": "v", "prompt": 3}): "prompt must be a string",
        json.dumps({"id": "u", "messages": [{"role": "robot", "content": "x"}]}): "role",
        json.dumps({"id": "t"}): "expected 'body'",
        json.dumps({"body": {"messages": [{"role": "user", "content": "x"}]}}): "custom_id must be",
    }
    for number, (text, expected) in enumerate(cases.items(), 1):
        bad = parse_line(text, number)
        assert isinstance(bad, BadLine), text
        assert bad.line == number
        assert bad.message.startswith(f"line {number}: ") and expected in bad.message, bad.message
    assert parse_line("{oops", 5).custom_id == "line-5"  # type: ignore[union-attr]
    assert parse_line(json.dumps({"id": "v", "prompt": 3}), 6).custom_id == "v"  # type: ignore[union-attr]
    assert parse_line(b"\xff\xfe{}", 2).message.startswith("line 2: not UTF-8")  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda s: s.encode("utf-8"))))
def test_fuzzed_lines_never_raise(raw: bytes) -> None:
    parsed = parse_line(raw, 1)
    assert parsed is None or isinstance(parsed, BatchRow | BadLine)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["custom_id", "id", "method", "url", "body", "prompt", "messages", "model", "params"]
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
            ),
            max_leaves=6,
        ),
    )
)
def test_fuzzed_objects_parse_or_report(obj: dict[str, object]) -> None:
    parsed = parse_line(json.dumps(obj), 1)
    assert isinstance(parsed, BatchRow | BadLine)


def test_jsonl_source_streams_and_reloads_by_offset(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    lines = [_batch_line("a"), "", "{bad", json.dumps({"id": "b", "prompt": "é" * 50})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = JsonlSource(path)
    scanned = list(source.scan())
    assert [item.custom_id for _, item in scanned] == ["a", "line-3", "b"]
    assert [ticket.line for ticket, _ in scanned] == [1, 3, 4]
    reloaded = source.load(scanned[2][0])
    assert reloaded.custom_id == "b" and reloaded.request.messages[0].content == "é" * 50
    assert source.count_lines() == 4
    source.close()


def test_iterable_source_accepts_requests_prompts_and_dicts() -> None:
    items = [ChatRequest.of("x", model="m"), "plain", {"id": "k", "prompt": "p"}, {"bad": 1}, 42]
    rows = [item for _, item in IterableSource(items).scan()]  # type: ignore[arg-type]
    assert [r.custom_id for r in rows] == ["request-0", "request-1", "k", "request-3", "request-4"]
    assert isinstance(rows[3], BadLine) and isinstance(rows[4], BadLine)
    assert rows[0].model == "m"  # type: ignore[union-attr]


def test_output_rows_are_batch_api_shaped_and_errors_are_errors() -> None:
    response = ChatResponse(
        id="c1",
        model="m",
        choices=[Choice(message=Message(role="assistant", content="5"))],
        usage=Usage(prompt_tokens=3),
    )
    ok = ok_row("r", response)
    assert ok["custom_id"] == "r" and ok["error"] is None and ok["id"].startswith("batch_req_")
    assert ok["response"]["status_code"] == 200 and ok["response"]["request_id"] == "c1"
    assert ok["response"]["body"]["choices"][0]["message"]["content"] == "5"
    bad = error_row("r", "timeout", "too slow", line=4)
    assert bad["response"] is None and bad["error"] == {"code": "timeout", "message": "too slow", "line": 4}
    line = dumps_row(ok)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and json.loads(line) == ok


def test_error_codes_and_resume_states() -> None:
    assert error_code(RateLimitError("x", status=429)) == "rate_limited"
    assert error_code(EndpointTimeout("x")) == "timeout"
    assert error_code(NoHealthyEndpoint("x")) == "no_healthy_endpoint"
    assert error_code(EndpointConnectionError("x")) == "connection_error"
    assert error_code(EndpointError("x", status=502)) == "server_error"
    assert error_code(RateLimitError("x", status=429, code="insufficient_quota")) == "insufficient_quota"
    assert error_code(EndpointError("x", status=400)) == "http_error"
    assert error_code(UsageError("x")) == "invalid_request"
    assert error_code(ValueError("x")) == "internal_error"
    assert {"rate_limited", "timeout", "server_error"} <= RETRYABLE_CODES
    assert "http_error" not in RETRYABLE_CODES and "invalid_input" not in RETRYABLE_CODES
    assert row_state({"error": None}) == "ok"
    assert row_state(error_row("a", "http_error", "400")) == "failed"
    assert row_state(error_row("a", "http_error", "400"), retry_failed=True) == "redo"
    assert row_state(error_row("a", "server_error", "503")) == "redo"
