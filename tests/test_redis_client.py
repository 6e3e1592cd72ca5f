"""The shared Redis client: light per command, and never handed out with a stale reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from service.app import create_app
from tests.plugins.backends import Backend
from tests.test_http_connection import tasks_started

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # with Redis


@pytest.fixture
async def redis(clean_backend: Backend) -> AsyncIterator[Redis]:
    app = create_app(clean_backend.settings())
    async with app.test_app():
        client = app.extensions["redis_client"].client
        assert client is not None
        yield client


@pytest.fixture
def key(clean_backend: Backend) -> Callable[[str], str]:
    """Names under this test's own prefix (the backend removes its keys afterwards)."""
    return lambda name: f"{clean_backend.redis_prefix}{name}"


async def test_a_command_starts_no_task_and_keeps_no_pool_books(
    redis: Redis, key: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # redis-py bounded each write with asyncio.wait_for (a task per command on Python
    # 3.11) and recorded pool metrics for an exporter the service does not use.
    await redis.set(key("probe"), "1")

    async def refuse(**_: Any) -> None:
        raise AssertionError("pool metrics were recorded")

    monkeypatch.setattr("redis.asyncio.connection.record_connection_count", refuse)
    with tasks_started() as started:
        assert await redis.mget(key("probe"), key("absent")) == [b"1", None]
    assert started == []


async def test_a_connection_whose_command_was_cut_off_never_answers_the_next_one(
    redis: Redis, key: Callable[[str], str]
) -> None:
    # The pool no longer polls each connection for unread data at checkout: an
    # interrupted command must leave nothing behind for the next caller to read.
    await redis.set(key("after"), "the right answer")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await redis.blpop([key("empty-list")], timeout=0.3)  # its reply comes after the cut
    await asyncio.sleep(0.4)  # the server has answered the BLPOP by now
    for _ in range(3):
        assert await redis.get(key("after")) == b"the right answer"


async def test_commands_write_and_read_as_before(redis: Redis, key: Callable[[str], str]) -> None:
    await redis.set(key("text"), "ünïcode", ex=60)
    assert await redis.get(key("text")) == "ünïcode".encode()
    assert await redis.incrby(key("count"), 3) == 3
    found = await redis.mget(key("text"), key("count"), key("absent"))
    assert found == ["ünïcode".encode(), b"3", None]
