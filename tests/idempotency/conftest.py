"""Idempotency test helpers: row counts and key rows read straight from the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from service.config import Settings
from service.database import create_engine
from service.idempotency.models import IdempotencyKey


async def count_rows(settings: Settings, model: Any) -> int:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


async def key_rows(settings: Settings) -> list[Any]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return list(await connection.execute(select(IdempotencyKey)))
    finally:
        await engine.dispose()


async def set_key_times(settings: Settings, **values: datetime) -> None:
    """Move every stored key's `expires_at` / `locked_until` (time travel for tests)."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(update(IdempotencyKey).values(**values))
    finally:
        await engine.dispose()
