"""The cache: cashews over Redis (shared by every instance), or in-process without REDIS_URL.

Entries are grouped in namespaces (`product:42`, `products:list`, `stats:7`). A namespace
has a generation number inside every key of it; a write bumps the generation after its
transaction commits, so every instance misses on its very next read, and a slow reader
that loaded the old row before the commit writes it under the old generation, where
nobody looks again. The write also bumps it before its commit, and is refused (503) when
that fails: committed without it, other instances would serve the old value until its TTL
(docs/caching.md). Only one request at a time recomputes a missing key (a lock in the
cache), the others wait for its result. When Redis fails, reads fall through to the
database; the failure is logged and counted, never a 500.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, Protocol, TypeVar

from cashews import Cache as CashewsCache
from quart import Quart

from service.config import Settings
from service.errors import CacheUnavailable
from service.metrics import Metrics

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

KEY_VERSION = "c1"  # bump when the shape of cached values changes
GENERATION_TTL = 24 * 3600  # far longer than any entry, so a lapsed counter resurrects nothing
LOCK_SECONDS = 5.0
LOCK_POLL_SECONDS = 0.02
REDIS_TIMEOUT_SECONDS = 0.5
_MISSING = object()


class CommitHooks(Protocol):
    """Where work is scheduled around a commit (the request's transaction: `db`)."""

    def before_commit(self, callback: Callable[[], Awaitable[None]]) -> None: ...

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None: ...


class Cache:
    """`get_or_compute`, `memoize` and `invalidate`, on top of a cashews cache."""

    def __init__(self) -> None:
        self.backend = CashewsCache(name="service")
        self.prefix = ""
        self.ttl = 60
        self.metrics: Metrics | None = None

    def init_app(self, app: Quart) -> None:
        settings: Settings = app.extensions["settings"]
        self.prefix = f"{settings.REDIS_KEY_PREFIX}{KEY_VERSION}:"
        self.ttl = settings.CACHE_TTL
        self.metrics = app.extensions["metrics"]

        async def connect() -> None:
            self.backend = CashewsCache(name="service")
            if settings.REDIS_URL:
                self.backend.setup(
                    settings.REDIS_URL,
                    suppress=False,
                    client_side=False,
                    pickle_type="json",
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_keepalive=True,
                    # waiting for a free connection is bounded like a command
                    wait_for_connection_timeout=REDIS_TIMEOUT_SECONDS,
                )
            else:
                self.backend.setup("mem://", size=100_000)
            try:
                await self.backend.init()
            except Exception:  # noqa: BLE001 - start even when Redis is down
                self._failed("connect")

        async def disconnect() -> None:
            try:
                await self.backend.close()
            except Exception:
                logger.warning("closing the cache failed", exc_info=True)

        app.before_serving(connect)
        app.after_serving(disconnect)

    async def get_or_compute(
        self, namespace: str, key: str, compute: Callable[[], Awaitable[T]]
    ) -> T:
        """The cached value of `key` in `namespace`, computed (once at a time) on a miss."""
        generation = await self._generation(namespace)
        if generation is None:
            return await compute()
        full_key = f"{self.prefix}{namespace}:{generation}:{key}"
        cached = await self._get(full_key)
        if cached is not _MISSING:
            self._count("hit")
            return cached  # type: ignore[no-any-return]
        self._count("miss")
        token = uuid.uuid4().hex
        if await self._lock(full_key, token):
            try:
                value = await compute()
                await self._set(full_key, value)
                return value
            finally:
                await self._unlock(full_key, token)
        waited = await self._wait_for(full_key)
        return waited if waited is not _MISSING else await compute()

    def memoize(
        self, namespace: str
    ) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
        """Cache an async function's result per namespace, e.g. `memoize("stats:{user_id}")`.

        The namespace is formatted with the call's arguments; `invalidate` it to drop the
        result. Arguments the template does not name (a session) do not affect the key.
        """

        def decorator(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
            signature = inspect.signature(function)

            @wraps(function)
            async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
                bound = signature.bind(*args, **kwargs)
                name = namespace.format(**bound.arguments)
                return await self.get_or_compute(
                    name, function.__qualname__, lambda: function(*args, **kwargs)
                )

            return wrapper

        return decorator

    async def invalidate(self, *namespaces: str, required: bool = False) -> None:
        """Make every entry of these namespaces unreachable, on every instance.

        A failure is logged and counted; with `required` it also raises `CacheUnavailable`.
        """
        for namespace in namespaces:
            try:
                await self.backend.incr(self._generation_key(namespace), expire=GENERATION_TTL)
            except Exception as error:  # entries expire by TTL; only `required` refuses
                self._failed("invalidate")
                if required:
                    raise CacheUnavailable() from error

    def invalidate_with_commit(self, transaction: CommitHooks, *namespaces: str) -> None:
        """Invalidate these namespaces around the transaction's commit (STYLE rule 13).

        Before the commit the invalidation is recorded, and when Redis cannot take it the
        write is refused (503, rolled back): committed, it would leave other instances
        serving the old value until CACHE_TTL. After the commit it is done again, for the
        readers that re-cached the old row between the two.
        """

        async def record() -> None:
            await self.invalidate(*namespaces, required=True)

        async def invalidate() -> None:
            await self.invalidate(*namespaces)

        transaction.before_commit(record)
        transaction.after_commit(invalidate)

    def _generation_key(self, namespace: str) -> str:
        return f"{self.prefix}gen:{namespace}"

    async def _generation(self, namespace: str) -> int | None:
        try:
            value = await self.backend.get(self._generation_key(namespace))
        except Exception:  # noqa: BLE001
            self._failed("read")
            return None
        return int(value or 0)

    async def _get(self, key: str) -> Any:
        try:
            return await self.backend.get(key, default=_MISSING)
        except Exception:  # noqa: BLE001
            self._failed("read")
            return _MISSING

    async def _set(self, key: str, value: Any) -> None:
        try:
            await self.backend.set(key, value, expire=self.ttl)
        except Exception:  # noqa: BLE001
            self._failed("write")

    async def _lock(self, key: str, token: str) -> bool:
        try:
            return bool(await self.backend.set_lock(f"{key}:lock", token, expire=LOCK_SECONDS))
        except Exception:  # noqa: BLE001 - without a lock, everyone computes
            self._failed("lock")
            return True

    async def _unlock(self, key: str, token: str) -> None:
        try:
            await self.backend.unlock(f"{key}:lock", token)
        except Exception:  # noqa: BLE001 - the lock expires on its own
            self._failed("lock")

    async def _wait_for(self, key: str) -> Any:
        deadline = time.monotonic() + LOCK_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(LOCK_POLL_SECONDS)
            value = await self._get(key)
            if value is not _MISSING:
                return value
        return _MISSING

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.cache_requests.labels(result).inc()

    def _failed(self, operation: str) -> None:
        error = sys.exc_info()[1]
        logger.warning(
            "cache %s failed (%s: %s); carrying on without the cache",
            operation,
            type(error).__name__,
            error,
        )
        if self.metrics is not None:
            self.metrics.redis_errors.labels(f"cache_{operation}").inc()
