"""Async SQLAlchemy: declarative base, engine lifecycle and the per-request session."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quart import Quart, g
from sqlalchemy import DateTime, MetaData, event, false, inspect, text, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from service.config import Settings
from service.errors import DatabaseTimeout

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that reads back aware on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a timezone-aware column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def lock_for_update(session: AsyncSession, model: type[Base]) -> None:
    """On SQLite, take the database's write lock now: it has no `SELECT … FOR UPDATE`.

    A write that matches no row is enough to begin the write transaction, so a row read
    next cannot change before this transaction ends. PostgreSQL locks the row itself.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    key = inspect(model).primary_key[0]
    await session.execute(
        update(model).where(false()).values({key: key}).execution_options(synchronize_session=False)
    )


# Server-side TCP keepalives (seconds): PostgreSQL drops the sessions of clients that
# vanished in a partition instead of holding their locks and slots. asyncpg has no client
# socket options; on our side the deadlines below and the pool's pre-ping do that job.
SERVER_KEEPALIVES = {
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
}
# asyncpg's own per-statement timeout sits just past the request deadline: requests are
# answered by the deadline (which discards the connection cleanly); CLI work and
# background tasks, which have no deadline, are still bounded by it.
COMMAND_TIMEOUT_MARGIN = 1.0


def create_engine(settings: Settings, *, command_timeout: bool = True) -> AsyncEngine:
    """An engine for the configured database, with pool settings and deadlines for servers.

    `command_timeout=False` lets single statements run as long as they need (migrations).
    """
    url = settings.database_url
    # Parameters (password hashes, emails, tokens' ids) never reach an exception text or
    # the echo log: errors and DATABASE_ECHO show the statement with placeholders only.
    options: dict[str, Any] = {"echo": settings.DATABASE_ECHO, "hide_parameters": True}
    if url.startswith("sqlite"):
        _ensure_sqlite_directory(url)
        engine = create_async_engine(url, **options)
        busy_ms = round(settings.DATABASE_TIMEOUT * 1000)

        def pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            _sqlite_pragmas(dbapi_connection, busy_ms)

        event.listen(engine.sync_engine, "connect", pragmas)
        return engine
    connect_args: dict[str, Any] = {
        "timeout": settings.DATABASE_TIMEOUT,  # TCP connect and start-up together
        "server_settings": SERVER_KEEPALIVES,
    }
    if command_timeout:
        connect_args["command_timeout"] = settings.DATABASE_TIMEOUT + COMMAND_TIMEOUT_MARGIN
    return create_async_engine(
        url,
        pool_size=settings.DATABASE_POOL_SIZE,
        max_overflow=settings.DATABASE_MAX_OVERFLOW,
        pool_timeout=settings.DATABASE_POOL_TIMEOUT,
        pool_pre_ping=True,
        connect_args=connect_args,
        **options,
    )


def _ensure_sqlite_directory(url: str) -> None:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, busy_ms: int) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers run beside a writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # A locked file is SQLite's silent database: it gives up after DATABASE_TIMEOUT (a 503).
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.close()
    # SQLite's own lower() folds ASCII only; an application function of the same name
    # replaces it on this connection, so func.lower() means the same on both backends.
    dbapi_connection.create_function("lower", 1, unicode_lower, deterministic=True)


def unicode_lower(value: Any) -> Any:
    """PostgreSQL's lower() (UTF-8 database, libc or builtin locale): each character on its
    own through Unicode's simple lowercase mapping; other SQL values pass unchanged.

    Python's str.lower() uses the full mapping, which differs in exactly two places:
    U+0130 (capital I with dot) becomes "i" + U+0307 rather than "i", and a word-final
    U+03A3 (capital sigma) becomes final sigma U+03C2 rather than U+03C3.
    """
    if not isinstance(value, str):
        return value
    return value.replace("\u0130", "i").replace("\u03a3", "\u03c3").lower()


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

    def init_app(self, app: Quart, settings: Settings) -> None:
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
