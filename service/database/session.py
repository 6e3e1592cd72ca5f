"""The database extension: engine lifecycle and the per-request session."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import cast

from quart import Quart, g, has_request_context, request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.config import Settings
from service.database.deadline import Deadline
from service.database.engine import create_engine
from service.errors import DatabaseTimeout

# The package's name, as before the split: log filters (and tests) use it.
logger = logging.getLogger("service.database")

# Requests that only read (or write one row, which commits alone) need no transaction.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
        self.read_sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self.timeout = 5.0
        self.deadline_seconds: float | None = None

    def init_app(self, app: Quart) -> None:
        settings: Settings = app.extensions["settings"]
        self.timeout = settings.DATABASE_TIMEOUT
        # SQLite's statements run in a thread that a cancellation cannot stop (it would go
        # on holding the file's lock); there SQLite's own busy timeout is the bound.
        sqlite = settings.database_url.startswith("sqlite")
        self.deadline_seconds = None if sqlite else self.timeout

        @app.before_serving
        async def connect() -> None:
            self.engine = create_engine(settings)
            self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
            autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
            self.read_sessionmaker = async_sessionmaker(autocommit, expire_on_commit=False)

        @app.after_serving
        async def disconnect() -> None:
            if self.engine is not None:
                await self.engine.dispose()
            self.engine = self.sessionmaker = self.read_sessionmaker = None

        app.extensions["database"] = self

    async def close_request_session(self) -> None:
        """Close the request's session, if it opened one: rolls back what was not committed."""
        await self._bounded(AsyncSession.close)
        g.pop("db_session", None)

    def session(self) -> AsyncSession:
        """The current request's session, opened on first use (which starts its deadline)."""
        if "db_session" not in g:
            reads = has_request_context() and request.method in READ_METHODS
            g.db_session = self.session_for_task(autocommit=reads)
        if "db_deadline" in g:
            g.db_deadline.start()
        return cast(AsyncSession, g.db_session)

    async def one_statement_session(self) -> AsyncSession:
        """The session of a request whose whole write is one statement: it commits on its
        own, with no BEGIN and COMMIT round trips. So the work due before the commit
        (`before_commit`) runs now, before the statement. A request that has opened its
        session already keeps it, and its transaction.
        """
        if "db_session" not in g:
            for callback in g.pop("before_commit", []):
                await callback()
            g.db_session = self.session_for_task(autocommit=True)
        return self.session()

    def session_for_task(self, *, autocommit: bool = False) -> AsyncSession:
        """A new session owned by the caller (CLI commands, background work)."""
        maker = self.read_sessionmaker if autocommit else self.sessionmaker
        if maker is None:
            raise RuntimeError("the database is not connected (app not serving)")
        return maker()

    def request_deadline(self) -> Deadline:
        """The deadline that bounds the view and its commit: `DATABASE_TIMEOUT` from the
        session's first use (`async with` it around them).

        Past the deadline the request's connection is invalidated (closed without a word
        to the server) and the request raises `DatabaseTimeout`, a 503 with Retry-After.
        """
        state = g._get_current_object()
        state.db_deadline = deadline = Deadline(self.deadline_seconds, self._discard)
        if "db_session" in state:
            deadline.start()  # opened before the view (by a hook)
        return deadline

    async def commit_request(self) -> None:
        """Commit the request's session, if it was opened, around the before/after work."""
        state = g._get_current_object()  # one context lookup, not one per use
        for callback in state.pop("before_commit", ()):
            await callback()
        if (session := state.get("db_session")) is not None:
            await session.commit()
        for callback in state.pop("after_commit", ()):
            await callback()

    async def _bounded(self, work: Callable[[AsyncSession], Awaitable[None]]) -> None:
        """Clean up the request's session, bounded like the request."""
        if "db_session" not in g or g.get("db_session_discarded"):
            return  # nothing opened, or the connection is gone already
        with suppress(DatabaseTimeout):
            async with Deadline(self.deadline_seconds, self._discard) as deadline:
                deadline.start()
                await work(g.db_session)

    async def _discard(self) -> None:
        logger.warning("database silent for %gs; its connection discarded", self.timeout)
        g.db_session_discarded = True
        await g.db_session.invalidate()

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

    async def rollback_request(self) -> None:
        await self._bounded(AsyncSession.rollback)

    async def ping(self) -> None:
        """Run `SELECT 1`; raises when the database cannot be reached or stays silent."""
        if self.engine is None:
            raise RuntimeError("the database is not connected")
        # Cancelled in the statement, SQLAlchemy invalidates the connection (never back to
        # the pool half-answered).
        async with asyncio.timeout(self.timeout), self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
