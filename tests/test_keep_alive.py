"""Keep-alive connections survive answers given before the request body was read.

The contract: a client that keeps its connection open is never cut off without an answer.
When the service answers before reading a body (401, 405, 413, 415, 429) it either reads
and discards the body, or says `Connection: close` on that response. These tests drive a
real `service run` process over one raw HTTP/1.1 connection (a socket and h11), so every
silent close is seen: unlike a pooled client, nothing here checks whether the socket is
still open before reusing it, and nothing is retried.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h11

from service.config import Settings
from service.keep_alive import DRAIN_LIMIT
from tests.factories import FAST_HASHING
from tests.plugins.backends import Backend, reset_backend
from tests.servers import running_servers

PAIRS = 1000
MAX_CONTENT_LENGTH = 1024
JSON = [("Content-Type", "application/json")]


@dataclass(frozen=True)
class EarlyAnswer:
    """A request the service answers without reading its body, and the answer expected."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    status: int
    error: str
    chunked: bool = False


def json_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    head = b'{"padding": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


KINDS = {
    "405": EarlyAnswer("POST", "/health", JSON, b'{"status": "ok"}', 405, "METHOD_NOT_ALLOWED"),
    "413": EarlyAnswer(
        "POST", "/api/v1/users/", JSON, json_body(2 * MAX_CONTENT_LENGTH), 413, "PAYLOAD_TOO_LARGE"
    ),
    "415": EarlyAnswer(
        "POST",
        "/api/v1/users/",
        [("Content-Type", "text/plain")],
        b"x" * 200,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "401": EarlyAnswer("POST", "/api/v1/products/", JSON, json_body(300), 401, "UNAUTHORIZED"),
    "401 chunked": EarlyAnswer(
        "POST", "/api/v1/products/", JSON, json_body(300), 401, "UNAUTHORIZED", chunked=True
    ),
    "429": EarlyAnswer("POST", "/api/v1/auth/login", JSON, json_body(300), 429, "RATE_LIMITED"),
}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closes: bool


@dataclass
class Tally:
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0
    seconds: float = 0.0


class OneConnection:
    """An HTTP/1.1 client on one socket, reopened only after the server said close."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.h11 = h11.Connection(h11.CLIENT)
        self.opened = 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def open(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.h11 = h11.Connection(h11.CLIENT)
            self.opened += 1
        return self.sock

    def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]] = [],  # noqa: B006 - never mutated
        body: bytes = b"",
        *,
        chunked: bool = False,
    ) -> Answer:
        """Send one request and read its whole answer; any failure is an exception."""
        sock = self.open()
        framing = [("Transfer-Encoding", "chunked")] if chunked else []
        if body and not chunked:
            framing = [("Content-Length", str(len(body)))]
        request = h11.Request(
            method=method, target=target, headers=[("Host", "127.0.0.1"), *headers, *framing]
        )
        try:
            # Head and body in separate writes, as HTTP clients send them: the service may
            # answer before the body has arrived.
            sock.sendall(self.h11.send(request))
            if body:
                sock.sendall(self.h11.send(h11.Data(data=body)))
            sock.sendall(self.h11.send(h11.EndOfMessage()))
        except (BrokenPipeError, ConnectionResetError):
            # A server that answered early and closed stops reading; its answer is still due
            # and must say that it closes (checked below).
            pass
        answer = self.read_answer()
        if answer.closes:
            self.close()
        elif self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        else:
            raise AssertionError(f"the server stopped reading without saying close: {answer}")
        return answer

    def read_answer(self) -> Answer:
        assert self.sock is not None
        head: h11.Response | None = None
        body = bytearray()
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                # EOF (b"") before the whole answer makes h11 raise RemoteProtocolError.
                self.h11.receive_data(self.sock.recv(65536))
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                headers = {name.decode(): value.decode() for name, value in head.headers}
                closes = self.h11.their_state is h11.MUST_CLOSE
                return Answer(head.status_code, headers, bytes(body), closes)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("closed without an answer")


def check(answer: Answer, status: int, error: str | None = None) -> None:
    assert answer.status == status, (answer.status, answer.body[:200])
    assert "server" not in answer.headers, answer.headers["server"]
    if error is not None:
        assert json.loads(answer.body)["error"] == error


def run_pairs(port: int) -> dict[str, Tally]:
    """Per kind, PAIRS early answers each followed by GET /health, on one connection."""
    client = OneConnection(port)
    try:
        # The login limit is 1/hour: this attempt spends it, every later one is a 429.
        check(client.request("POST", "/api/v1/auth/login", JSON, b"{}"), 400, "VALIDATION_ERROR")
        return {name: pairs_of(client, kind) for name, kind in KINDS.items()}
    finally:
        client.close()


def pairs_of(client: OneConnection, kind: EarlyAnswer) -> Tally:
    tally = Tally()
    started, opened = time.monotonic(), client.opened
    for pair in range(PAIRS):
        try:
            answer = client.request(
                kind.method, kind.target, kind.headers, kind.body, chunked=kind.chunked
            )
            check(answer, kind.status, kind.error)
            check(client.request("GET", "/health"), 200)
        except (OSError, h11.ProtocolError, AssertionError, ValueError) as error:
            tally.errors.append(f"pair {pair}: {type(error).__name__}: {error}")
            client.close()
    tally.seconds = time.monotonic() - started
    tally.reconnects = client.opened - opened
    return tally


def early_answer_settings(backend: Backend) -> Settings:
    return backend.settings(
        **FAST_HASHING,
        RATE_LIMIT_ENABLED=True,
        RATE_LIMIT_DEFAULT="100000/hour",
        RATE_LIMIT_USERS="100000/hour",
        RATE_LIMIT_LOGIN="1/hour",
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
    )


async def test_one_connection_survives_every_early_answer(backend: Backend, tmp_path: Path) -> None:
    """On the embedded default and on PostgreSQL + Redis (where 401 and 429 consult Redis)."""
    settings = early_answer_settings(backend)
    async with running_servers(settings, 1, tmp_path) as (server,):
        port = int(server.url.rsplit(":", 1)[1])
        tallies = await asyncio.to_thread(run_pairs, port)
    await reset_backend(backend)
    report = [
        f"{name}: {len(t.errors)} errors, {t.reconnects} reconnects, {t.seconds:.1f}s"
        + "".join(f"\n    {error}" for error in t.errors[:3])
        for name, t in tallies.items()
    ]
    print("\n".join(report))
    assert all(not t.errors for t in tallies.values()), "\n".join(report)


def one_exchange(port: int, request: h11.Request, body: bytes, *, ended: bool) -> Answer:
    """Send a request head and `body` (the end of the body only if `ended`), then read the
    answer; then stop sending and expect the server to close its side (EOF, no reset)."""
    client = OneConnection(port)
    try:
        sock = client.open()
        try:
            sock.sendall(client.h11.send(request))
            sock.sendall(client.h11.send(h11.Data(data=body)) if body else b"")
            sock.sendall(client.h11.send(h11.EndOfMessage()) if ended else b"")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the answer is still due: read_answer fails if it is lost
        answer = client.read_answer()
        try:
            sock.shutdown(socket.SHUT_WR)
            after: bytes | OSError = sock.recv(1)
        except OSError as error:
            after = error
        # A reset here could as well have come before the client read the answer.
        assert after == b"", f"the server reset the connection: {after!r}"
        return answer
    finally:
        client.close()


def post(target: str, *framing: tuple[str, str]) -> h11.Request:
    return h11.Request(method="POST", target=target, headers=[("Host", "x"), *JSON, *framing])


def answers_past_the_drain_limit(port: int) -> list[Answer]:
    big = json_body(2 * 1024 * 1024)  # twice MAX_CONTENT_LENGTH
    large = ("Content-Length", str(len(big)))
    chunked = ("Transfer-Encoding", "chunked")
    return [
        # Announced, not sent: the answer must not wait for it.
        one_exchange(port, post("/api/v1/users/", large), b"", ended=False),
        # Chunked, past DRAIN_LIMIT so far, never ended: likewise.
        one_exchange(
            port, post("/api/v1/products/", chunked), b"x" * (DRAIN_LIMIT + 1), ended=False
        ),
        # Sent whole before the client reads (as HTTP clients do): a close straight after
        # the answer would reset the connection under the client and lose the answer.
        *(one_exchange(port, post("/api/v1/users/", large), big, ended=True) for _ in range(20)),
    ]


async def on_a_server(
    backend: Backend, tmp_path: Path, exchanges: Callable[[int], list[Answer]]
) -> list[Answer]:
    """Run `exchanges(port)` (blocking sockets, on a thread) against a fresh server."""
    settings = backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    async with running_servers(settings, 1, tmp_path) as (server,):
        port = int(server.url.rsplit(":", 1)[1])
        answers = await asyncio.to_thread(exchanges, port)
    await reset_backend(backend)
    return answers


async def test_answer_before_a_large_body_says_close_and_reaches_the_client(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    not_sent, not_ended, *sent_whole = await on_a_server(
        sqlite_backend, tmp_path, answers_past_the_drain_limit
    )
    check(not_sent, 413, "PAYLOAD_TOO_LARGE")
    check(not_ended, 401, "UNAUTHORIZED")
    for answer in (not_sent, not_ended, *sent_whole):
        assert answer.headers.get("connection") == "close"
    for answer in sent_whole:
        check(answer, 413, "PAYLOAD_TOO_LARGE")


def answers_to_expect_continue(port: int) -> list[Answer]:
    """Twice on one connection: a request waiting for `100 Continue` that the service
    answers without needing its body (415), then GET /health."""
    client = OneConnection(port)
    answers = []
    try:
        for _ in range(2):
            sock = client.open()
            head = h11.Request(
                method="POST",
                target="/api/v1/users/",
                headers=[
                    ("Host", "x"),
                    ("Content-Type", "text/plain"),
                    ("Content-Length", "200"),
                    ("Expect", "100-continue"),
                ],
            )
            sock.sendall(client.h11.send(head))
            # The body goes only after `100 Continue`: the server invites it and reads it.
            while (event := client.h11.next_event()) is h11.NEED_DATA:
                client.h11.receive_data(sock.recv(65536))
            assert isinstance(event, h11.InformationalResponse), event
            sock.sendall(client.h11.send(h11.Data(data=b"x" * 200)))
            sock.sendall(client.h11.send(h11.EndOfMessage()))
            answers.append(client.read_answer())
            if answers[-1].closes:
                client.close()
            else:
                client.h11.start_next_cycle()
            answers.append(client.request("GET", "/health"))
    finally:
        client.close()
    return answers


async def test_an_early_answer_to_expect_continue_keeps_the_connection(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    unsupported, health, *again = await on_a_server(
        sqlite_backend, tmp_path, answers_to_expect_continue
    )
    check(unsupported, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert not unsupported.closes
    check(health, 200)
    assert [answer.status for answer in again] == [415, 200]
