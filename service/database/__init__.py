"""Async SQLAlchemy: the declarative base, the column types every model shares and what a
database error means; engines in `engine`, the `Database` extension in `session`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import DateTime, MetaData, false, inspect, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
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
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given for a timezone-aware column")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def find_row(
    session: AsyncSession, model: type[M], key: int, *, for_update: bool = False
) -> M | None:
    """The row with this primary key, or None; `for_update` locks it and reloads it."""
    if not for_update:
        return await session.get(model, key)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no `SELECT … FOR UPDATE`: a write that matches no row takes the
        # database's write lock now, so the row read next cannot change before this
        # transaction ends. PostgreSQL locks the row itself.
        pk = inspect(model).primary_key[0]
        no_row = update(model).where(false()).values({pk: pk})
        await session.execute(no_row.execution_options(synchronize_session=False))
    return await session.get(model, key, with_for_update=True, populate_existing=True)


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
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    # A pool timeout, or a connect failure (asyncpg's and aiosqlite's surface as OSError,
    # sometimes wrapped; ConnectionError and TimeoutError included).
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError | PoolTimeoutError):
            return True
        cause = cause.__cause__
    return False
