"""The request deadline that bounds a request's database work."""

from __future__ import annotations

import asyncio
from contextlib import suppress


class RequestDeadline:
    """Cancels the current task when its time is up, then again until it stops.

    Not `asyncio.timeout`: SQLAlchemy answers a cancellation inside a statement by
    invalidating the connection, and closes it politely first, which waits up to 2 s more
    on a silent server. Cancelled again there, it force-closes (sqlalchemy #13772), so the
    deadline repeats its cancellation every `NUDGE_SECONDS` until the request lets go.
    """

    NUDGE_SECONDS = 0.05

    def __init__(self) -> None:
        self._task = asyncio.current_task()
        self._handle: asyncio.TimerHandle | None = None
        self._cancels = 0
        self._stopped = False
        self.expired = False

    def start(self, seconds: float) -> None:
        """Start counting (once; later calls keep the first start)."""
        if self._handle is None and not self.expired and not self._stopped:
            self._handle = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        if self._task is None or self._task.done():
            return
        self.expired = True
        self._cancels += 1
        self._task.cancel()
        self._handle = asyncio.get_running_loop().call_later(self.NUDGE_SECONDS, self._expire)

    def stop(self) -> bool:
        """Stop the clock and withdraw its cancellations; True when it had expired."""
        self._stopped = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._task is not None:
            for _ in range(self._cancels):
                self._task.uncancel()
        self._cancels = 0
        return self.expired

    async def absorb_late_cancellation(self) -> None:
        """The work finished just as the clock ran out: take the cancellation still due."""
        with suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
