"""A raw MCP stdio server (newline-delimited JSON-RPC, no SDK) whose ``tools/list`` paginates as told.

``python tests/mcp_paging_server.py MODE COUNT_FILE``; MODE is ``loop`` (the same ``nextCursor``
forever), ``endless`` (a new cursor every page) or ``three`` (three honest pages). Every
``tools/list`` request is counted in COUNT_FILE.
"""

from __future__ import annotations

import json
import sys

MODE, COUNT_FILE = sys.argv[1], sys.argv[2]
calls = 0


def _tool(name: str) -> dict[str, object]:
    return {"name": name, "description": f"tool {name}", "inputSchema": {"type": "object", "properties": {}}}


def _page(cursor: str | None) -> dict[str, object]:
    if MODE == "loop":
        return {"tools": [_tool(f"t{calls}")], "nextCursor": "again"}
    if MODE == "endless":
        return {"tools": [_tool(f"t{calls}")], "nextCursor": f"c{calls}"}
    index = int(cursor or 0)
    page: dict[str, object] = {"tools": [_tool(f"t{index}")]}
    if index < 2:
        page["nextCursor"] = str(index + 1)
    return page


for line in sys.stdin:
    message = json.loads(line)
    method, ident = message.get("method"), message.get("id")
    if ident is None:
        continue  # a notification
    if method == "initialize":
        result: dict[str, object] = {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "paging", "version": "1"},
        }
    elif method == "tools/list":
        calls += 1
        with open(COUNT_FILE, "w") as f:
            f.write(str(calls))
        result = _page((message.get("params") or {}).get("cursor"))
    else:
        result = {}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": ident, "result": result}) + "\n")
    sys.stdout.flush()
