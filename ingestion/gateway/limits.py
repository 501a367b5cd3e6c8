"""The gateway's limits: a request body size limit and a body read time limit (ASGI middleware), a
per-client rate limit, and a deadline for a connection's next request head (uvicorn protocol)."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


class _BodyRefused(Exception):
    """Raised from a wrapped ``receive``: answer ``status`` with ``message`` instead."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _answer(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error_code": status, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _call_with_receive(app: Any, scope: Scope, receive: Any, send: Any) -> None:
    """Call ``app`` with a wrapped ``receive``; when it refuses the body (_BodyRefused) before the
    application started its response, answer the refusal."""
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except _BodyRefused as refused:
        if not started:
            await _answer(send, refused.status, refused.message)


class BodySizeLimit:
    """Answers 413 to a body larger than ``max_bytes``: at once from Content-Length, or as soon as a
    streamed (chunked) body passes the limit, before the application reads more of it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _answer(send, 400, "Content-Length is not a number")
                    return
                if declared > self.max_bytes:
                    await _answer(send, 413, f"body of {declared:,} bytes; the limit is {self.max_bytes:,}")
                    return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message: Message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyRefused(413, f"body larger than the limit of {self.max_bytes:,} bytes")
            return message

        await _call_with_receive(self.app, scope, counting_receive, send)


class BodyTimeout:
    """Answers 408 to a client that sends its body slower than ``seconds`` between two chunks (a slow
    client would otherwise hold a connection and a worker for as long as it likes)."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def timed_receive() -> Message:
            try:
                message: Message = await asyncio.wait_for(receive(), self.seconds)
            except TimeoutError:
                raise _BodyRefused(408, f"no part of the request body within {self.seconds:g} s") from None
            return message

        await _call_with_receive(self.app, scope, timed_receive, send)


class RateLimiter:
    """A token bucket per client address: ``rate`` requests a second, bursts of up to ``2 * rate``.
    ``rate`` 0 means no limit."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate


@functools.cache
def idle_cutting_protocol() -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol class (``http="auto"``: httptools, else h11) that also closes a
    connection whose next request head (request line and headers) is not complete within
    ``timeout_keep_alive`` seconds of the connection opening or of the previous response ending.

    uvicorn's own ``timeout_keep_alive`` is set to the same value, but uvicorn arms it only after a
    response and cancels it on any byte received: a connection that never sends a request, or sends
    its headers a byte at a time, is never cut (uvicorn 0.54 has no knob for either), hence this timer.
    It stops once the headers are in; the body then has ``gateway_body_timeout`` per part (408).
    """
    from uvicorn.protocols.http.auto import AutoHTTPProtocol  # gateway extra

    base: Any = AutoHTTPProtocol  # Any: its attributes (cycle, transport, loop, config) are not declared

    class IdleCuttingProtocol(base):
        _head_deadline: asyncio.TimerHandle | None = None

        def _waiting_for_request(self) -> bool:
            return self.cycle is None or bool(self.cycle.response_complete)

        def _arm(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self._head_deadline = self.loop.call_later(self.config.timeout_keep_alive, self._cut)

        def _disarm(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _cut(self) -> None:
            self._head_deadline = None
            if self._waiting_for_request() and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # the headers are in (a request runs), or the connection became a WebSocket: stop the clock
            if not self._waiting_for_request() or self.transport.get_protocol() is not self:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._waiting_for_request():  # no pipelined request started: wait for the next one
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return IdleCuttingProtocol
