"""The production ASGI server, chosen in this one place (Hypercorn, Quart's own)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable

from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)
from quart import Quart

from service.config import Settings

# How much unread request body an early answer waits for so the connection can stay open,
# and for how long; past either bound the answer says `Connection: close` instead.
DRAIN_LIMIT = 64 * 1024
DRAIN_TIMEOUT = 10.0


def serve_forever(app: Quart, settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT; in-flight requests get a grace period to finish."""
    config = Config()
    config.bind = [f"{settings.HOST}:{settings.PORT}"]
    config.graceful_timeout = settings.SHUTDOWN_GRACE_SECONDS
    config.accesslog = None  # the app logs each request itself, with its request id
    config.errorlog = logging.getLogger("hypercorn.error")
    config.include_server_header = False  # the contract: no header naming the implementation
    asyncio.run(_serve(KeepAliveGuard(app), config))


async def _serve(app: ASGIFramework, config: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)


class KeepAliveGuard:
    """Hold an HTTP/1 answer until the request body has arrived, or make it close the connection.

    Why: the service answers some requests before reading their body (401, 405, 413, 415,
    429). Hypercorn 0.18 ends the connection when a response is complete while the request
    body is still unread (protocol/h11.py `_maybe_recycle`: the client's side is not DONE),
    without saying `Connection: close`, so a keep-alive client's next request on it is lost.
    The contract promises either a drained body or `Connection: close`: this wrapper waits,
    before the response starts, until the body has been read (by the app, which in Quart
    reads every body to its end, or by the wrapper itself), at most DRAIN_LIMIT bytes and
    DRAIN_TIMEOUT seconds; otherwise the response says `Connection: close`.
    tests/test_keep_alive.py holds a connection through every early answer; rerun it when
    switching servers (uvicorn drains unread bodies itself; this wrapper stays harmless).
    """

    def __init__(self, app: ASGIFramework) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http" or scope["http_version"] not in {"1.0", "1.1"}:
            await self.app(scope, receive, send)
            return
        body = _RequestBody(scope["headers"], receive)

        async def send_after_body(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and not await body.drained():
                message["headers"] = [*message["headers"], (b"connection", b"close")]
            await send(message)

        await self.app(scope, body.receive, send_after_body)


class _RequestBody:
    """Counts the body messages that pass to the app; can wait for the last one."""

    def __init__(self, headers: Iterable[tuple[bytes, bytes]], receive: ASGIReceiveCallable):
        self._receive = receive
        self.declared = 0
        chunked = False
        for name, value in headers:
            if name.lower() == b"content-length":
                self.declared = int(value)  # the server has validated it
            elif name.lower() == b"transfer-encoding":
                chunked = True
        self.received = 0
        self.complete = not chunked and self.declared == 0
        self.settled = asyncio.Event()  # complete, over the limit, or the client left
        if self.complete:
            self.settled.set()

    async def receive(self) -> ASGIReceiveEvent:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.complete = self.complete or not message.get("more_body", False)
            if self.complete or self.received > DRAIN_LIMIT:
                self.settled.set()
        elif message["type"] == "http.disconnect":
            self.settled.set()
        return message

    async def drained(self) -> bool:
        """Wait, within the bounds, for the rest of the body; True once all of it arrived."""
        if self.settled.is_set() or self.declared > DRAIN_LIMIT:
            return self.complete
        # The app's own reader may have stopped; this one passes through `receive` too, so
        # each message is counted once whichever of them gets it.
        discard = asyncio.create_task(self._discard_rest())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.settled.wait(), DRAIN_TIMEOUT)
        discard.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await discard
        return self.complete

    async def _discard_rest(self) -> None:
        while not self.settled.is_set():
            await self.receive()
