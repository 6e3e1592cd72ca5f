"""The production ASGI server, chosen in this one place (Hypercorn, Quart's own)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from functools import partialmethod
from http import HTTPStatus
from typing import cast

from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.protocol.events import Body, EndBody, Response
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import WSStream
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from quart import Quart

from service.config import Settings
from service.keep_alive import keep_alive_guard

# An early answer that closes the connection reads on for this many bodies at most.
LINGER_BODIES = 4


def listen(host: str, port: int) -> socket.socket:
    """Bind the socket before serving, so `service run` can report the port it got (port 0
    binds a free one) and a port in use is an OSError it reports in one line."""
    # The family as Hypercorn decides it. No TCP_NODELAY here: asyncio sets it on every
    # connection it accepts.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve_forever(app: Quart, settings: Settings, sock: socket.socket) -> None:
    """Serve on `sock` (from `listen`) until SIGTERM or SIGINT, with a grace period."""
    config = Config()
    # Hypercorn takes the descriptor over (it wraps it in a socket of its own).
    config.bind = [f"fd://{sock.detach()}"]
    config.graceful_timeout = settings.SHUTDOWN_GRACE_SECONDS
    config.accesslog = None  # the app logs each request itself, with its request id
    config.errorlog = logging.getLogger("hypercorn.error")
    config.include_server_header = False  # the contract: no header naming the implementation
    answer_protocol_errors_in_the_error_body()
    guarded = keep_alive_guard(app, linger_limit=LINGER_BODIES * settings.MAX_CONTENT_LENGTH)

    async def service(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "websocket":
            await _refuse_websocket(scope, send)
        else:
            await guarded(scope, receive, send)

    # Without a shutdown trigger Hypercorn stops gracefully on SIGTERM and SIGINT itself.
    asyncio.run(serve(service, config))


def protocol_error(status_code: int, message: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of an answer given outside the app, in the contract's shape.

    A 5xx status becomes 400: these answers are all about a request the server refused.
    """
    status = HTTPStatus(status_code if status_code < 500 else 400)
    request_id = uuid.uuid4().hex
    body = json.dumps(
        {"error": status.name, "message": message, "status_code": status, "request_id": request_id}
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

    A request h11 cannot parse (control bytes in a header, two Content-Lengths, a bad
    chunk, an unknown transfer coding, a header block too large) or an invalid WebSocket
    handshake never reaches the app; Hypercorn 0.18 answers those with an empty body (and
    501 for an unknown coding) in `H11Protocol`/`WSStream._send_error_response`, which
    have no public hook, so both are replaced. tests/test_server.py checks the raw bytes.
    """

    async def send_error(self: H11Protocol | WSStream, status_code: int, *, message: str) -> None:
        # A WebSocket stream sends through its connection; H11Protocol's one stream is id 1.
        send = self.send if isinstance(self, WSStream) else self.stream_send
        stream_id = getattr(self, "stream_id", 1)
        status, headers, body = protocol_error(status_code, message)
        headers = [*headers, (b"connection", b"close")]
        await send(Response(stream_id=stream_id, status_code=status, headers=headers))
        await send(Body(stream_id=stream_id, data=body))
        await send(EndBody(stream_id=stream_id))

    h11_error = partialmethod(send_error, message="Malformed HTTP request")
    websocket_error = partialmethod(send_error, message="Invalid WebSocket handshake")
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
