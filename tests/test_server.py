"""The production server process: graceful shutdown and CORS, as clients see them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import socket
from pathlib import Path

import h11
import httpx
import pytest

from tests.factories import FAST_HASHING, PASSWORD
from tests.plugins.backends import Backend, reset_backend
from tests.servers import SERVICE, running_servers, settings_env


async def test_sigterm_lets_in_flight_request_finish(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    settings = postgres_backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    async with running_servers(settings, 1, tmp_path) as (server,), httpx.AsyncClient() as client:
        body = {"email": "slow@example.com", "password": PASSWORD}
        await client.post(f"{server.url}/api/v1/users/", json={**body, "name": "Slow"})
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        http = h11.Connection(h11.CLIENT)
        content = json.dumps(body).encode()
        head = h11.Request(
            method="POST",
            target="/api/v1/auth/login",
            headers=[
                ("Host", host),
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(content))),
                ("Expect", "100-continue"),
            ],
        )
        writer.write(http.send(head))
        # `100 Continue` means the server has taken the request in: it is in flight, and
        # stays so until its body, sent only after the signal, has been answered.
        continued = await next_event(http, reader)
        assert isinstance(continued, h11.InformationalResponse)
        assert continued.status_code == 100
        server.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(refused(host, int(port)), 30)  # shutting down now
        writer.write(http.send(h11.Data(data=content)) + http.send(h11.EndOfMessage()))
        response = await next_event(http, reader)
        assert isinstance(response, h11.Response)
        assert response.status_code == 200
        answer = b""
        while isinstance(event := await next_event(http, reader), h11.Data):
            answer += event.data
        assert isinstance(event, h11.EndOfMessage)
        assert "access_token" in json.loads(answer)
        writer.close()
        await writer.wait_closed()
        assert await asyncio.wait_for(server.process.wait(), 30) == 0
    await reset_backend(postgres_backend)


async def refused(host: str, port: int) -> None:
    """Return once the server no longer accepts connections."""
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except (ConnectionRefusedError, ConnectionResetError):  # reset: dropped from the backlog
            return
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        await asyncio.sleep(0.01)


async def next_event(http: h11.Connection, reader: asyncio.StreamReader) -> object:
    """The server's next HTTP event, reading from the socket as needed."""
    while (event := http.next_event()) is h11.NEED_DATA:
        http.receive_data(await asyncio.wait_for(reader.read(65536), 30))
    return event


async def test_cors_preflight_and_headers_for_allowed_origin(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    settings = postgres_backend.settings(
        CORS_ORIGINS="https://app.example.com", RATE_LIMIT_DEFAULT="1/hour"
    )
    async with running_servers(settings, 1, tmp_path) as (server,), httpx.AsyncClient() as client:
        preflight_headers = {
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        }
        for _ in range(3):  # preflights are not counted against the 1/hour limit
            preflight = await client.options(
                f"{server.url}/api/v1/products/", headers=preflight_headers
            )
            assert preflight.status_code == 200
            assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
            assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        response = await client.get(
            f"{server.url}/api/v1/products/", headers={"Origin": "https://app.example.com"}
        )
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]
        other = await client.get(f"{server.url}/health", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
    await reset_backend(postgres_backend)


async def test_port_zero_binds_a_free_port_and_reports_it(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    """`PORT=0`: the server binds a port the kernel picks and says which, so tests and
    scripts need not guess a free port that another process could take first."""
    settings = postgres_backend.settings(**FAST_HASHING)
    async with running_servers(settings, 1, tmp_path) as (server,), httpx.AsyncClient() as client:
        port = int(server.url.rsplit(":", 1)[1])
        assert port > 0
        assert (await client.get(f"{server.url}/health")).status_code == 200


@pytest.mark.parametrize("by_option", [False, True], ids=["PORT", "--port"])
async def test_port_in_use_is_a_one_line_error(
    postgres_backend: Backend, tmp_path: Path, by_option: bool
) -> None:
    taken = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    env = settings_env(postgres_backend.settings(**FAST_HASHING)) | {
        "HOST": "127.0.0.1",
        "PORT": "0" if by_option else str(port),
        "WORKERS": "1",
    }
    options = ["--port", str(port)] if by_option else []
    try:
        process = await asyncio.create_subprocess_exec(
            SERVICE,
            "run",
            *options,
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        taken.close()
        await taken.wait_closed()
    assert process.returncode == 1
    lines = err.decode().strip().splitlines()
    assert lines == [f"Cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert out == b""


# Requests the server refuses before the app sees them (or while reading their body): it
# answers those itself (service/http_protocol.py), so only a real server shows what a
# client gets.
MALFORMED = {
    "NUL in a header value": b"GET /health HTTP/1.1\r\nHost: x\r\nIf-Match: a\x00b\r\n\r\n",
    "NUL in Content-Type": (
        b"POST /api/v1/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\x00\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    ),
    "two Content-Lengths": (
        b"POST /api/v1/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{} "
    ),
    "negative Content-Length": (
        b"POST /api/v1/users/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}"
    ),
    "invalid chunk size": (
        b"POST /api/v1/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    ),
    "unknown transfer coding": (
        b"POST /api/v1/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    ),
    "header block too large": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: "
    + b"a" * 200_000
    + b"\r\n\r\n",
    # The service has no WebSocket routes: an upgrade is a request for no route.
    "WebSocket upgrade": (
        b"GET /api/v1/products/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    ),
    "WebSocket upgrade, bad handshake": (
        b"GET /health HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: x\r\nSec-WebSocket-Version: 99\r\n\r\n"
    ),
}


async def raw_exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `data` as it is and read the answer up to the server's close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        size = int(length.group(1)) if length else 0
        answer = head + await asyncio.wait_for(reader.readexactly(size), 30)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


async def test_malformed_http_gets_a_4xx_in_the_error_body(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    settings = sqlite_backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    answers = {}
    async with running_servers(settings, 1, tmp_path) as (server,):
        port = int(server.url.rsplit(":", 1)[1])
        for name, data in MALFORMED.items():
            answers[name] = await raw_exchange(port, data)
    await reset_backend(sqlite_backend)
    for name, (status, headers, body) in answers.items():
        assert 400 <= status < 500, (name, status)
        assert headers["content-type"] == "application/json", name
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers.get("connection") == "close" or status == 404, name
        error = json.loads(body)
        assert error["status_code"] == status, name
        assert error["error"] == ("BAD_REQUEST" if status == 400 else error["error"]), name
        assert error["error"].isupper(), name
        assert error["message"], name
        assert error["request_id"] == headers["x-request-id"], name
    assert answers["header block too large"][0] == 431
    assert answers["WebSocket upgrade"][0] == 404


def half_closed_exchange(port: int, request: bytes) -> bytes:
    """Send `request`, shut the sending side (a half-close), and read up to the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


async def test_a_client_that_half_closes_still_gets_its_answer(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    """Some clients shut their sending side once the request is out; the answer is due."""
    settings = sqlite_backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    sign_up = (
        b"POST /api/v1/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    async with running_servers(settings, 1, tmp_path) as (server,):
        port = int(server.url.rsplit(":", 1)[1])
        answers = [
            await asyncio.to_thread(half_closed_exchange, port, request)
            for request in [health, sign_up] * 10
        ]
    await reset_backend(sqlite_backend)
    for answer, status in zip(answers, [b"200", b"400"] * 10, strict=True):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 " + status + b" "), answer[:100]
        assert json.loads(body)
