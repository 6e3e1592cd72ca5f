"""What a database error means: a duplicate, a lost connection, a locked SQLite file."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


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
