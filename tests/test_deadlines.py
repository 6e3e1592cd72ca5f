"""Deadlines: a silent or cut PostgreSQL or Redis never hangs a request (issue 8, finding 7).

PostgreSQL and Redis are reached through a `TcpProxy` of the test's own, which it makes
silent (a partition) or cuts; the shared servers are never touched.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url

from service.app import create_app
from service.config import Settings
from service.database.deadline import Deadline
from service.extensions import db, passwords
from tests.factories import EXACT_LIMITS, FAST_HASHING, PASSWORD, bearer, user_with_token
from tests.plugins.backends import Backend, ProxyFactory, reset_backend
from tests.proxy import TcpProxy
from tests.servers import running_servers

DATABASE_TIMEOUT = 1.0
POOL_SIZE = 2


def via(proxy: TcpProxy, url: str) -> str:
    """The same URL, reaching its server through the proxy."""
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


async def proxy_in_front_of(tcp_proxy: ProxyFactory, url: str) -> TcpProxy:
    parsed = make_url(url)
    return await tcp_proxy(parsed.host or "127.0.0.1", parsed.port or 5432)


async def timed(request: Awaitable[Any]) -> tuple[Any, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await request
    return response, loop.time() - started


@pytest.fixture(name="db_proxy")
async def _db_proxy(postgres_backend: Backend, tcp_proxy: ProxyFactory) -> TcpProxy:
    return await proxy_in_front_of(tcp_proxy, postgres_backend.database_url)


@pytest.fixture(name="proxied_settings")
async def _proxied_settings(
    postgres_backend: Backend, db_proxy: TcpProxy
) -> AsyncIterator[Settings]:
    yield postgres_backend.settings(
        **FAST_HASHING,
        RATE_LIMIT_ENABLED=False,
        DATABASE_URL=via(db_proxy, postgres_backend.database_url),
        DATABASE_TIMEOUT=DATABASE_TIMEOUT,
        DATABASE_POOL_SIZE=POOL_SIZE,
        DATABASE_MAX_OVERFLOW=0,
        LOGIN_CACHE_SECONDS=0,  # every request asks the database, as these tests need
    )
    await reset_backend(postgres_backend)


@pytest.fixture(name="proxied_client")
async def _proxied_client(proxied_settings: Settings) -> AsyncIterator[Any]:
    app = create_app(proxied_settings)
    async with app.test_app() as serving:
        yield serving.test_client()


async def assert_timely_503(response: Any, elapsed: float) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    body = await response.get_json()
    assert body["error"] == "SERVICE_UNAVAILABLE"
    assert elapsed < DATABASE_TIMEOUT + 1


async def test_silent_database_answers_503_in_time_then_recovers(
    proxied_client: Any,
    proxied_settings: Settings,
    db_proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = proxied_client
    _, token = await user_with_token(client, proxied_settings)
    assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200

    db_proxy.silent()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="service.database"):
        pending = asyncio.create_task(timed(client.get("/api/v1/users/me", headers=bearer(token))))
        health = await client.get("/health")
        assert health.status_code == 200
        assert not pending.done()  # liveness answered while the database request waits
        response, elapsed = await pending
    await assert_timely_503(response, elapsed)
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "database silent" in warnings[0].getMessage()

    db_proxy.pass_through()
    served = await client.get("/api/v1/users/me", headers=bearer(token))
    assert served.status_code == 200


async def test_server_process_on_a_silent_database_answers_503_in_time_then_recovers(
    proxied_settings: Settings, db_proxy: TcpProxy, tmp_path: Path
) -> None:
    """The same through a real `service run` (uvicorn), as a client sees it."""
    async with (
        running_servers(proxied_settings, 1, tmp_path) as (server,),
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        body = {"email": "silent@example.com", "password": PASSWORD}
        assert (
            await client.post("/api/v1/users/", json={**body, "name": "Silent"})
        ).status_code == 201
        token = (await client.post("/api/v1/auth/login", json=body)).json()["access_token"]

        db_proxy.silent()
        pending = asyncio.create_task(timed(client.get("/api/v1/users/me", headers=bearer(token))))
        assert (await client.get("/health")).status_code == 200
        assert not pending.done()
        response, elapsed = await pending
        assert response.status_code == 503
        assert response.headers["Retry-After"].isdigit()
        assert response.json()["error"] == "SERVICE_UNAVAILABLE"
        assert elapsed < DATABASE_TIMEOUT + 1

        db_proxy.pass_through()
        assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200


async def test_locked_sqlite_file_answers_503_in_time_then_recovers(
    sqlite_backend: Backend,
) -> None:
    """The embedded backend's silence: another process holds the file's write lock."""
    settings = sqlite_backend.settings(
        **FAST_HASHING, RATE_LIMIT_ENABLED=False, DATABASE_TIMEOUT=DATABASE_TIMEOUT
    )
    path = make_url(settings.database_url).database
    assert path is not None
    product = {"name": "Lamp", "sku": "LAMP-3", "price_cents": 100}
    try:
        async with create_app(settings).test_app() as serving:
            client = serving.test_client()
            _, token = await user_with_token(client, settings)
            lock = sqlite3.connect(path, isolation_level=None)
            try:
                lock.execute("BEGIN EXCLUSIVE")
                response, elapsed = await timed(
                    client.post("/api/v1/products/", json=product, headers=bearer(token))
                )
                await assert_timely_503(response, elapsed)
            finally:
                lock.close()  # rolls the lock's transaction back
            created = await client.post("/api/v1/products/", json=product, headers=bearer(token))
            assert created.status_code == 201
    finally:
        await reset_backend(sqlite_backend)


async def test_timeouts_beyond_the_pool_size_leave_no_connection_behind(
    proxied_client: Any, proxied_settings: Settings, db_proxy: TcpProxy
) -> None:
    client = proxied_client
    _, token = await user_with_token(client, proxied_settings)
    db_proxy.silent()
    for _ in range(2):  # more requests than connections, twice over
        results = await asyncio.gather(
            *(
                timed(client.get("/api/v1/users/me", headers=bearer(token)))
                for _ in range(POOL_SIZE + 2)
            )
        )
        for response, elapsed in results:
            await assert_timely_503(response, elapsed)
    assert db.engine is not None
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]

    db_proxy.pass_through()
    results = await asyncio.gather(
        *(client.get("/api/v1/users/me", headers=bearer(token)) for _ in range(POOL_SIZE + 2))
    )
    assert [response.status_code for response in results] == [200] * (POOL_SIZE + 2)


async def test_new_connection_to_a_silent_database_answers_503_in_time(
    proxied_client: Any, proxied_settings: Settings, db_proxy: TcpProxy
) -> None:
    client = proxied_client
    _, token = await user_with_token(client, proxied_settings)
    assert db.engine is not None
    await db.engine.dispose()  # no pooled connection left: the next request must connect
    db_proxy.silent()
    response, elapsed = await timed(client.get("/api/v1/users/me", headers=bearer(token)))
    await assert_timely_503(response, elapsed)
    db_proxy.pass_through()
    assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200


async def test_cut_database_answers_503_with_one_warning_and_no_traceback(
    proxied_client: Any,
    proxied_settings: Settings,
    db_proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A lost connection is an outage to report, not a bug: one warning line, no stack."""
    client = proxied_client
    _, token = await user_with_token(client, proxied_settings)
    db_proxy.cut()
    with caplog.at_level(logging.WARNING):
        response = await client.get("/api/v1/users/me", headers=bearer(token))
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert (await response.get_json())["error"] == "SERVICE_UNAVAILABLE"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not [record for record in caplog.records if record.exc_info]
    assert any("503" in record.getMessage() for record in caplog.records)
    db_proxy.pass_through()
    assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200


async def test_a_pooled_connection_the_server_closed_is_replaced_without_an_error(
    proxied_client: Any, proxied_settings: Settings, db_proxy: TcpProxy
) -> None:
    """No ping round trip per checkout, yet a restart or idle kill costs no request."""
    client = proxied_client
    _, token = await user_with_token(client, proxied_settings)
    assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200
    db_proxy.cut()  # closes the pooled connections, as a database restart does
    db_proxy.pass_through()
    await asyncio.sleep(0.2)  # the goodbye reaches the idle connections' protocol
    product = {"name": "Lamp", "sku": "LAMP-1", "price_cents": 100}
    created = await client.post("/api/v1/products/", headers=bearer(token), json=product)
    assert created.status_code == 201
    for _ in range(POOL_SIZE + 1):
        response = await client.get("/api/v1/users/me", headers=bearer(token))
        assert response.status_code == 200


async def test_reads_run_without_begin_and_commit_round_trips(
    proxied_client: Any, proxied_settings: Settings, db_proxy: TcpProxy
) -> None:
    client = proxied_client
    user, token = await user_with_token(client, proxied_settings)
    db_proxy.cut_after(b"BEGIN")
    for path in ("/api/v1/users/me", f"/api/v1/users/{user['id']}", "/api/v1/products/"):
        assert (await client.get(path, headers=bearer(token))).status_code == 200
    assert not db_proxy.has_cut
    product = {"name": "Lamp", "sku": "LAMP-1", "price_cents": 100}
    await client.post("/api/v1/products/", headers=bearer(token), json=product)
    assert db_proxy.has_cut  # a write still runs in a transaction


async def test_silent_database_write_answers_503_and_stores_nothing(
    proxied_client: Any, proxied_settings: Settings, db_proxy: TcpProxy
) -> None:
    client = proxied_client
    _, token = await user_with_token(client, proxied_settings)
    db_proxy.silent()
    product = {"name": "Lamp", "sku": "LAMP-1", "price_cents": 100}
    response, elapsed = await timed(
        client.post("/api/v1/products/", json=product, headers=bearer(token))
    )
    await assert_timely_503(response, elapsed)
    db_proxy.pass_through()
    assert await (await client.get("/api/v1/products/?q=Lamp")).get_json() == []


async def test_ready_answers_in_bounded_time_on_a_silent_database(
    proxied_client: Any, db_proxy: TcpProxy
) -> None:
    db_proxy.silent()
    response, elapsed = await timed(proxied_client.get("/ready"))
    assert response.status_code == 503
    assert (await response.get_json())["checks"]["database"] == "error"
    assert elapsed < DATABASE_TIMEOUT + 1
    db_proxy.pass_through()
    assert (await proxied_client.get("/ready")).status_code == 200


@pytest.fixture(name="redis_proxy")
async def _redis_proxy(postgres_backend: Backend, tcp_proxy: ProxyFactory) -> TcpProxy:
    assert postgres_backend.redis_url is not None
    return await proxy_in_front_of(tcp_proxy, postgres_backend.redis_url)


@pytest.fixture(name="redis_proxied_settings")
async def _redis_proxied_settings(
    postgres_backend: Backend, redis_proxy: TcpProxy
) -> AsyncIterator[Settings]:
    assert postgres_backend.redis_url is not None
    yield postgres_backend.settings(
        **FAST_HASHING,
        **EXACT_LIMITS,  # every request asks Redis (none is counted from a lease)
        REDIS_URL=via(redis_proxy, postgres_backend.redis_url),
        DATABASE_TIMEOUT=DATABASE_TIMEOUT,
    )
    await reset_backend(postgres_backend)


# Each Redis command gives up after 0.5 s and none is retried; a request makes a few.
REDIS_OUTAGE_BOUND_SECONDS = 3.0


@pytest.mark.parametrize("outage", ["silent", "cut"])
async def test_redis_outage_leaves_reads_logins_and_limits_answering_in_bounded_time(
    redis_proxied_settings: Settings, redis_proxy: TcpProxy, outage: str
) -> None:
    app = create_app(redis_proxied_settings)
    async with app.test_app() as serving:
        client = serving.test_client()
        user, token = await user_with_token(client, redis_proxied_settings)
        product = {"name": "Lamp", "sku": "LAMP-9", "price_cents": 100}
        assert (
            await client.post("/api/v1/products/", json=product, headers=bearer(token))
        ).status_code == 201
        assert len(await (await client.get("/api/v1/products/")).get_json()) == 1  # cached

        getattr(redis_proxy, outage)()
        login_body = {"email": user["email"], "password": "correct horse battery"}
        for method, path, kwargs in [
            ("get", "/api/v1/products/", {}),
            ("get", f"/api/v1/users/{user['id']}/stats", {"headers": bearer(token)}),
            ("get", "/api/v1/users/me", {"headers": bearer(token)}),
            ("post", "/api/v1/auth/login", {"json": login_body}),
        ]:
            response, elapsed = await timed(getattr(client, method)(path, **kwargs))
            assert response.status_code == 200, (path, await response.get_data(as_text=True))
            assert "RateLimit-Limit" not in response.headers  # limits failed open
            assert elapsed < REDIS_OUTAGE_BOUND_SECONDS, path
        health, elapsed = await timed(client.get("/health"))
        assert health.status_code == 200
        assert elapsed < REDIS_OUTAGE_BOUND_SECONDS
        ready, elapsed = await timed(client.get("/ready"))
        assert ready.status_code == 503
        assert (await ready.get_json())["checks"] == {"database": "ok", "redis": "error"}
        assert elapsed < REDIS_OUTAGE_BOUND_SECONDS

        redis_proxy.pass_through()
        limited = await client.get("/api/v1/products/")
        assert limited.status_code == 200
        assert "RateLimit-Limit" in limited.headers  # Redis is used again, no restart
        assert (await (await client.get("/ready")).get_json())["status"] == "ok"


async def test_password_hashing_does_not_count_against_the_database_deadline(
    postgres_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of logins queues for the hashing threads; that wait is no silent database."""
    settings = postgres_backend.settings(
        **FAST_HASHING, RATE_LIMIT_ENABLED=False, DATABASE_TIMEOUT=0.3
    )

    class SlowHasher(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            time.sleep(0.6)  # longer than the deadline, as a long queue would be
            return super().hash(password, salt=salt)

    app = create_app(settings)
    async with app.test_app() as serving:
        monkeypatch.setattr(
            passwords, "hasher", SlowHasher(time_cost=1, memory_cost=64, parallelism=1)
        )
        body = {"email": "slow@example.com", "name": "Slow", "password": PASSWORD}
        response = await serving.test_client().post("/api/v1/users/", json=body)
    assert response.status_code == 201
    await reset_backend(postgres_backend)


async def test_a_deadline_whose_block_has_ended_never_counts_again() -> None:
    # The request's deadline stays reachable after the view (a teardown step may open a
    # session, or pause it): it must not start a clock that would cancel a later step.
    async def expired() -> None:
        raise AssertionError("an ended deadline expired")

    deadline = Deadline(0.01, expired)
    async with deadline:
        pass
    deadline.start()
    with deadline.paused():
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)  # a clock started above would have cancelled this task
