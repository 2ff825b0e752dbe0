"""orchestra: an agentic LLM orchestration runtime with asynchronous function calling."""

from __future__ import annotations

from orchestra._sync import open_endpoint
from orchestra._tool import Tool, tool
from orchestra.agent import Agent, AgentResult
from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Choice, Message, ToolCall, Usage
from orchestra.clock import Clock, FakeClock, MonotonicClock
from orchestra.errors import (
    BudgetExceeded,
    ConfigError,
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

__version__ = "0.1.0"

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
