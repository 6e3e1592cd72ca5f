"""Async SQLAlchemy: the declarative base, the column types every model shares and what a
database error means; engines in `engine`, the `Database` extension in `session`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import DateTime, MetaData, false, inspect, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from service.database.engine import create_engine, unicode_lower
from service.database.session import Database

__all__ = ["Database", "create_engine", "unicode_lower"]  # the names re-exported from submodules

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


M = TypeVar("M", bound=Base)


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


async def find_row(
    session: AsyncSession, model: type[M], key: int, *, for_update: bool = False
) -> M | None:
    """The row with this primary key, or None; `for_update` locks it and reloads it."""
    if for_update:
        await lock_for_update(session, model)
        return await session.get(model, key, with_for_update=True, populate_existing=True)
    return await session.get(model, key)


async def flush_unique(session: AsyncSession, conflict: Callable[[], Exception]) -> None:
    """Flush; a unique violation raises `conflict()` (a service's pre-check leaves a race
    with a concurrent insert, and the constraint decides it)."""
    try:
        await session.flush()
    except IntegrityError as error:
        if is_unique_violation(error):
            raise conflict() from None
        raise


def is_unique_violation(error: IntegrityError) -> bool:
    # PostgreSQL's SQLSTATE holds in any message language; SQLite has only its message.
    code = getattr(error.orig, "sqlstate", None)
    return code == "23505" or "unique constraint" in str(error.orig).lower()


def is_connection_lost(error: BaseException) -> bool:
    if isinstance(error, PoolTimeoutError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    # asyncpg and aiosqlite connect failures surface as OSError, sometimes wrapped
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError):  # ConnectionError and TimeoutError included
            return True
        cause = cause.__cause__
    return False


def is_database_locked(error: OperationalError) -> bool:
    """SQLite gave up waiting for another process's lock (its busy timeout passed)."""
    return "database is locked" in str(error.orig)
