"""orchestra: an agentic LLM orchestration runtime with asynchronous function calling.

The names below are imported on first use (PEP 562): ``import orchestra`` loads only the error
tree, so a command such as ``orchestra --version`` starts without the HTTP client or pydantic (``tests/test_startup.py`` checks which heavy modules it loads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestra.errors import (
    BudgetExceeded,
    ConfigError,
    DeadlineExceeded,
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    LocalModelError,
    NoHealthyEndpoint,
    OrchestraError,
    PlanError,
    RateLimitError,
    ToolError,
    UsageError,
)

if TYPE_CHECKING:
    from orchestra._sync import open_endpoint
    from orchestra._tool import Tool, tool
    from orchestra.agent import Agent, AgentResult
    from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Choice, Message, ToolCall, Usage
    from orchestra.clock import Clock, FakeClock, MonotonicClock

__version__ = "0.1.0"

_LAZY = {
    "open_endpoint": "orchestra._sync",
    "Tool": "orchestra._tool",
    "tool": "orchestra._tool",
    "Agent": "orchestra.agent",
    "AgentResult": "orchestra.agent",
    "ChatChunk": "orchestra.chat",
    "ChatRequest": "orchestra.chat",
    "ChatResponse": "orchestra.chat",
    "Choice": "orchestra.chat",
    "Message": "orchestra.chat",
    "ToolCall": "orchestra.chat",
    "Usage": "orchestra.chat",
    "Clock": "orchestra.clock",
    "FakeClock": "orchestra.clock",
    "MonotonicClock": "orchestra.clock",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestra' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


__all__ = [
    "Agent",
    "AgentResult",
    "BudgetExceeded",
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "Clock",
    "ConfigError",
    "DeadlineExceeded",
    "EndpointConnectionError",
    "EndpointError",
    "EndpointTimeout",
    "FakeClock",
    "LocalModelError",
    "Message",
    "MonotonicClock",
    "NoHealthyEndpoint",
    "OrchestraError",
    "PlanError",
    "RateLimitError",
    "Tool",
    "ToolCall",
    "ToolError",
    "Usage",
    "UsageError",
    "__version__",
    "open_endpoint",
    "tool",
]
