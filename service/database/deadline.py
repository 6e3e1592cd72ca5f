"""The deadline that bounds a request's database work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    contextmanager,
    nullcontext,
    suppress,
)
from types import TracebackType

from quart import g, has_app_context

from service.errors import DatabaseTimeout


def deadline_paused() -> AbstractContextManager[None]:
    """The current request's database deadline paused (`Deadline.paused`), if it has one."""
    deadline = g.get("db_deadline") if has_app_context() else None
    return deadline.paused() if isinstance(deadline, Deadline) else nullcontext()


class Deadline(AbstractAsyncContextManager["Deadline"]):
    """From `start()`, cancels the current task when `seconds` are up, then again until it
    stops; leaving the block after that runs `on_expiry` and raises `DatabaseTimeout`.

    Not `asyncio.timeout`: SQLAlchemy answers a cancellation inside a statement by
    invalidating the connection, and closes it politely first, which waits up to 2 s more
    on a silent server. Cancelled again there, it force-closes (sqlalchemy #13772), so the
    deadline repeats its cancellation every `NUDGE_SECONDS` until the work lets go.
    `seconds=None` never expires.
    """

    NUDGE_SECONDS = 0.05

    def __init__(self, seconds: float | None, on_expiry: Callable[[], Awaitable[None]]) -> None:
        self.seconds = seconds
        self.on_expiry = on_expiry
        self._task = asyncio.current_task()
        self._handle: asyncio.TimerHandle | None = None
        self._cancels = 0
        self._over = False  # its block has ended: it never counts again

    def start(self) -> None:
        """Start counting (once; later calls keep the first start)."""
        if self._handle is None and self.seconds is not None and not self._over:
            self._handle = asyncio.get_running_loop().call_later(self.seconds, self._expire)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the clock for work that is not the database's (hashing a password, a wait):
        under a burst of logins, queueing for the hashing threads is no silent database."""
        if self._handle is None or self._cancels or self._over:
            yield  # not counting, or already expired
            return
        loop = asyncio.get_running_loop()
        remaining = self._handle.when() - loop.time()
        self._handle.cancel()
        try:
            yield
        finally:
            self._handle = loop.call_later(max(remaining, 0.0), self._expire)

    def _expire(self) -> None:
        if self._task is not None and not self._task.done():
            self._cancels += 1
            self._task.cancel()
            self._handle = asyncio.get_running_loop().call_later(self.NUDGE_SECONDS, self._expire)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._over = True
        if self._handle is not None:
            self._handle.cancel()
        if self._task is None or not self._cancels:
            return
        for _ in range(self._cancels):  # withdraw its cancellations
            self._task.uncancel()
        if error is None:
            # The work finished just as the clock ran out: take the cancellation still due.
            with suppress(asyncio.CancelledError):
                await asyncio.sleep(0)
        elif isinstance(error, Exception | asyncio.CancelledError):
            # Whatever surfaced (the cancellation, or an error SQLAlchemy made of it) means
            # the database stayed silent.
            await self.on_expiry()
            raise DatabaseTimeout() from error
