"""ServiceConnection: a request is served in the server's task, and a client that
disconnects before its answer has the work on its request stopped, as in Quart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from quart import Blueprint
from uvicorn import Config
from uvicorn.server import ServerState

from service.app import create_app
from service.config import Settings
from service.http_protocol import ServiceProtocol
from tests.test_joined_writes import RecordingTransport

Message = dict[str, Any]

slow = Blueprint("slow_probe", __name__)
view_state: dict[str, asyncio.Event] = {}


@slow.get("/_slow")
async def wait_long() -> dict[str, str]:
    view_state["started"].set()
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        view_state["cancelled"].set()
        raise
    return {"status": "late"}


def http_scope(path: str) -> Message:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


@contextmanager
def tasks_started() -> Iterator[list[str]]:
    """The names of the coroutines of the tasks started in the block."""
    loop = asyncio.get_running_loop()
    started: list[str] = []
    default_factory = loop.get_task_factory()

    def counting_factory(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **options: Any
    ) -> asyncio.Task[Any]:
        started.append(coro.__qualname__)
        return asyncio.Task(coro, loop=loop, **options)

    loop.set_task_factory(counting_factory)  # type: ignore[arg-type]
    try:
        yield started
    finally:
        loop.set_task_factory(default_factory)


def receiver(client_left: asyncio.Event) -> Callable[[], Awaitable[Message]]:
    """The request (no body), then `http.disconnect` once `client_left` is set."""
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await client_left.wait()
        return {"type": "http.disconnect"}

    return receive


async def test_a_request_starts_one_task_only(settings: Settings) -> None:
    app = create_app(settings)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async with app.test_app():
        with tasks_started() as created:
            await app(http_scope("/health"), receiver(asyncio.Event()), send)
    assert sent[0]["status"] == 200
    # The body's reader; Quart's own connection started three (reader, handler, send timer).
    assert created == ["ASGIHTTPConnection.handle_messages"]


async def test_a_client_that_leaves_has_its_work_stopped_and_gets_nothing(
    settings: Settings,
) -> None:
    app = create_app(settings)
    app.register_blueprint(slow)
    view_state.update(started=asyncio.Event(), cancelled=asyncio.Event())
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    client_left = asyncio.Event()
    async with app.test_app():
        serving = asyncio.ensure_future(app(http_scope("/_slow"), receiver(client_left), send))
        await asyncio.wait_for(view_state["started"].wait(), 5)
        client_left.set()
        await asyncio.wait_for(serving, 5)  # returns: a client leaving is no error
    assert view_state["cancelled"].is_set()
    assert sent == []


def serving_protocol(app: Any) -> tuple[ServiceProtocol, RecordingTransport]:
    """uvicorn's protocol as the server runs it, on a transport that records writes."""
    config = Config(app, http=ServiceProtocol, lifespan="off", log_config=None)
    config.load()
    protocol = ServiceProtocol(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def test_a_request_without_a_body_starts_no_task_of_its_own(settings: Settings) -> None:
    # A task waited on `receive` only to hear of a disconnect; the protocol now says so.
    app = create_app(settings)
    async with app.test_app():
        protocol, transport = serving_protocol(app)
        with tasks_started() as created:
            protocol.data_received(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await transport.answered()
        protocol.connection_lost(None)
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert created == ["RequestResponseCycle.run_asgi"]  # uvicorn's, for the request


async def test_a_client_that_leaves_a_request_without_a_body_has_its_work_stopped(
    settings: Settings,
) -> None:
    app = create_app(settings)
    app.register_blueprint(slow)
    view_state.update(started=asyncio.Event(), cancelled=asyncio.Event())
    async with app.test_app():
        protocol, transport = serving_protocol(app)
        protocol.data_received(b"GET /_slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await asyncio.wait_for(view_state["started"].wait(), 5)
        protocol.connection_lost(None)
        await asyncio.wait_for(view_state["cancelled"].wait(), 5)
        await asyncio.sleep(0.05)  # room for an answer, had one been sent
    assert transport.writes == []


async def test_a_request_with_a_body_is_read_through_the_protocol(settings: Settings) -> None:
    app = create_app(settings)
    body = b'{"email": "nobody@example.com", "password": "wrong-password"}'
    async with app.test_app():
        protocol, transport = serving_protocol(app)
        protocol.data_received(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await transport.answered()
        protocol.connection_lost(None)
    assert transport.writes[0].startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b'"INVALID_CREDENTIALS"' in transport.writes[0]
