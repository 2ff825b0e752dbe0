"""Expose the tools of an MCP server (stdio transport) as orchestra :class:`~orchestra.Tool`s.

::

    async with mcp_tools(sys.executable, ["my_server.py"]) as tools:
        agent = Agent(endpoint, tools)
        await agent.run("...")

The server runs as a child process for the duration of the ``async with``; each of its tools
becomes a :meth:`Tool.from_schema` whose schema is the server's ``inputSchema`` and whose call is
``session.call_tool``. Results become plain Python values (structured content when the server
sends it, else the text content, parsed as JSON when it is JSON), and an ``isError`` result
becomes a :class:`ToolError`, so the executor treats a remote failure like a local one.

The ``mcp`` SDK is an optional dependency: ``pip install 'orchestra-runtime[mcp]'``. Results are read
through their wire (camelCase) dump, which is the same in mcp 1.x and 2.x.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio

from orchestra._tool import Tool
from orchestra.errors import ToolError, UsageError

__all__ = ["MAX_LIST_PAGES", "MCPPaginationError", "mcp_result_value", "mcp_tools"]

_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def _sdk() -> Any:
    try:
        import mcp
        from mcp.client.stdio import stdio_client
    except ImportError as exc:
        raise UsageError("the MCP adapter needs the mcp SDK: pip install 'orchestra-runtime[mcp]'") from exc
    return mcp, stdio_client


@asynccontextmanager
async def mcp_tools(
    command: str,
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    prefix: str = "",
    call_timeout: float | None = None,
    concurrency: int | None = None,
    startup_timeout: float = 30.0,
    errlog: TextIO | None = None,
) -> AsyncIterator[list[Tool]]:
    """Start an MCP server over stdio and yield its tools; the server stops on exit.

    Args:
        command: the server executable, e.g. ``sys.executable`` or ``"npx"``.
        args: its arguments.
        env: extra environment variables for the server. The SDK passes only a minimal safe
            environment (PATH, HOME, ...) otherwise, so parent secrets stay out unless listed here.
        cwd: the server's working directory.
        prefix: prepended to every tool name, to keep two servers' tools apart.
        call_timeout: per-call timeout the executor applies to these tools (``Tool.timeout``).
        concurrency: per-tool concurrency limit.
        startup_timeout: seconds for the handshake and the tool listing.
        errlog: where the server's stderr goes (default: ours).

    Yields:
        One :class:`Tool` per server tool.

    Raises:
        UsageError: the SDK is missing, the server cannot be started, or it does not complete
            the handshake and tool listing within ``startup_timeout``.
    """
    connection = _connect(
        command,
        args,
        env=env,
        cwd=cwd,
        prefix=prefix,
        call_timeout=call_timeout,
        concurrency=concurrency,
        startup_timeout=startup_timeout,
        errlog=errlog,
    )
    try:
        async with connection as tools:
            yield tools
    except BaseExceptionGroup as group:
        # The SDK's transport and session each own a task group, so any exception crossing them
        # (ours, or the caller's from the body) arrives wrapped twice. Hand back the one error.
        leaf = _sole_exception(group)
        if leaf is None:
            raise
        raise leaf from leaf.__cause__


def _sole_exception(group: BaseExceptionGroup) -> BaseException | None:
    """The single exception nested in ``group`` (through one-member groups), or None."""
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup):
        if len(inner.exceptions) != 1:
            return None
        inner = inner.exceptions[0]
    return inner


@asynccontextmanager
async def _connect(
    command: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    cwd: str | Path | None,
    prefix: str,
    call_timeout: float | None,
    concurrency: int | None,
    startup_timeout: float,
    errlog: TextIO | None,
) -> AsyncIterator[list[Tool]]:
    """The connection itself: spawn, handshake, list, wrap; see :func:`mcp_tools`."""
    mcp, stdio_client = _sdk()
    params = mcp.StdioServerParameters(
        command=command, args=list(args), env=dict(env) if env is not None else None, cwd=cwd
    )
    where = " ".join([command, *args])
    async with AsyncExitStack() as stack:
        try:
            read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog or sys.stderr))
            session = await stack.enter_async_context(mcp.ClientSession(read, write))
        except OSError as exc:
            raise UsageError(f"cannot start MCP server {where!r}: {exc}") from exc
        pages: list[int] = []
        try:
            # Only the requests sit under the deadline: the contexts above own task groups whose
            # cancel scopes must not be nested inside a shorter-lived scope.
            with anyio.fail_after(startup_timeout):
                await session.initialize()
                listed = await _list_tools(mcp, session, where, pages)
        except TimeoutError as exc:
            doing = f"listing its tools ({len(pages)} tools/list pages)" if pages else "the handshake"
            raise UsageError(
                f"MCP server {where!r} did not finish {doing} within {startup_timeout} s"
            ) from exc
        except MCPPaginationError:
            raise
        except Exception as exc:  # the SDK's errors differ between versions; all mean "unusable"
            raise UsageError(f"MCP server {where!r} failed during startup: {exc}") from exc
        tools = [_wrap(session, entry, prefix, call_timeout, concurrency) for entry in listed]
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise UsageError(f"MCP server {where!r}: tool names collide after sanitising: {names}")
        yield tools


MAX_LIST_PAGES = 100
"""Most ``tools/list`` pages read from one server: a server whose cursors never end is refused."""
MAX_LISTED_TOOLS = 10_000
"""Most tools taken from one server (no prompt could list more)."""


class MCPPaginationError(UsageError):
    """An MCP server's ``tools/list`` pagination does not end: a repeated cursor, or too many pages."""


async def _list_tools(mcp: Any, session: Any, where: str, pages: list[int]) -> list[dict[str, Any]]:
    """Every tool of the server, following pagination cursors, as wire-format dicts.

    Bounded: a cursor the server already sent (a loop; one server sent the same ``nextCursor``
    2,223 times in 3 s) is named at once, and more than :data:`MAX_LIST_PAGES` pages or
    :data:`MAX_LISTED_TOOLS` tools is refused. ``pages`` counts the requests made (for the
    timeout message).

    Raises:
        MCPPaginationError: naming the fault.
    """
    pages.append(1)
    page = (await session.list_tools()).model_dump(by_alias=True, mode="json", exclude_none=True)
    entries = list(page.get("tools", []))
    seen: set[str] = set()
    while page.get("nextCursor"):
        cursor = page["nextCursor"]
        if cursor in seen:
            raise MCPPaginationError(
                f"MCP server {where!r} loops in tools/list: page {len(pages)} returned the cursor "
                f"{str(cursor)[:60]!r}, which an earlier page already returned"
            )
        if len(pages) >= MAX_LIST_PAGES or len(entries) > MAX_LISTED_TOOLS:
            raise MCPPaginationError(
                f"MCP server {where!r} has more than {MAX_LIST_PAGES} pages or {MAX_LISTED_TOOLS} tools "
                f"in tools/list ({len(entries)} tools in {len(pages)} pages so far); refusing to read on"
            )
        seen.add(cursor)
        request = mcp.types.PaginatedRequestParams(cursor=cursor)
        pages.append(1)
        page = (await session.list_tools(params=request)).model_dump(
            by_alias=True, mode="json", exclude_none=True
        )
        entries += page.get("tools", [])
    return entries


def _wrap(
    session: Any, entry: Mapping[str, Any], prefix: str, timeout: float | None, concurrency: int | None
) -> Tool:
    remote = str(entry["name"])
    # MCP allows names ("files.read", "a/b") that OpenAI-style function calling refuses.
    name = _INVALID_NAME_CHARS.sub("_", prefix + remote)[:64]
    output_schema = entry.get("outputSchema")

    async def call(arguments: dict[str, Any]) -> Any:
        try:
            result = await session.call_tool(remote, arguments)
        except Exception as exc:  # transport closed, protocol error: a failed call either way
            raise ToolError(f"MCP call {remote}() failed: {exc}", tool=name) from exc
        return mcp_result_value(
            result.model_dump(by_alias=True, mode="json", exclude_none=True), output_schema, tool=name
        )

    return Tool.from_schema(
        name,
        str(entry.get("description") or entry.get("title") or remote),
        _drop_titles(entry.get("inputSchema") or {"type": "object", "properties": {}}),
        call,
        unpack=False,
        timeout=timeout,
        concurrency=concurrency,
        # MCP's readOnlyHint is the server's own statement that a call changes nothing.
        side_effects=not entry.get("annotations", {}).get("readOnlyHint", False),
    )


def _drop_titles(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema without pydantic's auto ``title``s, which are prompt noise."""
    clean = {key: value for key, value in schema.items() if key != "title"}
    props = clean.get("properties")
    if isinstance(props, Mapping):
        clean["properties"] = {
            pname: {k: v for k, v in prop.items() if k != "title"} if isinstance(prop, Mapping) else prop
            for pname, prop in props.items()
        }
    return clean


def mcp_result_value(
    result: Mapping[str, Any], output_schema: Mapping[str, Any] | None = None, *, tool: str
) -> Any:
    """Turn a ``CallToolResult`` (wire-format dict) into a Python value.

    Structured content wins; a lone ``result`` field is unwrapped when the output schema has only
    that property (the SDK's servers wrap non-object returns that way). Otherwise the content
    blocks become text, one text block that holds JSON is parsed, several are joined by newlines.

    Raises:
        ToolError: ``isError`` is set; the message is the server's text.
    """
    blocks = [_block_text(block) for block in result.get("content", [])]
    if result.get("isError"):
        raise ToolError("\n".join(blocks) or "the MCP tool reported an error", tool=tool)
    structured = result.get("structuredContent")
    if structured is not None:
        props = (output_schema or {}).get("properties")
        wrapped = output_schema is not None and (
            output_schema.get("x-fastmcp-wrap-result")
            or (isinstance(props, Mapping) and list(props) == ["result"])
        )
        if wrapped and isinstance(structured, Mapping) and list(structured) == ["result"]:
            return structured["result"]
        return structured
    if len(blocks) == 1:
        text = blocks[0]
        if text.lstrip()[:1] in ("{", "["):
            try:
                return json.loads(text)
            except ValueError:
                pass
        return text
    return "\n".join(blocks)


def _block_text(block: Mapping[str, Any]) -> str:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "resource":
        resource = block.get("resource", {})
        return str(resource.get("text") or f"[resource {resource.get('uri', '')}]")
    if kind == "resource_link":
        return f"[resource {block.get('uri', '')}]"
    return f"[{kind} {block.get('mimeType', '')}]".replace(" ]", "]")  # image / audio: not text
