"""Engines: pool settings, deadlines and SQLite's pragmas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from service.config import Settings

# Server-side TCP keepalives (seconds): PostgreSQL drops the sessions of clients that
# vanished in a partition instead of holding their locks and slots. asyncpg has no client
# socket options; on our side the deadlines below and `_closed_on_checkout` do that job.
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
    url = make_url(settings.database_url)
    # Parameters (password hashes, emails, tokens' ids) never reach an exception text or
    # the echo log: errors and DATABASE_ECHO show the statement with placeholders only.
    options: dict[str, Any] = {"echo": settings.DATABASE_ECHO, "hide_parameters": True}
    # SQLite: sqlite3's busy timeout, so a locked file (SQLite's silent database) gives up
    # after DATABASE_TIMEOUT (a 503); PostgreSQL: TCP connect and start-up together.
    connect_args: dict[str, Any] = {"timeout": settings.DATABASE_TIMEOUT}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args=connect_args, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args["server_settings"] = SERVER_KEEPALIVES
    if command_timeout:
        connect_args["command_timeout"] = settings.DATABASE_TIMEOUT + COMMAND_TIMEOUT_MARGIN
    engine = create_async_engine(
        url,
        pool_size=settings.DATABASE_POOL_SIZE,
        max_overflow=settings.DATABASE_MAX_OVERFLOW,
        pool_timeout=settings.DATABASE_POOL_TIMEOUT,
        connect_args=connect_args,
        **options,
    )
    event.listen(engine.sync_engine, "checkout", _closed_on_checkout)
    return engine


def _closed_on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Replace a pooled connection the server has closed (a restart, an idle kill).

    Not `pool_pre_ping`, which costs a round trip on every checkout: asyncpg notices the
    server's goodbye while the connection sits in the pool, so asking it is free. The pool
    answers DisconnectionError with a new connection. A silent peer is the deadline's job.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers run beside a writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
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
