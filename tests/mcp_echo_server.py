"""A tiny MCP server over stdio, for tests of ``orchestra.tools._mcp``: run as ``python tests/mcp_echo_server.py``.

Written with the ``mcp`` SDK's high-level server (``MCPServer`` in mcp 2.x, ``FastMCP`` in 1.x).
"""

from __future__ import annotations

import os

from mcp.types import ToolAnnotations

try:  # mcp >= 2
    from mcp.server.mcpserver import MCPServer as Server
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server
    from mcp.server.fastmcp.exceptions import ToolError

# WARNING: keep the SDK's per-call INFO logs out of the test output.
server = Server("echo", log_level="WARNING")


@server.tool()
def echo(text: str, times: int = 1) -> str:
    """Repeat the text, separated by spaces."""
    return " ".join([text] * times)


# readOnlyHint: the adapter maps it to side_effects=False.
@server.tool(annotations=ToolAnnotations.model_validate({"readOnlyHint": True}))
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@server.tool()
def stats(values: list[float]) -> dict[str, float]:
    """Count, sum and mean of a list of numbers."""
    return {"count": len(values), "sum": sum(values), "mean": sum(values) / len(values)}


@server.tool()
def fail(reason: str) -> str:
    """Always fails with the given reason."""
    # The SDK's ToolError is the anticipated failure whose message reaches the client.
    raise ToolError(f"failed on purpose: {reason}")


@server.tool()
def getenv(name: str) -> str:
    """The value of an environment variable of the server process, or "<unset>"."""
    return os.environ.get(name, "<unset>")


@server.tool()
def pid() -> int:
    """The server's process id (to check that it is gone after the session)."""
    return os.getpid()


@server.tool()
def crash() -> str:
    """Exit the server process abruptly, mid-call."""
    os._exit(3)


if __name__ == "__main__":
    server.run("stdio")
