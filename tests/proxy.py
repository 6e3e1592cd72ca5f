"""A TCP proxy that tests put between the service and PostgreSQL or Redis to stage outages.

    async with TcpProxy("127.0.0.1", 5432) as proxy:      # or the `tcp_proxy` fixture
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/db"
        proxy.silent()        # partition: connections stay open, nothing flows either way
        proxy.pass_through()  # healed: held bytes flow on, as TCP would retransmit them
        proxy.cut()           # outage: every connection closed, new ones refused
        proxy.pass_through()  # back: new connections are accepted again
        proxy.cut_after(b"COMMIT")  # the next client chunk containing b"COMMIT" is
                                    # forwarded, then that connection is cut and the
                                    # server's reply to it is dropped

`cut_after` arms once: the first matching chunk on any connection triggers it and the
proxy stays in pass-through for everything else; `await proxy.wait_cut()` returns once it
has fired. `connections` counts the client connections accepted so far.

Each proxy owns its listening socket and connections; nothing is global, so tests can run
several side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Coroutine
from types import TracebackType
from typing import Literal

Mode = Literal["pass", "silent", "cut"]
CHUNK = 65536


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; its mode decides what gets through."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "pass"
        self.connections = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._cut_pattern: bytes | None = None
        self._cut_fired = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> TcpProxy:
        # Port 0: the kernel picks a free port, so there is no race with other tests.
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._close_links()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def pass_through(self) -> None:
        """Forward everything, including what was held while silent."""
        self.mode = "pass"
        self._flowing.set()

    def silent(self) -> None:
        """Accept and hold connections, forward nothing in either direction."""
        self.mode = "silent"
        self._flowing.clear()

    def cut(self) -> None:
        """Close every connection now and refuse (close at once) new ones."""
        self.mode = "cut"
        self._flowing.set()
        self._close_links()

    def cut_after(self, pattern: bytes) -> None:
        """Cut the connection right after forwarding a client chunk containing `pattern`.

        The server gets the chunk (so a COMMIT is executed), the client never gets the
        reply. Fires once; other connections are not affected.
        """
        self._cut_pattern = pattern
        self._cut_fired.clear()

    @property
    def has_cut(self) -> bool:
        """Whether a `cut_after` pattern has been seen (and its connection cut)."""
        return self._cut_fired.is_set()

    async def wait_cut(self) -> None:
        """Return once a `cut_after` pattern has been seen and its connection cut."""
        await self._cut_fired.wait()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode == "cut":
            _abort(writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)
            return
        link = _Link(writer, upstream_writer)
        self._links.add(link)
        upstream = self._spawn(self._pump(reader, upstream_writer, link, from_client=True))
        downstream = self._spawn(self._pump(upstream_reader, writer, link, from_client=False))
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(upstream, downstream, return_exceptions=True)
        self._links.discard(link)
        link.close()

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        link: _Link,
        *,
        from_client: bool,
    ) -> None:
        try:
            while not link.closed:
                # While silent, nothing is read: bytes wait in the kernel's buffers, as they
                # would wait for retransmission across a partition.
                await self._flowing.wait()
                chunk = await source.read(CHUNK)
                await self._flowing.wait()
                if not chunk or link.closed:
                    break
                sink.write(chunk)
                await sink.drain()
                pattern = self._cut_pattern
                if from_client and pattern is not None and pattern in chunk:
                    self._cut_pattern = None
                    # The server side ends with a FIN after the chunk (a reset could discard
                    # it unread); the client side is reset, so no reply reaches it.
                    link.close(flush_server=True)
                    self._cut_fired.set()
                    break
        except (OSError, RuntimeError):
            pass
        finally:
            link.close()

    def _spawn(self, coroutine: Coroutine[None, None, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _close_links(self) -> None:
        for link in list(self._links):
            link.close()
        self._links.clear()


class _Link:
    """Both sockets of one proxied connection; closing either side closes both."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        self.closed = False

    def close(self, *, flush_server: bool = False) -> None:
        if not self.closed:
            self.closed = True
            _abort(self.client)
            if flush_server:
                self.server.close()
            else:
                _abort(self.server)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close at once with a reset, dropping whatever is still buffered."""
    transport = writer.transport
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
