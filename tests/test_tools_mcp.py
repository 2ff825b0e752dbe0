"""The MCP adapter against a real MCP server subprocess over stdio (tests/mcp_echo_server.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from orchestra.errors import ToolError, UsageError
from orchestra.tools._mcp import MAX_LIST_PAGES, MCPPaginationError, mcp_result_value, mcp_tools

pytest.importorskip("mcp")

SERVER = str(Path(__file__).with_name("mcp_echo_server.py"))


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.01)
    return False


async def test_list_call_and_error_through_a_real_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRA_PARENT_SECRET", "do-not-leak")
    async with mcp_tools(sys.executable, [SERVER], env={"ORCHESTRA_GIVEN": "yes"}, call_timeout=5) as tools:
        by_name = {t.name: t for t in tools}
        assert {"echo", "add", "stats", "fail", "getenv", "pid", "crash"} <= set(by_name)
        echo = by_name["echo"]
        assert echo.description == "Repeat the text, separated by spaces."
        assert echo.parameters["required"] == ["text"]
        assert echo.parameters["properties"]["times"] == {"default": 1, "type": "integer"}
        assert echo.timeout == 5
        assert echo.side_effects is True and by_name["add"].side_effects is False  # readOnlyHint
        assert echo.spec()["function"]["name"] == "echo"

        assert await echo.call({"text": "hi", "times": 3}) == "hi hi hi"
        assert await by_name["add"].call({"a": 1, "b": 2.5}) == 3.5
        assert await by_name["stats"].call({"values": [1, 2, 3]}) == {"count": 3, "sum": 6, "mean": 2}

        with pytest.raises(ToolError, match="failed on purpose: disk full") as info:
            await by_name["fail"].call({"reason": "disk full"})
        assert info.value.tool == "fail"
        with pytest.raises(ToolError, match="missing required argument 'text'"):
            await echo.call({"times": 2})  # refused locally, before the round trip

        getenv = by_name["getenv"]
        assert await getenv.call({"name": "ORCHESTRA_GIVEN"}) == "yes"
        assert await getenv.call({"name": "ORCHESTRA_PARENT_SECRET"}) == "<unset>"
        server_pid = await by_name["pid"].call({})
    assert _gone(server_pid), "the MCP server outlived the context"


async def test_server_crash_mid_call_is_a_tool_error() -> None:
    # pytest.raises outside the block: the error leaves mcp_tools as itself, not in an ExceptionGroup.
    with pytest.raises(ToolError, match="MCP call crash"):
        async with mcp_tools(sys.executable, [SERVER], prefix="srv.") as tools:
            by_name = {t.name: t for t in tools}
            assert "srv_echo" in by_name  # prefixed, and "." replaced to fit function-name rules
            assert await by_name["srv_echo"].call({"text": "ok"}) == "ok"
            await by_name["srv_crash"].call({})


async def test_unstartable_server_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot start MCP server"):
        async with mcp_tools(str(tmp_path / "no-such-server")):
            pass
    not_mcp = tmp_path / "quits.py"
    not_mcp.write_text("print('not an MCP server')\n")
    with pytest.raises(UsageError, match=r"failed during startup|did not answer"):
        async with mcp_tools(sys.executable, [str(not_mcp)], startup_timeout=5):
            pass


@pytest.mark.parametrize(
    ("result", "schema", "expected"),
    [
        ({"content": [{"type": "text", "text": "plain"}]}, None, "plain"),
        ({"content": [{"type": "text", "text": '{"a": [1, 2]}'}]}, None, {"a": [1, 2]}),
        ({"content": [{"type": "text", "text": "[not json"}]}, None, "[not json"),
        ({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, None, "a\nb"),
        ({"content": [{"type": "image", "data": "...", "mimeType": "image/png"}]}, None, "[image image/png]"),
        ({"content": [], "structuredContent": {"result": 5}}, {"properties": {"result": {}}}, 5),
        (
            {"content": [], "structuredContent": {"result": 5}},
            {"properties": {"result": {}, "b": {}}},
            {"result": 5},
        ),
        ({"content": [], "structuredContent": {"x": 1}}, None, {"x": 1}),
    ],
)
def test_result_conversion(result: dict, schema: dict | None, expected: object) -> None:
    assert mcp_result_value(result, schema, tool="t") == expected


def test_error_result_conversion() -> None:
    with pytest.raises(ToolError, match="boom") as info:
        mcp_result_value({"content": [{"type": "text", "text": "boom"}], "isError": True}, tool="t")
    assert info.value.tool == "t"


async def test_missing_sdk_is_a_usage_error_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # what `import mcp` sees when it is not installed
    with pytest.raises(UsageError, match=r"pip install 'orchestra-runtime\[mcp\]'"):
        async with mcp_tools(sys.executable, [SERVER]):
            pass


PAGING = str(Path(__file__).with_name("mcp_paging_server.py"))


async def test_a_repeated_cursor_is_named_after_two_pages(tmp_path: Path) -> None:
    count = tmp_path / "count"
    started = time.monotonic()
    with pytest.raises(MCPPaginationError, match=r"loops in tools/list: page 2 returned the cursor 'again'"):
        async with mcp_tools(sys.executable, [PAGING, "loop", str(count)], startup_timeout=10):
            pass
    assert count.read_text() == "2"  # not thousands of requests
    assert time.monotonic() - started < 10


async def test_endless_pagination_is_bounded(tmp_path: Path) -> None:
    count = tmp_path / "count"
    with pytest.raises(MCPPaginationError, match=f"more than {MAX_LIST_PAGES} pages"):
        async with mcp_tools(sys.executable, [PAGING, "endless", str(count)], startup_timeout=30):
            pass
    assert int(count.read_text()) == MAX_LIST_PAGES


async def test_honest_pagination_lists_every_page(tmp_path: Path) -> None:
    count = tmp_path / "count"
    async with mcp_tools(sys.executable, [PAGING, "three", str(count)]) as tools:
        assert [t.name for t in tools] == ["t0", "t1", "t2"]
    assert count.read_text() == "3"
