"""The endpoint's own HTTP exchange (orchestra/endpoints/http.py), over real sockets on 127.0.0.1.

The openai SDK used to do this part; what it did for us must still hold: the key sent as a bearer
token, error bodies read as OpenAI's error object (or as text when a proxy answers), any line
length in a stream, a body cut short reported as a broken answer, and no SDK import at all.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from wire_server import WireServer, completion, http, sse

from orchestra.chat import ChatRequest
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.errors import EndpointConnectionError, EndpointError, RateLimitError


async def test_the_key_goes_as_a_bearer_token_and_the_body_as_json() -> None:
    seen: list[dict[str, object]] = []

    def reply(index: int, body: dict[str, object]) -> bytes:
        seen.append(body)
        return http(200, completion({"role": "assistant", "content": "ok"}))

    with WireServer([reply]) as server:
        async with OpenAIEndpoint(server.url, "m", api_key="sk-test") as endpoint:
            request = ChatRequest.of("hi", max_tokens=3, temperature=0.5).model_copy(
                update={"extra": {"top_k": 4}}
            )
            response = await endpoint.complete(request)
    assert response.text == "ok"
    assert seen[0]["model"] == "m" and seen[0]["max_tokens"] == 3 and seen[0]["top_k"] == 4
    assert seen[0]["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "says"),
    [
        (
            429,
            {"error": {"message": "You exceeded your quota", "type": "insufficient_quota", "code": None}},
            RateLimitError,
            "insufficient_quota",
            "You exceeded your quota",
        ),
        (
            401,
            {"error": {"message": "Bad key", "code": "invalid_api_key"}},
            EndpointError,
            "invalid_api_key",
            "Bad key",
        ),
        (400, {"error": "model is required"}, EndpointError, None, "model is required"),  # Ollama's form
        (502, "<html>Bad Gateway</html>", EndpointError, None, "Bad Gateway"),  # a proxy's page
        (503, "", EndpointError, None, "HTTP 503"),
    ],
)
async def test_error_bodies_of_every_form_give_a_one_line_error_with_the_servers_words(
    status: int, body: object, kind: type[EndpointError], code: str | None, says: str
) -> None:
    payload = body if isinstance(body, dict) else str(body)
    with WireServer([http(status, payload)]) as server:
        async with OpenAIEndpoint(server.url, "m") as endpoint:
            with pytest.raises(kind) as caught:
                await endpoint.complete(ChatRequest.of("hi"))
    error = caught.value
    assert error.status == status and error.code == code
    assert says in str(error) and "\n" not in str(error)


async def test_a_key_quoted_back_by_the_server_is_redacted() -> None:
    body = {"error": {"message": "Incorrect API key provided: sk-secret-123456", "code": "invalid_api_key"}}
    with WireServer([http(401, body)]) as server:
        async with OpenAIEndpoint(server.url, "m", api_key="sk-secret-123456") as endpoint:
            with pytest.raises(EndpointError) as caught:
                await endpoint.complete(ChatRequest.of("hi"))
    assert "sk-secret-123456" not in str(caught.value)


async def test_a_stream_event_longer_than_any_line_buffer_arrives_whole() -> None:
    # One SSE line can carry a whole answer; aiohttp's readline stops at 128 KiB.
    text = "x" * 300_000
    event = {
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
    }
    with WireServer([sse([event])]) as server:
        async with OpenAIEndpoint(server.url, "m") as endpoint:
            parts = [chunk.delta async for chunk in endpoint.stream(ChatRequest.of("hi"))]
    assert "".join(parts) == text


async def test_an_error_status_on_a_stream_is_the_same_error_as_on_complete() -> None:
    body = {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}
    with WireServer([http(429, body, {"retry-after": "2"})]) as server:
        async with OpenAIEndpoint(server.url, "m") as endpoint:
            with pytest.raises(RateLimitError) as caught:
                async for _ in endpoint.stream(ChatRequest.of("hi")):
                    pass
    assert caught.value.retry_after == 2.0 and caught.value.code == "rate_limit_exceeded"


async def test_a_body_cut_short_is_a_broken_answer_not_a_hang_or_a_parse_error() -> None:
    whole = http(
        200, completion({"role": "assistant", "content": "a complete answer"}), {"connection": "close"}
    )
    cut = whole[: len(whole) - 10]  # the content-length promises more than arrives, then the socket closes
    with WireServer([cut]) as server:
        async with OpenAIEndpoint(server.url, "m", timeout=2.0) as endpoint:
            with pytest.raises(EndpointConnectionError):
                await endpoint.complete(ChatRequest.of("hi"))


def test_the_endpoint_stack_and_the_batch_runner_never_import_the_openai_sdk() -> None:
    probe = (
        "import sys, json\n"
        "import orchestra.endpoints.stack, orchestra.endpoints.openai, orchestra.batch.runner\n"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "openai" not in json.loads(out)
