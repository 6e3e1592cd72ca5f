"""The database extension: engine lifecycle and the per-request session."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from quart import Quart, g
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.config import Settings
from service.database.deadline import RequestDeadline
from service.database.engine import create_engine
from service.errors import DatabaseTimeout

# The package's name, as before the split: log filters (and tests) use it.
logger = logging.getLogger("service.database")


class Database:
    """Owns the engine and hands each request one lazily opened session.

    A request that opens a session gets a deadline of `DATABASE_TIMEOUT` from then on for
    its view and commit: on a silent database it is answered 503 when the deadline passes,
    and its connection is discarded (never returned to the pool, where the next request
    would hang on it again). On SQLite, a locked file gives up after as long (a 503 too).
    """

    def __init__(self) -> None:
        self.engine: AsyncEngine | None = None
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self.timeout = 5.0
        self.deadlines = True

    def init_app(self, app: Quart) -> None:
        settings: Settings = app.extensions["settings"]
        self.timeout = settings.DATABASE_TIMEOUT
        # SQLite's statements run in a thread that a cancellation cannot stop (it would go
        # on holding the file's lock); there SQLite's own busy_timeout is the bound.
        self.deadlines = not settings.database_url.startswith("sqlite")

        async def connect() -> None:
            self.engine = create_engine(settings)
            self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

        async def disconnect() -> None:
            if self.engine is not None:
                await self.engine.dispose()
            self.engine = self.sessionmaker = None

        async def close_request_session(_exc: BaseException | None) -> None:
            session: AsyncSession | None = g.pop("db_session", None)
            if session is not None:
                # Closing rolls back whatever was not committed; bounded like the request.
                await self._bounded(session, session.close)

        app.before_serving(connect)
        app.after_serving(disconnect)
        app.teardown_request(close_request_session)
        app.extensions["database"] = self

    def session(self) -> AsyncSession:
        """The current request's session, opened on first use (which starts its deadline)."""
        session: AsyncSession | None = g.get("db_session")
        if session is None:
            session = self.session_for_task()
            g.db_session = session
            deadline: RequestDeadline | None = g.get("db_deadline")
            if deadline is not None:
                deadline.start(self.timeout)
        return session

    def session_for_task(self) -> AsyncSession:
        """A new session owned by the caller (CLI commands, background work)."""
        if self.sessionmaker is None:
            raise RuntimeError("the database is not connected (app not serving)")
        return self.sessionmaker()

    @asynccontextmanager
    async def request_deadline(self) -> AsyncIterator[None]:
        """Bound the request's database work by `DATABASE_TIMEOUT` from its first use.

        Past the deadline the request's connection is invalidated (closed without a word
        to the server) and the request raises `DatabaseTimeout`, a 503 with Retry-After.
        """
        if not self.deadlines:
            yield
            return
        deadline = RequestDeadline()
        g.db_deadline = deadline
        if g.get("db_session") is not None:
            deadline.start(self.timeout)  # opened before the view (by a hook)
        try:
            yield
        except (Exception, asyncio.CancelledError) as error:
            # Past the deadline, whatever surfaced (the cancellation, or an error SQLAlchemy
            # made of it) means the database stayed silent.
            if not deadline.stop():
                raise
            logger.warning(
                "database silent for %gs; request answered 503 and its connection discarded",
                self.timeout,
            )
            await self._discard_request_session()
            raise DatabaseTimeout() from error
        else:
            if deadline.stop():
                await deadline.absorb_late_cancellation()
        finally:
            deadline.stop()
            g.pop("db_deadline", None)

    async def _discard_request_session(self) -> None:
        session: AsyncSession | None = g.get("db_session")
        if session is not None:
            g.db_session_discarded = True
            await session.invalidate()

    async def _bounded(self, session: AsyncSession, work: Callable[[], Awaitable[None]]) -> None:
        """Run clean-up on the session; discard the connection if the database is silent."""
        if g.get("db_session_discarded"):
            return  # the connection is gone already; there is nothing left to clean
        if not self.deadlines:
            await work()
            return
        deadline = RequestDeadline()
        deadline.start(self.timeout)
        try:
            await work()
        except (Exception, asyncio.CancelledError):
            if not deadline.stop():
                raise
            logger.warning("database silent during clean-up; connection discarded")
            g.db_session_discarded = True
            await session.invalidate()
        else:
            if deadline.stop():
                await deadline.absorb_late_cancellation()
        finally:
            deadline.stop()

    def before_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` just before this request's transaction commits.

        Raising from it refuses the request: the transaction is rolled back instead.
        """
        g.setdefault("before_commit", []).append(callback)

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` once this request's transaction has committed (never if it fails).

        Cache invalidation goes here: done only before the commit, a concurrent reader could
        cache the old row again.
        """
        g.setdefault("after_commit", []).append(callback)

    async def commit_request(self) -> None:
        """Commit the request's session, if it was opened, around the before/after work."""
        for callback in g.pop("before_commit", []):
            await callback()
        session: AsyncSession | None = g.get("db_session")
        if session is not None:
            await session.commit()
        for callback in g.pop("after_commit", []):
            await callback()

    async def rollback_request(self) -> None:
        session: AsyncSession | None = g.get("db_session")
        if session is not None:
            await self._bounded(session, session.rollback)

    async def ping(self) -> None:
        """Run `SELECT 1`; raises when the database cannot be reached or stays silent."""
        if self.engine is None:
            raise RuntimeError("the database is not connected")
        async with asyncio.timeout(self.timeout), self.engine.connect() as connection:
            try:
                await connection.execute(text("SELECT 1"))
            except asyncio.CancelledError:
                await connection.invalidate()  # never back to the pool half-answered
                raise
