"""The simulator as an ASGI app: the same object runs under uvicorn on loopback and in-process
through ``httpx2.ASGITransport``.

``POST /v1/chat/completions`` is a raw ASGI endpoint rather than a Starlette request handler
because faults need the wire itself: a dropped connection sends part of a body and then aborts
(the server closes the socket mid-response), which a ``Response`` object cannot express.

Per request, in order: parse (400 on a bad body), draw the fault, an injected 429 burst, the
RPM/TPM limiter (429 with OpenAI's body and headers), a 5xx, a hang, then the answer paced by the
latency model, possibly malformed or dropped. Nothing heavy runs per request: the benchmark of
the batch target is 500 requests at concurrency 100 within 1.15x of the ideal.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from orchestra.clock import Clock, MonotonicClock
from orchestra.sim.config import SimConfig
from orchestra.sim.content import ContentSource, Reply
from orchestra.sim.faults import Fault, FaultInjector
from orchestra.sim.latency import LatencyModel
from orchestra.sim.ratelimit import LimitDecision, SimRateLimiter
from orchestra.sim.stats import SimStats
from orchestra.sim.streaming import sse_batches
from orchestra.sim.wire import (
    DONE_EVENT,
    BadRequest,
    SimRequest,
    completion_body,
    error_body,
    models_body,
    parse_chat_request,
)

__all__ = ["SimulatedDrop", "Simulator", "create_app"]

_JSON = (b"content-type", b"application/json")
_SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
_BROKEN_EVENT = b'data: {"id": "chatcmpl-sim", "choices": [{\n\n'  # an SSE event that is not JSON
_WATCH_AFTER = 1.0  # seconds: shorter latency waits do not watch for client disconnects
_5XX_MESSAGES = {
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
}


class SimulatedDrop(httpx2.RemoteProtocolError):
    """Raised after part of a body is sent, so the server closes the connection mid-response.

    Under uvicorn any exception does that. In-process, ``httpx2.ASGITransport`` re-raises the
    app's exception to the client instead; being httpx2's own "peer closed the connection" error,
    it then reaches a client exactly as a dropped socket would.
    """


class Simulator:
    """The state of one simulator app: config, limiter, fault and content generators, stats.

    Args:
        config: the behaviour.
        clock: time source of the limiter, latencies and admission times.
    """

    def __init__(self, config: SimConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or MonotonicClock()
        self.started = self.clock.now()
        self.stats = SimStats(started_at_unix=time.time())
        # Two generators from one seed: faults and content never shift each other's sequence.
        self.faults = FaultInjector(config, random.Random(config.seed))
        self.content = ContentSource(config, random.Random(None if config.seed is None else config.seed + 1))
        self.limiter = SimRateLimiter(config.rpm, config.tpm, config.window_seconds, self.clock)
        self.latency = LatencyModel(config)
        self.closing = False
        self._ids = itertools.count(1)
        self._waits: set[anyio.CancelScope] = set()

    def close(self) -> None:
        """Stop every latency wait and hang now, so the server can shut down without lingering."""
        self.closing = True
        for scope in list(self._waits):
            scope.cancel()

    @property
    def waiting(self) -> int:
        """Latency waits, streams and hangs in progress."""
        return len(self._waits)

    def next_id(self) -> str:
        """A fresh completion id."""
        return f"chatcmpl-sim{next(self._ids)}"

    async def run_while_connected(
        self, receive: Receive, work: Callable[[], Awaitable[None]], *, watch: bool = True
    ) -> bool:
        """Run ``work`` unless the server closes first or (with ``watch``) the client disconnects.

        Watching costs a task per request (~0.1 ms), so short waits skip it: a client that
        leaves during a sub-second wait only costs the server that wait.

        Returns:
            True if ``work`` completed.
        """
        if self.closing:
            return False
        done = False
        async with anyio.create_task_group() as tg:
            self._waits.add(tg.cancel_scope)
            try:
                if watch:
                    tg.start_soon(_cancel_on_disconnect, receive, tg.cancel_scope)
                await work()
                done = True
            finally:
                self._waits.discard(tg.cancel_scope)
                tg.cancel_scope.cancel()
        return done

    async def pause(self, receive: Receive, seconds: float, *, watch: bool | None = None) -> bool:
        """Wait ``seconds``; False if the client left or the server is closing meanwhile.

        Args:
            watch: watch for a disconnect; by default only for waits of a second or more.
        """
        if seconds <= 0:
            return not self.closing
        watch = seconds >= _WATCH_AFTER if watch is None else watch
        return await self.run_while_connected(receive, lambda: self.clock.sleep(seconds), watch=watch)


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def _send_json(
    send: Send, status: int, payload: Any, headers: dict[str, str], raw: bytes | None = None
) -> None:
    body = raw if raw is not None else json.dumps(payload, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _headers(headers, _JSON, length=len(body)),
        }
    )
    await send({"type": "http.response.body", "body": body})


def _headers(
    headers: dict[str, str], *fixed: tuple[bytes, bytes], length: int | None = None
) -> list[tuple[bytes, bytes]]:
    out = list(fixed) + [(k.encode(), v.encode()) for k, v in headers.items()]
    if length is not None:
        out.append((b"content-length", str(length).encode()))
    return out


def _retry_headers(headers: dict[str, str], seconds: float) -> dict[str, str]:
    return {
        **headers,
        "retry-after": str(max(1, math.ceil(seconds))),
        "retry-after-ms": str(max(1, math.ceil(seconds * 1000))),
    }


@dataclass(frozen=True, slots=True)
class _Answer:
    """What an admitted request is answered with."""

    request: SimRequest
    replies: list[Reply]
    fault: Fault
    decision: LimitDecision

    def parts(self) -> tuple[SimRequest, list[Reply], Fault, LimitDecision]:
        return self.request, self.replies, self.fault, self.decision


class ChatCompletions:
    """``POST /v1/chat/completions`` as a raw ASGI app over a :class:`Simulator`."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sim, stats = self.sim, self.sim.stats
        stats.requests += 1
        if scope.get("client"):
            stats.peers.add(tuple(scope["client"]))
        try:
            request = parse_chat_request(await Request(scope, receive).body(), sim.config.models[0])
        except BadRequest as exc:
            stats.bad_requests += 1
            await self._bad_request(send, exc)
            return
        stats.model(request.model).requests += 1
        fault = sim.faults.draw()
        if fault is Fault.BURST_429:
            await self._burst(send, request)
            return
        reserved = request.max_tokens if request.max_tokens is not None else sim.config.completion_tokens
        decision = sim.limiter.admit(request.prompt_tokens + request.n * reserved, request.model)
        if not decision.allowed:
            stats.rate_limited += 1
            await self._rate_limited(
                send, decision.headers, decision.message, decision.limit_type, decision.retry_after
            )
            return
        if fault is Fault.ERROR:
            stats.errors_5xx += 1
            status = sim.faults.error_status()
            await _send_json(
                send, status, error_body(_5XX_MESSAGES[status], "server_error"), decision.headers
            )
            return
        if fault is Fault.HANG:
            stats.hangs += 1
            if not await sim.pause(receive, sim.config.hang_seconds, watch=True):
                await self._gone(send)
                return
        try:
            replies = sim.content.replies(request)
        except BadRequest as exc:
            if fault is not Fault.HANG:  # a hung request is already counted once, as a hang
                stats.bad_requests += 1
            await self._bad_request(send, exc)
            return
        respond = self._stream if request.stream else self._whole
        await respond(receive, send, _Answer(request, replies, fault, decision))

    async def _burst(self, send: Send, request: SimRequest) -> None:
        stats = self.sim.stats
        stats.rate_limited += 1
        stats.bursts_429 += 1
        message = f"Rate limit reached for {request.model} in organization org-sim on requests per min (RPM). Please try again later."
        await self._rate_limited(
            send, self.sim.limiter.headers(), message, "requests", self.sim.config.burst_retry_seconds
        )

    async def _rate_limited(
        self, send: Send, headers: dict[str, str], message: str, kind: str | None, wait: float
    ) -> None:
        body = error_body(message, kind or "requests", "rate_limit_exceeded")
        await _send_json(send, 429, body, _retry_headers(headers, wait))

    async def _bad_request(self, send: Send, exc: BadRequest) -> None:
        body = error_body(exc.message, "invalid_request_error", None, exc.param)
        await _send_json(send, 400, body, self.sim.limiter.headers())

    async def _gone(self, send: Send) -> None:
        # The client left (the send is a no-op then) or the server is shutting down: say so.
        body = error_body("The simulator is shutting down.", "server_error")
        await _send_json(send, 503, body, self.sim.limiter.headers())

    def _count(self, answer: _Answer) -> None:
        stats, request, fault = self.sim.stats, answer.request, answer.fault
        if fault is Fault.NONE:
            completion = sum(r.tokens for r in answer.replies)
            stats.record_ok(
                request.model, answer.decision.at - self.sim.started, request.prompt_tokens, completion
            )
        elif fault is Fault.DROP:
            stats.drops += 1
        elif fault is Fault.MALFORMED:
            stats.malformed += 1

    async def _whole(self, receive: Receive, send: Send, answer: _Answer) -> None:
        sim, request, replies, fault, decision = self.sim, *answer.parts()
        pace = sim.latency.pace(request.model)
        if not await sim.pause(receive, pace.total(max(r.tokens for r in replies))):
            await self._gone(send)
            return
        self._count(answer)
        body = json.dumps(
            completion_body(sim.next_id(), int(time.time()), request, replies), separators=(",", ":")
        ).encode()
        if fault is Fault.MALFORMED:
            await _send_json(send, 200, None, decision.headers, raw=body[: len(body) // 2])
        elif fault is Fault.DROP:
            start = _headers(decision.headers, _JSON, length=len(body))
            await send({"type": "http.response.start", "status": 200, "headers": start})
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise SimulatedDrop(
                "simulated drop: peer closed connection without sending complete message body"
            )
        else:
            await _send_json(send, 200, None, decision.headers, raw=body)

    async def _stream(self, receive: Receive, send: Send, answer: _Answer) -> None:
        sim, request, replies, fault, decision = self.sim, *answer.parts()
        self._count(answer)
        ident, created = sim.next_id(), int(time.time())
        batches = sse_batches(ident, created, request, replies, sim.latency.pace(request.model))
        if fault is Fault.MALFORMED:
            batches = [(batches[0][0], _BROKEN_EVENT + DONE_EVENT)]
        elif fault is Fault.DROP:
            cut = len(batches) // 2
            batches = batches[:cut] if cut else [(batches[0][0], batches[0][1][: len(batches[0][1]) // 2])]
        await send(
            {"type": "http.response.start", "status": 200, "headers": _headers(decision.headers, *_SSE)}
        )
        started = sim.clock.now()

        async def write() -> None:
            for due, data in batches:
                wait = started + due - sim.clock.now()
                if wait > 0:
                    await sim.clock.sleep(wait)
                await send({"type": "http.response.body", "body": data, "more_body": True})

        if batches[-1][0] > 0:
            finished = await sim.run_while_connected(receive, write, watch=batches[-1][0] >= _WATCH_AFTER)
        else:  # nothing to wait for: skip the disconnect watcher (zero-latency runs of 100,000 rows)
            await write()
            finished = True
        if fault is Fault.DROP and finished:
            raise SimulatedDrop("simulated drop: peer closed connection in the middle of the stream")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def create_app(config: SimConfig | None = None, *, clock: Clock | None = None) -> Starlette:
    """The simulator's ASGI app.

    Args:
        config: the behaviour (default: a fast, fault-free ``SimConfig()``).
        clock: time source (a :class:`~orchestra.clock.FakeClock` makes latencies and windows instant).

    Returns:
        A Starlette app; ``app.state.stats`` is its :class:`~orchestra.sim.stats.SimStats` and
        ``app.state.simulator`` its :class:`Simulator`.

    Raises:
        ConfigError: the script file cannot be read.
    """
    sim = Simulator(config or SimConfig(), clock)

    async def list_models(request: Request) -> JSONResponse:
        return JSONResponse(models_body(sim.config.models))

    async def show_stats(request: Request) -> JSONResponse:
        times = request.query_params.get("times", "").lower() in ("1", "true", "yes")
        out = sim.stats.to_dict(times=times)
        window = request.query_params.get("window")
        if window:
            try:
                out["max_in_window"] = sim.stats.max_in_window(float(window))
            except ValueError:
                return JSONResponse(
                    error_body("'window' must be a number of seconds", "invalid_request_error"), 400
                )
        return JSONResponse(out)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", ChatCompletions(sim), methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/sim/stats", show_stats, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
    app.state.stats = sim.stats
    app.state.simulator = sim
    app.state.config = sim.config
    return app
