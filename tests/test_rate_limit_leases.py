"""Leases (rate_limit/redis_store.py): a busy client's requests mostly skip the Lua step,
yet all instances together never allow more than the limit."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from quart_rate_limiter import RateLimit

from service.app import create_app
from service.rate_limit import redis_store
from service.rate_limit.redis_store import GCRA_SHA, LEASE_SECONDS, RedisGCRAStore
from service.rate_limit.stores import Rate
from tests.factories import FAST_HASHING
from tests.plugins.backends import Backend, reset_backend


def per_hour(count: int) -> Rate:
    return Rate.of(RateLimit(count, timedelta(hours=1)))


async def allowed(store: RedisGCRAStore, key: str, rate: Rate) -> bool:
    hit = await store.hit([key], [rate], tuple)
    return hit.retry_after == 0


async def test_instances_together_allow_exactly_the_limit(postgres_backend: Backend) -> None:
    """Two stores are two processes: each leases, and neither may spend the other's slots."""
    app = create_app(postgres_backend.settings(**FAST_HASHING))
    key, rate = f"lease-test:{uuid.uuid4()}", per_hour(40)
    first, second = RedisGCRAStore(), RedisGCRAStore()
    async with app.test_app(), app.app_context():
        outcomes = [await allowed(store, key, rate) for _ in range(60) for store in (first, second)]
        later = [await allowed(store, key, rate) for store in (first, second)]
    await reset_backend(postgres_backend)
    assert outcomes.count(True) == 40
    assert later == [False, False]


async def test_concurrent_requests_of_one_process_allow_exactly_the_limit(
    postgres_backend: Backend,
) -> None:
    app = create_app(postgres_backend.settings(**FAST_HASHING))
    key, rate, store = f"lease-test:{uuid.uuid4()}", per_hour(30), RedisGCRAStore()
    async with app.test_app(), app.app_context():
        # Connected one by one first: 80 connects at once may outlast the connect timeout
        # on a busy machine (the limiter would fail open; this calls the store directly).
        pool = app.extensions["redis_client"].client.connection_pool
        connections = [await pool.get_connection() for _ in range(80)]
        for connection in connections:
            await pool.release(connection)
        outcomes = await asyncio.gather(*(allowed(store, key, rate) for _ in range(80)))
    await reset_backend(postgres_backend)
    assert outcomes.count(True) == 30


# A lease grows with the client's pace (twice what it spent since the last step): nine
# requests in a row take steps on the 1st, 2nd, 4th and 7th.
@pytest.mark.parametrize(("limit", "steps"), [("9/hour", 9), ("1000/day", 4)])
async def test_a_busy_client_leases_only_when_plenty_is_left(
    postgres_backend: Backend,
    redis_commands: tuple[list[tuple[Any, ...]], Any],
    limit: str,
    steps: int,
) -> None:
    settings = postgres_backend.settings(
        **FAST_HASHING, RATE_LIMIT_ENABLED=True, RATE_LIMIT_DEFAULT=limit
    )
    sent, start = redis_commands
    start()
    async with create_app(settings).test_app() as serving:
        client = serving.test_client()
        responses = [await client.get("/api/v1/products/") for _ in range(9)]
    await reset_backend(postgres_backend)
    assert [response.status_code for response in responses] == [200] * 9
    # Each request spends one slot, whether Redis counted it or the lease did.
    remaining = [int(response.headers["RateLimit-Remaining"]) for response in responses]
    count = int(limit.split("/")[0])
    assert remaining == [count - n for n in range(1, 10)]
    assert sum(command[:2] == ("EVALSHA", GCRA_SHA) for command in sent) == steps


async def test_a_client_slower_than_a_lease_lasts_never_leases(
    postgres_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is forfeit for a client that would not spend a lease in time."""
    app = create_app(postgres_backend.settings(**FAST_HASHING))
    key, rate, store = f"lease-test:{uuid.uuid4()}", per_hour(100), RedisGCRAStore()
    clock = [1000.0]
    monkeypatch.setattr(redis_store, "_clock", lambda: clock[0])
    async with app.test_app(), app.app_context():
        remaining = []
        for _ in range(20):
            hit = await store.hit([key], [rate], tuple)
            remaining.append(int(hit.headers["RateLimit-Remaining"]))
            clock[0] += LEASE_SECONDS * 1.5
    await reset_backend(postgres_backend)
    assert remaining == list(range(99, 79, -1))
