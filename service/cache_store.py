"""Where the cache's entries and generations live, behind the three operations it runs on
every cached read and write: read, write and bump.

With Redis they go straight to the app's redis-py client, one round trip each (a read none,
when the request read its keys early): cashews' command chain cost more CPU than the round
trip itself. Values are stored as cashews stores them (JSON text, counters as integers), so
its lock and in-process backend share the format.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol, cast

from cashews import Cache as CashewsCache
from redis.asyncio import Redis

from service.common.early_reads import early_values


class Store(Protocol):
    async def read(self, generation_key: str, key: str) -> tuple[int, Any]: ...
    async def write(self, key: str, entry: Any, ttl: int) -> None: ...
    async def bump(self, generation_keys: Iterable[str], ttl: int) -> None: ...


# INCR and EXPIRE for every key given, as one command.
BUMP = """
for _, key in ipairs(KEYS) do
    redis.call('INCR', key)
    redis.call('EXPIRE', key, ARGV[1])
end
"""


def cashews_backend(redis_url: str | None, timeout: float) -> CashewsCache:
    """cashews over Redis (its lock), or in-process without Redis (everything)."""
    backend = CashewsCache(name="service")
    if redis_url:
        backend.setup(
            redis_url,
            suppress=False,
            client_side=False,
            pickle_type="json",  # plain JSON text, as RedisStore reads and writes it
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            socket_keepalive=True,
            wait_for_connection_timeout=timeout,  # a free connection: bounded like a command
        )
    else:
        backend.setup("mem://", size=100_000)
    return backend


class RedisStore:
    def __init__(self, client: Redis) -> None:
        self.client = client
        self._bump = client.register_script(BUMP)

    async def read(self, generation_key: str, key: str) -> tuple[int, Any]:
        # Read early, with the request's first round trip (a view's `reads_early`)?
        found = early_values(generation_key, key) or await self.client.mget(generation_key, key)
        generation, entry = cast(list[bytes | None], found)
        return int(generation or 0), None if entry is None else json.loads(entry)

    async def write(self, key: str, entry: Any, ttl: int) -> None:
        await self.client.set(key, json.dumps(entry), ex=ttl)

    async def bump(self, generation_keys: Iterable[str], ttl: int) -> None:
        await self._bump(keys=list(generation_keys), args=[ttl])


class InProcessStore:
    """cashews' in-process backend (without REDIS_URL: one process only)."""

    def __init__(self, backend: CashewsCache) -> None:
        self.backend = backend

    async def read(self, generation_key: str, key: str) -> tuple[int, Any]:
        generation, entry = await self.backend.get_many(generation_key, key)
        return int(generation or 0), entry

    async def write(self, key: str, entry: Any, ttl: int) -> None:
        await self.backend.set(key, entry, expire=ttl)

    async def bump(self, generation_keys: Iterable[str], ttl: int) -> None:
        for key in generation_keys:
            await self.backend.incr(key, expire=ttl)
