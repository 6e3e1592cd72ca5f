"""`ServiceProtocol`: uvicorn's httptools protocol, refusing requests in the error body."""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service.http_cycle import CLIENT_GONE, ClientGone, JoinedWrites

# h11's limit, which the service had before uvicorn: httptools itself has none, and would
# buffer an endless header line.
MAX_HEAD_BYTES = 16 * 1024
# After a refusal the connection reads on (and discards) this much, for this long, before
# it closes: closing on unread data resets it, which can destroy the answer in flight.
LINGER_BYTES = 1024 * 1024
LINGER_SECONDS = 5.0


class Refused(Exception):
    """Raised in a parser callback: httptools stops, and uvicorn calls `send_400_response`."""


class ServiceProtocol(HttpToolsProtocol):
    """Requests the server refuses before the app sees them get the contract's error body.

    uvicorn answers a request httptools cannot parse (a control byte in a header, two
    Content-Lengths, a bad chunk) with a plain-text 400 through `send_400_response`,
    which is overridden here; a head over MAX_HEAD_BYTES, a transfer coding other than
    chunked and a WebSocket upgrade (the service has none) are refused the same way, with
    431, 400 and 404. A client that half-closes after its request still gets its answer.
    tests/test_server.py checks the raw bytes.
    """

    _head_bytes = 0
    _reading_head = True
    _refusal: tuple[int, str] | None = None
    _lingering = -1  # bytes discarded since the refusal; -1 before it

    def data_received(self, data: bytes) -> None:
        if self._linger(len(data)):
            return
        # Counted per read: a head may overshoot the limit by what arrived with its end.
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > MAX_HEAD_BYTES:
            self._refusal = (431, "Request header fields too large")
            self.send_400_response("head too large")

    def on_headers_complete(self) -> None:
        self._reading_head, self._head_bytes = False, 0
        self._refusal = _refusal(self.headers, upgrading=self.parser.should_upgrade())
        if self._refusal is not None:
            raise Refused
        super().on_headers_complete()
        if self.cycle is not None:
            self.cycle.transport = JoinedWrites(self.transport, self.loop)  # type: ignore[assignment]
            self.cycle.scope["extensions"] = {CLIENT_GONE: ClientGone()}  # type: ignore[dict-item]

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.cycle is not None and self.cycle.disconnected:
            ClientGone.of(self.cycle.scope).fire()

    def on_response_complete(self) -> None:
        if self.cycle is not None and isinstance(self.cycle.transport, JoinedWrites):
            self.cycle.transport.flush()  # before uvicorn may close the real transport
        super().on_response_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True

    def send_400_response(self, msg: str) -> None:
        status, message = self._refusal or (400, "Malformed HTTP request")
        self._refusal = None
        if self.transport.is_closing() or self._lingering >= 0:
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.transport.close()  # mid-answer: no room for another one
            return
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app hears that the request is gone, and sends nothing
            cycle.message_event.set()
            ClientGone.of(cycle.scope).fire()
        self.transport.write(error_response(status, message, self.server_state.default_headers))
        # A lingering close (RFC 9112, section 9.6): end our side, discard what still comes.
        self._lingering = 0
        self.transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _linger(self, size: int) -> bool:
        """While lingering, discard `size` bytes (closing past LINGER_BYTES): True."""
        if self._lingering < 0:
            return False
        self._lingering += size
        if self._lingering > LINGER_BYTES:
            self.transport.close()
        return True

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio's own type
        # A client may shut its sending side once the request is out (a half-close). If
        # the whole request is in, its answer goes out before the connection closes;
        # uvicorn would close at once, and tell the app the client has gone.
        cycle = self.cycle
        if self._lingering < 0 and cycle and not cycle.response_complete and not cycle.more_body:
            cycle.keep_alive = False
            return True
        return None


def _refusal(headers: list[tuple[bytes, bytes]], *, upgrading: bool) -> tuple[int, str] | None:
    """Status and message for a head httptools accepts but the service refuses, if any."""
    codings: list[bytes] = []
    upgrade: list[bytes] = []
    for name, value in headers:  # names are lower-case
        if name == b"transfer-encoding":
            codings += _tokens(value)
        elif name == b"upgrade" and upgrading:
            upgrade += _tokens(value)
    if codings and codings != [b"chunked"]:
        return 400, "Unsupported transfer coding"
    if b"websocket" in upgrade:
        return 404, "No such route or resource"
    return None


def _tokens(value: bytes) -> list[bytes]:
    return [token.strip().lower() for token in value.split(b",") if token.strip()]


def error_response(status_code: int, message: str, extra: list[tuple[bytes, bytes]]) -> bytes:
    """A whole HTTP/1.1 answer in the contract's error shape, closing the connection."""
    status = HTTPStatus(status_code)
    request_id = uuid.uuid4().hex
    body = json.dumps(
        {"error": status.name, "message": message, "status_code": status, "request_id": request_id}
    ).encode()
    headers = [
        *extra,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"x-response-time", b"0.0000s"),
        (b"x-content-type-options", b"nosniff"),
        (b"connection", b"close"),
    ]
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return STATUS_LINE[status] + head + b"\r\n" + body
