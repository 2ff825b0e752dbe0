"""http_get: only allow-listed hosts, checked on every redirect; fetched from a real loopback server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route

from orchestra.errors import ToolError, UsageError
from orchestra.tools import default_tools
from orchestra.tools._http_get import HostAllowList, make_http_get

HITS: list[str] = []


async def _hello(request: Request) -> PlainTextResponse:
    HITS.append(request.url.path)
    return PlainTextResponse("hello from loopback")


async def _data(request: Request) -> JSONResponse:
    return JSONResponse({"answer": 42})


async def _to_hello(request: Request) -> RedirectResponse:
    return RedirectResponse("/hello", status_code=302)


async def _to_outside(request: Request) -> RedirectResponse:
    # Off the allow-list yet still loopback: even a broken check could reach only this machine.
    return RedirectResponse("http://127.0.0.2:9/latest/meta-data/", status_code=302)


async def _big(request: Request) -> PlainTextResponse:
    return PlainTextResponse("x" * 10_000)


APP = Starlette(
    routes=[
        Route("/hello", _hello),
        Route("/data", _data),
        Route("/to-hello", _to_hello),
        Route("/to-outside", _to_outside),
        Route("/big", _big),
    ]
)


@pytest.fixture(scope="module")
def loopback() -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 (an OS-chosen port), as ``host:port``."""
    server = uvicorn.Server(
        uvicorn.Config(APP, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


async def test_fetches_from_an_allowed_loopback_host(loopback: str) -> None:
    http_get = make_http_get(["127.0.0.1"])
    result = await http_get.call({"url": f"http://{loopback}/hello"})
    assert result["status"] == 200
    assert result["text"] == "hello from loopback"
    assert result["content_type"].startswith("text/plain")
    assert result["truncated"] is False
    data = await http_get.call({"url": f"http://{loopback}/data"})
    assert data["text"] == '{"answer":42}'


async def test_refuses_hosts_not_in_the_list(loopback: str) -> None:
    only_other_port = make_http_get(["127.0.0.1:1"])
    HITS.clear()
    for url in (
        f"http://localhost:{loopback.split(':')[1]}/hello",
        f"http://{loopback}/hello",
        "http://example.com/",
    ):
        with pytest.raises(ToolError, match="is not allowed"):
            await only_other_port.call({"url": url})
    assert HITS == []  # refused before any request was sent


async def test_redirects_are_checked_hop_by_hop(loopback: str) -> None:
    http_get = make_http_get(["127.0.0.1"])
    followed = await http_get.call({"url": f"http://{loopback}/to-hello"})
    assert followed["text"] == "hello from loopback"
    assert followed["url"].endswith("/hello")
    with pytest.raises(ToolError, match=r"127\.0\.0\.2"):
        await http_get.call({"url": f"http://{loopback}/to-outside"})


async def test_body_is_capped(loopback: str) -> None:
    http_get = make_http_get(["127.0.0.1"], max_bytes=100)
    result = await http_get.call({"url": f"http://{loopback}/big"})
    assert result["text"] == "x" * 100
    assert result["truncated"] is True


async def test_bad_urls_and_connection_errors() -> None:
    http_get = make_http_get(["127.0.0.1"], timeout=2)
    for url in ("ftp://127.0.0.1/x", "file:///etc/passwd", "not a url"):
        with pytest.raises(ToolError):
            await http_get.call({"url": url})
    with pytest.raises(ToolError, match="failed"):
        await http_get.call({"url": "http://127.0.0.1:1/"})  # nothing listens on port 1


async def test_transport_is_injectable() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        return httpx2.Response(200, text="mocked")

    http_get = make_http_get(["api.example.org"], transport=httpx2.MockTransport(handler))
    assert (await http_get.call({"url": "https://api.example.org/v1"}))["text"] == "mocked"
    assert seen == ["https://api.example.org/v1"]


def test_allow_list_rules() -> None:
    allowed = HostAllowList(["Example.com", "127.0.0.1:8080", "*.corp.test"])
    yes = [
        "http://example.com/",
        "https://EXAMPLE.com:444/x",
        "http://127.0.0.1:8080/",
        "https://a.b.corp.test/",
    ]
    no = [
        "http://127.0.0.1/",
        "http://127.0.0.1:8081/",
        "http://corp.test/",
        "http://evil.com/?example.com",
        "http://example.com.evil.com/",
        "ftp://example.com/",
    ]
    assert all(allowed.allows(httpx2.URL(u)) for u in yes)
    assert not any(allowed.allows(httpx2.URL(u)) for u in no)


def test_off_by_default() -> None:
    assert "http_get" not in [t.name for t in default_tools()]
    with pytest.raises(UsageError, match="allow_hosts"):
        make_http_get([])
