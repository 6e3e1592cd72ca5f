"""The cache: cashews over Redis (shared by every instance), or in-process without REDIS_URL.

The seed's vocabulary: `cached` (a value under a key), `memoize` (a function's result per
the arguments its namespace template names), `delete` and `delete_memoized`.

Entries are grouped in namespaces (`product:42`, `products:list`, `stats:7`). A namespace
has a generation number, stored beside each entry and read with it in one round trip. A
write bumps it before and after its commit (refused, 503, when the first bump fails:
docs/caching.md), so every instance misses on its next read, and a slow reader that
loaded the old row stores it under a generation no reader accepts. One request at a time
recomputes a missing key (a lock), the others wait; cheap entries skip the lock. When
Redis fails, reads fall through to the database, logged and counted, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from functools import partial, wraps
from typing import Any, ParamSpec, TypeVar

from cashews import Cache as CashewsCache
from quart import Quart, current_app

from service.cache_keys import Memo
from service.cache_store import InProcessStore, RedisStore, Store, cashews_backend
from service.errors import CacheUnavailable
from service.metrics import Metrics

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

KEY_VERSION = "c2"  # bump when the shape of cached values changes
GENERATION_TTL = 24 * 3600  # far longer than any entry, so a lapsed counter resurrects nothing
LOCK_SECONDS = 5.0
LOCK_POLL_SECONDS = 0.02
REDIS_TIMEOUT_SECONDS = 0.5
_MISSING = object()
_FAILED = object()


class Cache:
    """`cached`, `memoize`, `delete` and `delete_memoized`, on top of a cashews cache."""

    metrics: Metrics  # the app's, from init_app
    store: Store  # made with the connection

    def __init__(self) -> None:
        self.backend = CashewsCache(name="service")
        self.prefix = ""
        self.ttl = 60
        self._memos: dict[Callable[..., Any], Memo] = {}  # by the memoized wrapper

    def init_app(self, app: Quart) -> None:
        settings = app.extensions["settings"]
        self.prefix = f"{settings.REDIS_KEY_PREFIX}{KEY_VERSION}:"
        self.ttl = settings.CACHE_TTL
        self.metrics = app.extensions["metrics"]
        redis = app.extensions["redis_client"]  # connected before this (registered first)

        async def connect() -> None:
            self.backend = cashews_backend(settings.REDIS_URL, REDIS_TIMEOUT_SECONDS)
            await self._safely("connect", self.backend.init())  # start with Redis down
            client = redis.client
            self.store = RedisStore(client) if client is not None else InProcessStore(self.backend)

        async def disconnect() -> None:
            await self._safely("close", self.backend.close())

        app.before_serving(connect)
        app.after_serving(disconnect)

    async def cached(
        self, namespace: str, key: str, compute: Callable[[], Awaitable[T]], *, lock: bool = True
    ) -> T:
        """The cached value of `key` in `namespace`, computed on a miss (once at a time,
        unless `lock` is False: then a miss costs less than the lock would save)."""
        full_key = f"{self.prefix}{namespace}:{key}"
        found = await self._safely(
            "read", self.store.read(self.generation_key(namespace), full_key)
        )
        if found is _FAILED:
            return await compute()
        generation, entry = found
        hit = _value_of(entry, generation)
        self.metrics.cache_requests.labels("miss" if hit is _MISSING else "hit").inc()
        if hit is _MISSING:
            async with self._lock(f"{full_key}:lock") if lock else nullcontext():
                if lock:  # computed by the holder we waited for?
                    hit = _value_of(
                        await self._safely("read", self.backend.get(full_key)), generation
                    )
                if hit is _MISSING:
                    hit = await compute()
                    write = self.store.write(full_key, [generation, hit], self.ttl)
                    await self._safely("write", write)
        return hit  # type: ignore[no-any-return]

    def memoize(
        self, namespace: str, key: str = "", *, lock: bool = True
    ) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
        """Cache an async function's result per namespace, e.g. `memoize("stats:{user_id}")`.

        `namespace` (and `key`, to tell results apart inside it) are cashews key templates
        filled from the call's arguments; arguments they do not name (a session) do not
        affect the key. `delete_memoized(function, user_id)` drops the namespace.
        """

        def decorator(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
            memo = Memo(function, namespace, key)

            @wraps(function)
            async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
                name, entry = memo.keys(args, kwargs)
                return await self.cached(name, entry, lambda: function(*args, **kwargs), lock=lock)

            self._memos[wrapper] = memo
            return wrapper

        return decorator

    def delete(self, *namespaces: str) -> None:
        """Drop these namespaces with the current request's commit (STYLE rule 13): before
        it (refused, 503, when Redis cannot take it: committed, other instances would serve
        the old value until CACHE_TTL) and again after it, for readers that re-cached the
        old row between the two."""
        transaction = current_app.extensions["database"]
        transaction.before_commit(partial(self.invalidate, *namespaces, required=True))
        transaction.after_commit(partial(self.invalidate, *namespaces))

    def delete_memoized(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        # `delete` the namespace a memoized function's result has for these arguments.
        self.delete(self._memos[function].namespace_of(args, kwargs))

    def memoized_keys(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> list[str]:
        """The Redis keys a memoized function's call reads (its generation, its entry), for
        a view's `reads_early`."""
        namespace, entry = self._memos[function].keys(args, kwargs)
        return [self.generation_key(namespace), f"{self.prefix}{namespace}:{entry}"]

    async def invalidate(self, *namespaces: str, required: bool = False) -> None:
        """Make every entry of these namespaces unreachable, on every instance, now (one
        round trip); a failure is logged and counted, and with `required` it raises."""
        keys = [self.generation_key(namespace) for namespace in namespaces]
        bumped = await self._safely("invalidate", self.store.bump(keys, GENERATION_TTL))
        if bumped is _FAILED and required:  # entries expire by TTL; only `required` refuses
            raise CacheUnavailable()

    def generation_key(self, namespace: str) -> str:
        """The key of a namespace's generation, which every write to it bumps."""
        return f"{self.prefix}gen:{namespace}"

    @asynccontextmanager
    async def _lock(self, key: str) -> AsyncIterator[None]:
        """cashews' lock: one holder, the others wait (polling) until it is released.

        Entered and left by hand so that only the cache's own failures are caught: without
        a lock everyone computes, and a lock left behind expires on its own.
        """
        lock = self.backend.lock(key, LOCK_SECONDS, check_interval=LOCK_POLL_SECONDS)
        locked = await self._safely("lock", lock.__aenter__()) is not _FAILED
        try:
            yield
        finally:
            if locked:
                await self._safely("lock", lock.__aexit__(None, None, None))

    async def _safely(self, operation: str, call: Awaitable[Any]) -> Any:
        """`call`'s result, or `_FAILED` when the cache fails (logged and counted)."""
        try:
            return await call
        except Exception as error:  # noqa: BLE001 - the cache failing never fails a request
            message = "cache %s failed (%s: %s); carrying on without it"
            logger.warning(message, operation, type(error).__name__, error)
            self.metrics.redis_errors.labels(f"cache_{operation}").inc()
            return _FAILED


def _value_of(entry: Any, generation: int) -> Any:
    """The value of a stored `[generation, value]` entry if it is current, else _MISSING."""
    if isinstance(entry, list) and len(entry) == 2 and entry[0] == generation:
        return entry[1]
    return _MISSING
