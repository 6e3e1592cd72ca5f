"""A response leaves the server in one write (one send() call, one TCP segment), where
uvicorn alone writes its head and its body apart."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn import Config
from uvicorn.server import ServerState

from service.app import create_app
from service.config import Settings
from service.http_cycle import HOLD_LIMIT, JoinedWrites
from service.http_protocol import ServiceProtocol


class RecordingTransport(asyncio.Transport):
    """Keeps what is written; enough of a transport for uvicorn's protocol."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.written = asyncio.Event()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))
        self.written.set()

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    async def answered(self, seconds: float = 2.0) -> None:
        """Wait until something is written (the answer takes a few turns of the loop)."""
        async with asyncio.timeout(seconds):  # no task of its own (counted in some tests)
            await self.written.wait()


async def test_a_response_is_written_once(settings: Settings) -> None:
    app = create_app(settings)
    async with app.test_app():
        config = Config(app, http=ServiceProtocol, lifespan="off", log_config=None)
        config.load()
        protocol = ServiceProtocol(config=config, server_state=ServerState(), app_state={})
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await transport.answered()
        await asyncio.sleep(0.05)  # room for a second write, had there been one
        protocol.connection_lost(None)
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == b'{"status":"ok"}'


async def test_a_large_body_is_not_held_back_from_flow_control() -> None:
    transport = RecordingTransport()
    joined = JoinedWrites(transport, asyncio.get_running_loop())
    joined.write(b"head")
    assert transport.writes == []  # held until the loop turns
    joined.write(b"x" * HOLD_LIMIT)
    assert transport.writes == [b"head" + b"x" * HOLD_LIMIT]  # at once: the transport sees it
    await asyncio.sleep(0)
    assert len(transport.writes) == 1  # nothing held twice
