"""The cache extension on both backends: generations, stampede lock, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from service.app import create_app
from service.cache import KEY_VERSION
from service.config import Settings
from service.extensions import cache
from tests.plugins.backends import Backend, reset_backend


@pytest.fixture(name="serving")
async def _serving(settings: Settings) -> AsyncIterator[Any]:
    app = create_app(settings)
    async with app.test_app():
        yield app


def counts(app: Any) -> dict[str, float]:
    metric = app.extensions["metrics"].cache_requests
    return {result: metric.labels(result)._value.get() for result in ("hit", "miss")}


async def test_second_read_is_a_hit(serving: Any) -> None:
    calls = 0

    async def compute() -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"answer": 42}

    assert await cache.cached("ns:1", "k", compute) == {"answer": 42}
    assert await cache.cached("ns:1", "k", compute) == {"answer": 42}
    assert calls == 1
    assert counts(serving) == {"hit": 1.0, "miss": 1.0}


async def test_invalidate_makes_next_read_recompute(serving: Any) -> None:
    values = iter([{"v": 1}, {"v": 2}])

    async def compute() -> dict[str, int]:
        return next(values)

    assert await cache.cached("ns:2", "k", compute) == {"v": 1}
    await cache.invalidate("ns:2")
    assert await cache.cached("ns:2", "k", compute) == {"v": 2}


async def test_reader_that_loaded_before_a_write_cannot_cache_stale_data(serving: Any) -> None:
    """A write that commits while a read is computing: the read's result is not reused."""
    state = {"row": "old"}

    async def slow_read() -> dict[str, str]:
        snapshot = dict(state)
        state["row"] = "new"  # the write commits meanwhile...
        await cache.invalidate("ns:3")  # ...and invalidates after its commit
        return snapshot

    assert await cache.cached("ns:3", "k", slow_read) == {"row": "old"}

    async def read() -> dict[str, str]:
        return dict(state)

    assert await cache.cached("ns:3", "k", read) == {"row": "new"}


async def test_missing_hot_key_is_computed_once(
    serving: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten readers miss at once: one computes, the other nine wait for its value.

    The computation holds until all nine are waiting (an event, not a sleep), so the
    test does not depend on how fast the machine is.
    """
    readers = 10
    calls = 0
    waiting: set[asyncio.Task[Any]] = set()
    all_waiting = asyncio.Event()
    real_set_lock = cache.backend.set_lock

    async def counted_set_lock(key: str, value: Any, expire: Any) -> bool:
        locked = await real_set_lock(key, value, expire)
        if not locked:  # this reader waits for the holder of cashews' lock
            waiting.add(asyncio.current_task())  # type: ignore[arg-type]
            if len(waiting) == readers - 1:
                all_waiting.set()
        return locked

    async def expensive() -> list[int]:
        nonlocal calls
        calls += 1
        await asyncio.wait_for(all_waiting.wait(), 30)
        return [1, 2, 3]

    # cashews' pool (ten connections) opens them on first use, each within the cache's
    # 0.5 s Redis timeout; opened here, ten at once, the scenario below only sends
    # commands. A connect that overran it (a stalled machine, once in CI) made readers
    # carry on without the lock, as designed, and this test wait 30 s for them.
    await asyncio.gather(*(cache.backend.get(f"warm:{n}") for n in range(readers)))
    monkeypatch.setattr(cache.backend, "set_lock", counted_set_lock)
    results = await asyncio.gather(
        *(cache.cached("ns:4", "hot", expensive) for _ in range(readers))
    )
    assert results == [[1, 2, 3]] * readers
    assert calls == 1
    assert len(waiting) == readers - 1


async def test_memoize_keys_by_template_and_ignores_other_arguments(serving: Any) -> None:
    calls: list[int] = []

    @cache.memoize("memo:{user_id}")
    async def stats(session: object, user_id: int) -> dict[str, int]:
        calls.append(user_id)
        return {"user_id": user_id}

    assert await stats(object(), 1) == {"user_id": 1}
    assert await stats(object(), user_id=1) == {"user_id": 1}
    assert await stats(object(), 2) == {"user_id": 2}
    assert calls == [1, 2]
    await cache.invalidate("memo:1")
    await stats(object(), 1)
    assert calls == [1, 2, 1]


async def test_redis_keys_carry_prefix_and_ttl(postgres_backend: Backend) -> None:
    settings = postgres_backend.settings()
    assert settings.REDIS_URL is not None

    async def compute() -> str:
        return "value"

    async with create_app(settings).test_app():
        await cache.cached("ns:5", "k", compute)
        await cache.invalidate("ns:5")
    client = Redis.from_url(settings.REDIS_URL)
    pattern = f"{settings.REDIS_KEY_PREFIX}{KEY_VERSION}:*"
    keys = [key.decode() async for key in client.scan_iter(match=pattern)]
    assert keys
    for key in keys:
        assert await client.ttl(key) > 0, key
    await client.aclose()
    await reset_backend(postgres_backend)


async def test_a_hit_costs_one_redis_round_trip(
    postgres_backend: Backend, redis_commands: tuple[list[tuple[Any, ...]], Any]
) -> None:
    """The generation and the entry come back together (one MGET), not one after the other."""
    sent, start = redis_commands

    async def compute() -> dict[str, int]:
        return {"answer": 42}

    async with create_app(postgres_backend.settings()).test_app():
        await cache.cached("ns:6", "k", compute)
        start()
        assert await cache.cached("ns:6", "k", compute) == {"answer": 42}
    assert [command[0] for command in sent] == ["MGET"]
    await reset_backend(postgres_backend)
