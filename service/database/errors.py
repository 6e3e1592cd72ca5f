"""What a database error means: a duplicate, a lost connection, a locked SQLite file."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession


def is_unique_violation(error: IntegrityError) -> bool:
    original = error.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if code is None and original is not None and original.__cause__ is not None:
        code = getattr(original.__cause__, "sqlstate", None)
    return code == "23505" or "unique constraint" in str(original).lower()


async def flush_unique(session: AsyncSession, conflict: Callable[[], Exception]) -> None:
    """Flush; a unique violation raises `conflict()` (a service's pre-check leaves a race
    with a concurrent insert, and the constraint decides it)."""
    try:
        await session.flush()
    except IntegrityError as error:
        if is_unique_violation(error):
            raise conflict() from None
        raise


def is_connection_lost(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, PoolTimeoutError | ConnectionError | TimeoutError):
        return True
    # asyncpg and aiosqlite connect failures surface as OSError, sometimes wrapped
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError | ConnectionError):
            return True
        cause = cause.__cause__
    return False


def is_database_locked(error: OperationalError) -> bool:
    """SQLite gave up waiting for another process's lock (its busy_timeout passed)."""
    return "database is locked" in str(error.orig)
