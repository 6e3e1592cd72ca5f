"""The outage proxy itself, in front of a small echo server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.plugins.backends import ProxyFactory
from tests.proxy import TcpProxy


class EchoServer:
    """Echoes every chunk back and remembers what it received."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.server: asyncio.Server | None = None
        self._arrived = asyncio.Condition()

    async def wait_for(self, data: bytes) -> None:
        async with self._arrived:
            await self._arrived.wait_for(lambda: data in self.received)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(1024):
                self.received += chunk
                async with self._arrived:
                    self._arrived.notify_all()
                writer.write(chunk)
                await writer.drain()
        writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port


@pytest.fixture(name="echo")
async def _echo() -> AsyncIterator[EchoServer]:
    echo = EchoServer()
    echo.server = await asyncio.start_server(echo.handle, "127.0.0.1", 0)
    yield echo
    echo.server.close()


@pytest.fixture(name="proxy")
async def _proxy(echo: EchoServer, tcp_proxy: ProxyFactory) -> TcpProxy:
    return await tcp_proxy("127.0.0.1", echo.port)


async def connect(proxy: TcpProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    try:
        return await reader.read(1024) == b""
    except ConnectionResetError:
        return True


async def test_pass_through_forwards_both_ways(proxy: TcpProxy) -> None:
    reader, writer = await connect(proxy)
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    writer.close()
    assert proxy.connections == 1


async def test_silent_holds_bytes_until_passed_through_again(
    proxy: TcpProxy, echo: EchoServer
) -> None:
    reader, writer = await connect(proxy)
    writer.write(b"one")
    assert await reader.readexactly(3) == b"one"
    proxy.silent()
    writer.write(b"two")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readexactly(3), 0.2)
    assert bytes(echo.received) == b"one"
    late_reader, late_writer = await connect(proxy)  # new connections are accepted and held
    proxy.pass_through()
    assert await reader.readexactly(3) == b"two"
    late_writer.write(b"late")
    assert await late_reader.readexactly(4) == b"late"
    writer.close()
    late_writer.close()


async def test_cut_closes_connections_and_refuses_new_ones(proxy: TcpProxy) -> None:
    reader, writer = await connect(proxy)
    writer.write(b"x")
    assert await reader.readexactly(1) == b"x"
    proxy.cut()
    assert await closed_by_peer(reader)
    new_reader, _ = await connect(proxy)
    assert await closed_by_peer(new_reader)
    proxy.pass_through()
    reader, writer = await connect(proxy)
    writer.write(b"back")
    assert await reader.readexactly(4) == b"back"
    writer.close()


async def test_cut_after_forwards_the_chunk_then_drops_the_reply(
    proxy: TcpProxy, echo: EchoServer
) -> None:
    other_reader, other_writer = await connect(proxy)
    reader, writer = await connect(proxy)
    proxy.cut_after(b"COMMIT")
    writer.write(b"BEGIN")
    assert await reader.readexactly(5) == b"BEGIN"
    writer.write(b"COMMIT")
    await proxy.wait_cut()
    assert await closed_by_peer(reader)  # the reply never arrives
    await echo.wait_for(b"BEGINCOMMIT")  # but the server got the chunk
    other_writer.write(b"COMMIT")  # fired once: other connections carry on
    assert await other_reader.readexactly(6) == b"COMMIT"
    other_writer.close()
