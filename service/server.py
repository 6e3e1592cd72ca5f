"""The production ASGI server, chosen in this one place (Hypercorn, Quart's own)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import uuid
from collections.abc import Iterable
from http import HTTPStatus
from typing import cast

import h11
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.protocol.events import Body, EndBody, Response
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import WSStream
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

# An answer given before the request body has arrived (see KeepAliveGuard) waits for up to
# this much of it, for this long, so the connection stays open; otherwise it closes the
# connection, reading on for a while first so that a client still sending can read it.
DRAIN_LIMIT = 64 * 1024
DRAIN_SECONDS = 10.0
LINGER_BODIES = 4  # read on for up to this many MAX_CONTENT_LENGTH bodies...
LINGER_SECONDS = 5.0  # ...or this long


def listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket before serving; port 0 binds a free port.

    Binding here (not in Hypercorn) lets `service run` report the port it really got, so
    tests and scripts can start it on port 0 without racing other processes for a port,
    and turns a port in use into an OSError the command reports in one line.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as Hypercorn decides
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve_forever(app: Quart, settings: Settings, sock: socket.socket) -> None:
    """Serve on `sock` (from `listen`) until SIGTERM or SIGINT; in-flight requests get a
    grace period to finish."""
    config = Config()
    # Hypercorn takes the descriptor over (it wraps it in a socket of its own).
    config.bind = [f"fd://{sock.detach()}"]
    config.graceful_timeout = settings.SHUTDOWN_GRACE_SECONDS
    config.accesslog = None  # the app logs each request itself, with its request id
    config.errorlog = logging.getLogger("hypercorn.error")
    config.include_server_header = False  # the contract: no header naming the implementation
    answer_protocol_errors_in_the_error_body()
    guarded = KeepAliveGuard(app, linger_limit=LINGER_BODIES * settings.MAX_CONTENT_LENGTH)
    asyncio.run(_serve(guarded, config))


def protocol_error(status_code: int, message: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of an answer given outside the app, in the contract's shape.

    A 5xx status becomes 400: these answers are all about a request the server refused.
    """
    status = HTTPStatus(status_code if status_code < 500 else 400)
    request_id = uuid.uuid4().hex
    error = "BAD_REQUEST" if status == HTTPStatus.BAD_REQUEST else status.name
    body = json.dumps(
        {"error": error, "message": message, "status_code": int(status), "request_id": request_id}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"x-response-time", b"0.0000s"),
        (b"x-content-type-options", b"nosniff"),
    ]
    return int(status), headers, body


def answer_protocol_errors_in_the_error_body() -> None:
    """Give the answers Hypercorn sends itself the contract's error body.

    Why: a request h11 cannot parse (a NUL or other control byte in a header, two
    Content-Lengths, a bad chunk, an unknown transfer coding, a header block over h11's
    limit) never reaches the app, nor does an invalid WebSocket handshake; Hypercorn 0.18
    answers those with an empty body (`H11Protocol._send_error_response`,
    `WSStream._send_error_response`), and with 501 for an unknown transfer coding. The
    contract wants a 4xx in the error body for any input, so this replaces both methods.
    Checked by tests/test_server.py with raw bytes.
    """

    async def h11_error(self: H11Protocol, status_code: int) -> None:
        status, headers, body = protocol_error(status_code, "Malformed HTTP request")
        headers = [*headers, (b"connection", b"close"), *self.config.response_headers("h11")]
        await self._send_h11_event(h11.Response(status_code=status, headers=headers))
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())

    async def websocket_error(self: WSStream, status_code: int) -> None:
        status, headers, body = protocol_error(status_code, "Invalid WebSocket handshake")
        headers = [*headers, (b"connection", b"close")]
        await self.send(Response(stream_id=self.stream_id, status_code=status, headers=headers))
        await self.send(Body(stream_id=self.stream_id, data=body))
        await self.send(EndBody(stream_id=self.stream_id))

    setattr(H11Protocol, "_send_error_response", h11_error)  # noqa: B010
    setattr(WSStream, "_send_error_response", websocket_error)  # noqa: B010


async def _refuse_websocket(scope: Scope, send: ASGISendCallable) -> None:
    """The service has no WebSocket routes: an upgrade is a 404 in the error body."""
    extensions = cast(dict[str, object], scope.get("extensions") or {})
    if "websocket.http.response" not in extensions:
        await send({"type": "websocket.close", "code": 1000, "reason": None})
        return
    status, headers, body = protocol_error(404, "No such route or resource")
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body, "more_body": False})


async def _serve(app: ASGIFramework, config: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)


class KeepAliveGuard:
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

    def __init__(self, app: ASGIFramework, *, linger_limit: int) -> None:
        self.app = app
        self.linger_limit = linger_limit

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "websocket":
            await _refuse_websocket(scope, send)
            return
        if scope["type"] != "http" or scope["http_version"] not in {"1.0", "1.1"}:
            await self.app(scope, receive, send)
            return
        body = _RequestBody(scope["headers"], receive)
        closing = False

        async def send_after_body(message: ASGISendEvent) -> None:
            nonlocal closing
            if message["type"] == "http.response.start" and not await body.drained():
                closing = True
                message["headers"] = [*message["headers"], (b"connection", b"close")]
            elif (
                closing
                and message["type"] == "http.response.body"
                and not message.get("more_body", False)
            ):
                await body.read_rest(self.linger_limit, LINGER_SECONDS)
            await send(message)

        await self.app(scope, body.receive, send_after_body)


class _RequestBody:
    """Counts the body messages that pass to the app; can read and discard the rest."""

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
        with contextlib.suppress(asyncio.CancelledError):
            await discard
        return self.complete

    async def _discard(self) -> None:
        while True:
            await self.receive()
