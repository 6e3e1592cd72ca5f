"""The declarative base, its naming convention and the column types every model shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import DateTime, MetaData, false, inspect, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

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
