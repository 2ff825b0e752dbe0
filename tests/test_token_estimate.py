"""Token estimates count everything sent: tools, response_format schemas and message structure
(issue: with 12 tool definitions, 11 KB of JSON, the TPM limiter debited 67 tokens per request
while the server counted 2,869, so 9 of 15 requests met a 429)."""

from __future__ import annotations

import json

from orchestra.chat import ChatRequest, Message, ToolCall
from orchestra.endpoints import LimitedEndpoint, RateLimiter
from orchestra.testing import ScriptedModel


def _tools(n: int) -> list[dict[str, object]]:
    """``n`` function definitions of about 900 characters each, shaped like BFCL's."""
    return [
        {
            "type": "function",
            "function": {
                "name": f"update_order_{i}",
                "description": "Changes an order item as the customer asks, with modifications to its size, "
                "ingredients or preparation, and records any special request for the kitchen.",
                "parameters": {
                    "type": "object",
                    "required": ["item_id", "size"],
                    "properties": {
                        "item_id": {"type": "string", "description": "The identifier of the item to change."},
                        "size": {
                            "type": "string",
                            "enum": ["small", "medium", "large"],
                            "description": "Cup size.",
                        },
                        "milk": {
                            "type": "string",
                            "enum": ["whole", "skim", "oat", "coconut"],
                            "description": "Milk.",
                        },
                        "sweetness": {
                            "type": "integer",
                            "description": "Sweetness from 0 (none) to 5 (extra sweet).",
                        },
                        "special": {
                            "type": "string",
                            "description": "Free-text request such as 'boiling hot'.",
                        },
                    },
                },
            },
        }
        for i in range(n)
    ]


def test_tools_and_schemas_are_counted() -> None:
    tools = _tools(12)
    size = len(json.dumps(tools, separators=(",", ":")))
    plain = ChatRequest.of("What is the weather in Paris?")
    with_tools = ChatRequest.of("What is the weather in Paris?", tools=tools)
    # The server counted 2,869 tokens for 11 KB: about 3.9 characters a token.
    assert with_tools.estimated_prompt_tokens() - plain.estimated_prompt_tokens() >= size / 3.9
    assert with_tools.estimated_prompt_tokens() <= size / 2  # an upper estimate, not a wild one
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "plan",
            "schema": {"type": "object", "properties": {f"k{i}": {"type": "string"} for i in range(50)}},
        },
    }
    assert ChatRequest.of("x", response_format=schema).estimated_prompt_tokens() > 300


def test_message_structure_and_tool_calls_are_counted() -> None:
    call = ToolCall(id="call_1", name="lookup", arguments=json.dumps({"q": "x" * 400}))
    messages = [Message(role="user", content="hi")] + [Message(role="assistant", tool_calls=[call])] * 3
    assert ChatRequest(messages=messages).estimated_prompt_tokens() >= 3 * 400 / 4
    parts = Message(role="user", content=[{"type": "text", "text": "y" * 400}])
    assert ChatRequest(messages=[parts]).estimated_prompt_tokens() >= 100


async def test_the_tpm_limiter_debits_the_tools() -> None:
    limiter = RateLimiter(tpm=10_000, window=60.0)
    endpoint = LimitedEndpoint(ScriptedModel(["ok"]), limiter, default_max_tokens=16)
    request = ChatRequest.of("hi", tools=_tools(12), max_tokens=16)
    assert endpoint.estimate_tokens(request) >= len(json.dumps(request.tools)) / 3.9
