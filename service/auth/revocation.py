"""The cache of ended logins: Redis (shared by every instance) or in-process without it.

Only a cache: the `auth_session` rows are the truth, so losing an entry loses nothing.
Keys live exactly as long as the tokens they refuse could still be presented.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError


class RevocationStore:
    """Values of a kind (`sid`: login ids) that are refused."""

    async def revoke(self, kind: str, value: str, ttl: int) -> bool:
        """Revoke; True when this call did it, False when it was already revoked."""
        raise NotImplementedError

    async def any_revoked(self, items: list[tuple[str, str]]) -> bool:
        """Whether any of the (kind, value) pairs is revoked, in one look-up."""
        raise NotImplementedError


class MemoryRevocationStore(RevocationStore):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._expiry: dict[tuple[str, str], float] = {}
        self._clock = clock

    async def revoke(self, kind: str, value: str, ttl: int) -> bool:
        # No await between the check and the write: atomic within the event loop.
        now = self._clock()
        if self._expiry.get((kind, value), 0.0) > now:
            return False
        self._expiry[(kind, value)] = now + max(ttl, 1)
        if len(self._expiry) > 100_000:
            self._expiry = {key: end for key, end in self._expiry.items() if end > now}
        return True

    async def any_revoked(self, items: list[tuple[str, str]]) -> bool:
        now = self._clock()
        return any(self._expiry.get(item, 0.0) > now for item in items)


class RedisRevocationStore(RevocationStore):
    def __init__(self, client: Callable[[], Redis | None], prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def _key(self, kind: str, value: str) -> str:
        return f"{self._prefix}revoked:{kind}:{value}"

    def _redis(self) -> Redis:
        client = self._client()
        if client is None:
            raise RedisConnectionError("Redis is not connected")
        return client

    async def revoke(self, kind: str, value: str, ttl: int) -> bool:
        # SET NX: of two concurrent revocations (or rotations) exactly one wins.
        created = await self._redis().set(self._key(kind, value), "1", ex=max(ttl, 1), nx=True)
        return bool(created)

    async def any_revoked(self, items: list[tuple[str, str]]) -> bool:
        if not items:
            return False
        found = await self._redis().exists(*(self._key(kind, value) for kind, value in items))
        return int(found) > 0
