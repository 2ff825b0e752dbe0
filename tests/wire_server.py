"""A tiny HTTP/1.1 server on 127.0.0.1 that answers with exact, scripted wire bytes.

The simulator speaks well-formed OpenAI; this one says whatever a test needs a server to say (a
``retry-after: inf``, a tool call whose ``arguments`` is an object, an SSE stream without blank
lines), byte for byte, so the client's parsing of real servers' quirks is tested over a socket.
It runs its own event loop in a thread, so synchronous callers (a CLI runner, a subprocess) and
async tests can both use it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

Reply = bytes | Callable[[int, dict[str, Any]], bytes]


def http(status: int, body: bytes | str | dict[str, Any], headers: dict[str, str] | None = None) -> bytes:
    """One whole HTTP/1.1 response with a Content-Length."""
    if isinstance(body, dict):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} X", f"content-length: {len(data)}", "content-type: application/json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def sse(events: Sequence[str | dict[str, Any]], *, separator: str = "\n\n", done: bool = True) -> bytes:
    """A streamed response: each dict as a ``data:`` event, each string as a raw line (a comment,
    an ``event:`` field), then ``data: [DONE]``."""
    parts = [
        f"data: {json.dumps(e)}{separator}" if isinstance(e, dict) else f"{e}{separator}" for e in events
    ]
    if done:
        parts.append(f"data: [DONE]{separator}")
    body = "".join(parts).encode()
    head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n"
    return (head + f"content-length: {len(body)}\r\n\r\n").encode() + body


def completion(message: dict[str, Any], *, finish_reason: str = "stop") -> dict[str, Any]:
    """A chat.completion body with one choice."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


class WireServer:
    """Serve ``replies`` in order (the last one repeats) to every request, on 127.0.0.1.

    Attributes:
        url: base URL (``http://127.0.0.1:PORT/v1``).
        requests: the decoded JSON bodies received, in order.
    """

    def __init__(self, replies: Sequence[Reply]) -> None:
        if not replies:
            raise ValueError("give at least one reply")
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> WireServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                index = len(self.requests)
                self.requests.append(json.loads(body) if body else {})
                reply = self.replies[min(index, len(self.replies) - 1)]
                data = reply(index, self.requests[-1]) if callable(reply) else reply
                writer.write(data)
                await writer.drain()
                if b"connection: close" in data.split(b"\r\n\r\n", 1)[0].lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
