"""What `ServiceProtocol` gives each request it serves: joined writes and a disconnect signal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

# A response's writes are held until the loop turns, unless they pass this many bytes.
HOLD_LIMIT = 64 * 1024
# The scope extension under which a request finds its `ClientGone`.
CLIENT_GONE = "service.client_gone"


class ClientGone:
    """Tells a request's handler that its client disconnected before the answer was complete.

    An ASGI app learns of a disconnect only by waiting on `receive`, which for a request
    without a body takes a task of its own just for that; `ServiceConnection` registers
    a callback here instead (the protocol puts one in each request's scope extensions).
    """

    __slots__ = ("callback",)

    def __init__(self) -> None:
        self.callback: Callable[[], None] | None = None

    @staticmethod
    def of(scope: Any) -> ClientGone:
        found = scope.get("extensions", {}).get(CLIENT_GONE)
        return found if isinstance(found, ClientGone) else ClientGone()

    def fire(self) -> None:
        callback, self.callback = self.callback, None
        if callback is not None:
            callback()


class JoinedWrites:
    """A response's writes, made in one turn of the event loop, sent as one.

    uvicorn writes a response's head and its body separately, and each write is a send()
    system call and a TCP segment of its own. What is written is held until the response
    completes (`flush`, from the protocol) or the loop turns (a streamed body), so nothing
    waits longer than that.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)
        self._held_bytes += len(data)
        if self._held_bytes > HOLD_LIMIT:
            self.flush()  # a large body: the transport's flow control must see it now

    def flush(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            self._held_bytes = 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)  # anything else uvicorn asks the transport
