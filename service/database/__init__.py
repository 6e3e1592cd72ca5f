"""Async SQLAlchemy, one module per purpose; import from here.

`base`: the declarative base and shared column types; `engine`: engines and SQLite's
pragmas; `session`: the `Database` extension and the per-request session; `deadline`: the
request deadline; `errors`: what a database error means.
"""

from service.database.base import (
    NAMING_CONVENTION,
    Base,
    UTCDateTime,
    find_row,
    lock_for_update,
    utcnow,
)
from service.database.engine import create_engine, unicode_lower
from service.database.errors import (
    flush_unique,
    is_connection_lost,
    is_database_locked,
    is_unique_violation,
)
from service.database.session import Database

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "Database",
    "UTCDateTime",
    "create_engine",
    "find_row",
    "flush_unique",
    "is_connection_lost",
    "is_database_locked",
    "is_unique_violation",
    "lock_for_update",
    "unicode_lower",
    "utcnow",
]
