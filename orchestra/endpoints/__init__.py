"""Model endpoints: the protocol, the OpenAI-compatible client, and the wrappers around it."""

from __future__ import annotations

from orchestra.endpoints.base import Endpoint, WrapperEndpoint
from orchestra.endpoints.openai import OpenAIEndpoint, parse_retry_after

__all__ = ["Endpoint", "OpenAIEndpoint", "WrapperEndpoint", "parse_retry_after"]
