"""`keep_alive_guard`: an answer given before a large request body has arrived closes cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

# ASGI's shapes, as much of them as this service relies on.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Frameworks type their own scopes and messages (Quart: TypedDicts), so apps go untyped.
ASGIApp = Callable[..., Awaitable[None]]

# An answer given before the request body has arrived waits for up to this much of it, for
# this long, so the connection stays open; otherwise it closes the connection, reading on
# (up to `linger_limit` bytes) for a while first so that a client still sending can read it.
DRAIN_LIMIT = 64 * 1024
DRAIN_SECONDS = 10.0
LINGER_SECONDS = 5.0


def keep_alive_guard(app: ASGIApp, *, linger_limit: int) -> ASGIApp:
    """Say `Connection: close` on an answer given before a large body is in, and linger.

    Why: the service answers some requests before reading their body (401, 405, 413, 415,
    429). uvicorn keeps such a connection open and parses the rest of the body into the
    void, however long it is; and when a response says `Connection: close` it closes the
    socket at once, which resets it if request data is still unread and can destroy the
    answer before the client has read it. The contract promises a drained body or
    `Connection: close`, so a request whose body may be large (over DRAIN_LIMIT announced,
    or chunked):

    - waits to start its response until the body is in (read by the app, or else by this
      wrapper), if it can be within DRAIN_LIMIT bytes and DRAIN_SECONDS;
    - otherwise says `Connection: close` and is sent at once, but its end (after which
      uvicorn closes) waits while the rest is read and discarded, up to `linger_limit`
      bytes or LINGER_SECONDS: a lingering close (RFC 9112, section 9.6).

    Any other request passes straight through: uvicorn discards its small body itself (and
    sends `100 Continue` as soon as Quart listens for the body, which it does at once).
    tests/test_keep_alive.py drives every early answer over one connection.
    """

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _may_be_large(scope["headers"]):
            await app(scope, receive, send)
            return
        body = _RequestBody(scope["headers"], receive)
        closing = False

        async def send_after_body(message: Message) -> None:
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


def _may_be_large(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the body is chunked or announced over DRAIN_LIMIT."""
    for name, value in headers:
        name = name.lower()
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and int(value) > DRAIN_LIMIT:  # the server checked it
            return True
    return False


class _RequestBody:
    """Counts the body messages that pass to the app; can read and discard the rest."""

    def __init__(self, headers: Iterable[tuple[bytes, bytes]], receive: Receive):
        self._receive = receive
        fields = {name.lower(): value for name, value in headers}
        self.declared = int(fields.get(b"content-length", 0))  # the server has validated it
        self.received = 0
        self.complete = b"transfer-encoding" not in fields and self.declared == 0
        self.gone = False  # the client disconnected
        self.changed = asyncio.Event()

    async def receive(self) -> Message:
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
        # uvicorn answers every receive after a disconnect at once: stop there, or spin.
        while not (self.complete or self.gone):
            await self.receive()
