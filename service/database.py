"""Async SQLAlchemy: declarative base, engine lifecycle and the per-request session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine for the configured database, with pool settings for servers."""
    url = settings.database_url
    # Parameters (password hashes, emails, tokens' ids) never reach an exception text or
    # the echo log: errors and DATABASE_ECHO show the statement with placeholders only.
    options: dict[str, Any] = {"echo": settings.DATABASE_ECHO, "hide_parameters": True}
    if url.startswith("sqlite"):
        _ensure_sqlite_directory(url)
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.DATABASE_POOL_SIZE,
        max_overflow=settings.DATABASE_MAX_OVERFLOW,
        pool_timeout=settings.DATABASE_POOL_TIMEOUT,
        pool_pre_ping=True,
        connect_args={"timeout": settings.DATABASE_POOL_TIMEOUT},
        **options,
    )


def _ensure_sqlite_directory(url: str) -> None:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers run beside a writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
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


class Database:
    """Owns the engine and hands each request one lazily opened session."""

    def __init__(self) -> None:
        self.engine: AsyncEngine | None = None
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None

    def init_app(self, app: Quart, settings: Settings) -> None:
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
                await session.close()  # rolls back whatever was not committed

        app.before_serving(connect)
        app.after_serving(disconnect)
        app.teardown_request(close_request_session)
        app.extensions["database"] = self

    def session(self) -> AsyncSession:
        """The current request's session, opened on first use."""
        session: AsyncSession | None = g.get("db_session")
        if session is None:
            session = self.session_for_task()
            g.db_session = session
        return session

    def session_for_task(self) -> AsyncSession:
        """A new session owned by the caller (CLI commands, background work)."""
        if self.sessionmaker is None:
            raise RuntimeError("the database is not connected (app not serving)")
        return self.sessionmaker()

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` once this request's transaction has committed (never if it fails).

        Cache invalidation goes here: done before the commit, a concurrent reader could
        cache the old row again.
        """
        g.setdefault("after_commit", []).append(callback)

    async def commit_request(self) -> None:
        """Commit the request's session, if it was opened, then run the after-commit work."""
        session: AsyncSession | None = g.get("db_session")
        if session is not None:
            await session.commit()
        for callback in g.pop("after_commit", []):
            await callback()

    async def rollback_request(self) -> None:
        session: AsyncSession | None = g.get("db_session")
        if session is not None:
            await session.rollback()

    async def ping(self) -> None:
        """Run `SELECT 1`; raises when the database cannot be reached."""
        if self.engine is None:
            raise RuntimeError("the database is not connected")
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
