"""Pytest plugin: the backends every app test runs on, and a tally of each at the end.

The `backend` fixture runs a test once on the embedded default (SQLite, in-process cache) and
once on PostgreSQL + Redis. Each run gets a fresh PostgreSQL database and its own Redis key
prefix; `reset_backend` empties both after a test. With CI=true an unreachable server fails
the run; elsewhere the PostgreSQL half is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from service import migrations
from service.config import Settings
from service.database import create_engine
from tests.proxy import TcpProxy

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TABLES = ("auth_session", "idempotency_key", "products", "user_account")
TEST_SECRET = "test-secret-" + "x" * 40


@dataclass(frozen=True)
class Backend:
    """One storage configuration the suite runs against."""

    name: str
    database_url: str
    redis_url: str | None
    redis_prefix: str

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "APP_ENV": "testing",
            "SECRET_KEY": TEST_SECRET,
            "JWT_SECRET_KEY": TEST_SECRET,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_KEY_PREFIX": self.redis_prefix,
            "LOG_LEVEL": "WARNING",
            # Short: a logout that cannot reach Redis waits this long (auth.recent).
            "LOGIN_CACHE_SECONDS": 1.0,
            "_env_file": None,
        }
        values.update(overrides)
        return Settings(**values)


def _unreachable(what: str, error: BaseException) -> None:
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing server fails the run)", pytrace=False)
    pytest.skip(f"{message}; start it to run the PostgreSQL + Redis half of the suite")


async def _as_admin(sql: str) -> None:
    """Run one statement on the PostgreSQL server's admin database."""
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def create_postgres_database(name: str) -> str:
    """Create an empty database; returns its URL."""
    await _as_admin(f'CREATE DATABASE "{name}"')
    return f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


async def drop_postgres_database(name: str) -> None:
    await _as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def delete_redis_keys(prefix: str) -> None:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
async def sqlite_backend(tmp_path_factory: pytest.TempPathFactory, run_id: str) -> Backend:
    path = Path(tmp_path_factory.mktemp("sqlite")) / "service.db"
    backend = Backend("sqlite", f"sqlite+aiosqlite:///{path}", None, f"test-{run_id}:")
    await asyncio.to_thread(migrations.upgrade, backend.settings())
    return backend


@pytest.fixture(scope="session")
async def postgres_backend(run_id: str) -> AsyncIterator[Backend]:
    name = f"service_test_{run_id}"
    try:
        url = await create_postgres_database(name)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        _unreachable("PostgreSQL at " + POSTGRES_ADMIN_URL, error)
    try:
        client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        await client.ping()
        await client.aclose()
    except Exception as error:  # noqa: BLE001
        await drop_postgres_database(name)
        _unreachable("Redis at " + REDIS_URL, error)
    backend = Backend("postgres", url, REDIS_URL, f"test-{run_id}:")
    await asyncio.to_thread(migrations.upgrade, backend.settings())
    yield backend
    await delete_redis_keys(backend.redis_prefix)
    await drop_postgres_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The backend of this test: each test using it runs once per backend."""
    chosen: Backend = request.getfixturevalue(f"{request.param}_backend")
    return chosen


async def reset_backend(backend: Backend) -> None:
    """Empty the tables and delete the run's Redis keys."""
    engine = create_engine(backend.settings())
    async with engine.begin() as connection:
        if backend.name == "postgres":
            await connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                await connection.execute(text(f"DELETE FROM {table}"))
            # As RESTART IDENTITY does on PostgreSQL: ids start again at 1 (AUTOINCREMENT).
            await connection.execute(text("DELETE FROM sqlite_sequence"))
    await engine.dispose()
    if backend.redis_url:
        await delete_redis_keys(backend.redis_prefix)


@pytest.fixture
async def clean_backend(backend: Backend) -> AsyncIterator[Backend]:
    """The test's backend, emptied (tables and Redis keys) after the test."""
    yield backend
    await reset_backend(backend)


ProxyFactory = Callable[[str, int], Awaitable[TcpProxy]]


@pytest.fixture(name="tcp_proxy")
async def _tcp_proxy() -> AsyncIterator[ProxyFactory]:
    """Start `TcpProxy`s in front of servers (`await tcp_proxy(host, port)`); all stop after."""
    proxies: list[TcpProxy] = []

    async def start(host: str, port: int) -> TcpProxy:
        proxy = await TcpProxy(host, port).start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        await proxy.stop()


# -- a per-backend tally at the end, so the output shows both halves ran ----------------

_outcomes: Counter[tuple[str, str]] = Counter()


def _backend_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "backend" in callspec.params:
        return str(callspec.params["backend"])
    for name in ("sqlite", "postgres"):
        if f"{name}_backend" in getattr(item, "fixturenames", ()):
            return name
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    name = _backend_of(item)
    counted = report.when == "call" or (report.when == "setup" and report.outcome != "passed")
    if name is not None and counted:
        _outcomes[(name, report.outcome)] += 1
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.section("tests per backend")
    for name in ("sqlite", "postgres"):
        counts = ", ".join(
            f"{_outcomes[(name, outcome)]} {outcome}" for outcome in ("passed", "failed", "skipped")
        )
        terminalreporter.write_line(f"{name:>9}: {counts}")
