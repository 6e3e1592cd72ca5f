"""`keep_alive_guard`: keep-alive connections survive answers given before the body is read."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)

# An answer given before the request body has arrived waits for up to this much of it, for
# this long, so the connection stays open; otherwise it closes the connection, reading on
# (up to `linger_limit` bytes) for a while first so that a client still sending can read it.
DRAIN_LIMIT = 64 * 1024
DRAIN_SECONDS = 10.0
LINGER_SECONDS = 5.0


def keep_alive_guard(app: ASGIFramework, *, linger_limit: int) -> ASGIFramework:
    """Answer on HTTP/1 only once the request body is in, or close the connection gracefully.

    Why: the service answers some requests before reading their body (401, 405, 413, 415,
    429). Hypercorn 0.18 ends the connection as soon as such a response is complete
    (protocol/h11.py `_maybe_recycle`: the client's side is not DONE), without saying
    `Connection: close`, so a keep-alive client's next request on it is lost; and closing
    a socket with unread data resets it, which can destroy the answer before the client
    has read it. The contract promises a drained body or `Connection: close`, so:

    - a response waits to start until the body is in (read by the app, which in Quart
      reads every body to its end, or else by this wrapper), if it can be within
      DRAIN_LIMIT bytes and DRAIN_SECONDS;
    - otherwise it says `Connection: close` and is sent at once, but its end (after which
      Hypercorn closes) waits while the rest is read and discarded, up to `linger_limit`
      bytes or LINGER_SECONDS: a lingering close (RFC 9112, section 9.6).

    The wrapper is plain ASGI, so it works under any server; tests/test_keep_alive.py
    drives every early answer over one connection and tells whether a new server still
    needs it.
    """

    async def guarded(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "http" or scope["http_version"] not in {"1.0", "1.1"}:
            await app(scope, receive, send)
            return
        body = _RequestBody(scope["headers"], receive)
        closing = False

        async def send_after_body(message: ASGISendEvent) -> None:
            nonlocal closing
            if message["type"] == "http.response.start" and not await body.drained():
                closing = True
                message["headers"] = [*message["headers"], (b"connection", b"close")]
            elif (
                closing and message["type"] == "http.response.body" and not message.get("more_body")
            ):
                await body.read_rest(linger_limit, LINGER_SECONDS)
            await send(message)

        await app(scope, body.receive, send_after_body)

    return guarded


class _RequestBody:
    """Counts the body messages that pass to the app; can read and discard the rest."""

    def __init__(self, headers: Iterable[tuple[bytes, bytes]], receive: ASGIReceiveCallable):
        self._receive = receive
        fields = {name.lower(): value for name, value in headers}
        self.declared = int(fields.get(b"content-length", 0))  # the server has validated it
        self.received = 0
        self.complete = b"transfer-encoding" not in fields and self.declared == 0
        self.gone = False  # the client disconnected
        self.changed = asyncio.Event()

    async def receive(self) -> ASGIReceiveEvent:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.complete = self.complete or not message.get("more_body", False)
        elif message["type"] == "http.disconnect":
            self.gone = True
        self.changed.set()
        return message

    async def drained(self) -> bool:
        """True once the whole body is in, waiting for it if it is small enough."""
        if self.declared > DRAIN_LIMIT:
            return self.complete
        return await self.read_rest(DRAIN_LIMIT, DRAIN_SECONDS)

    async def read_rest(self, limit: int, seconds: float) -> bool:
        """Read on until the body is complete, over `limit` bytes, or `seconds` have passed."""
        if self.complete or self.gone:
            return self.complete
        # The app's own reader may have stopped; this one passes through `receive` too, so
        # each message is counted once, whichever of them gets it.
        discard = asyncio.create_task(self._discard())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while not (self.complete or self.gone or self.received > limit):
                    self.changed.clear()
                    await self.changed.wait()
        discard.cancel()
        await asyncio.wait([discard])  # its end, without its CancelledError
        return self.complete

    async def _discard(self) -> None:
        while True:
            await self.receive()
