"""Rate limiting: quart-rate-limiter's GCRA, made atomic, expiring, proxy-aware and fail-open.

The library checks every limit with one store read and then updates each with another
read and a write: concurrent requests on several instances can overshoot, and its Redis
keys never expire. Here one `hit` call checks and updates all of a request's limits at
once (a Lua script in Redis, a plain function in memory) and every key carries a TTL.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from quart import Quart, Response, current_app, g, request
from quart_rate_limiter import (
    QUART_RATE_LIMITER_EXEMPT_ATTRIBUTE,
    QUART_RATE_LIMITER_LIMITS_ATTRIBUTE,
    RateLimit,
    RateLimiter,
    RateLimitExceeded,
    rate_exempt,
)
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from service.config import IPNetwork, Settings, parse_limits
from service.observability import Metrics

logger = logging.getLogger(__name__)

__all__ = [
    "ServiceRateLimiter",
    "client_address",
    "limit_group",
    "limits_from_setting",
    "rate_exempt",
]

LIMIT_GROUP_ATTRIBUTE = "_service_limit_groups"
T = TypeVar("T")


def limit_group(name: str) -> Callable[[T], T]:
    """Mark a view or blueprint with a named limit whose value comes from settings.

    Named limits are read per app (`RATE_LIMIT_LOGIN`, `RATE_LIMIT_USERS`), so the
    module-level blueprints never accumulate limits across `create_app` calls.
    """

    def mark(target: T) -> T:
        groups = [*getattr(target, LIMIT_GROUP_ATTRIBUTE, []), name]
        setattr(target, LIMIT_GROUP_ATTRIBUTE, groups)
        return target

    return mark


# KEYS: one per limit. ARGV: period and emission interval (seconds) per limit.
# Returns {1, tat_1 - now, ...} when allowed (all updated), or {0, i, tat_i - now,
# retry_after} for the first limit that refuses (nothing updated). Numbers go out as
# strings because Redis truncates Lua floats to integers.
_GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tats = {}
for i = 1, #KEYS do
  local period = tonumber(ARGV[2 * i - 1])
  local interval = tonumber(ARGV[2 * i])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
  if tat - now > period - interval then
    return {0, i, tostring(tat - now), tostring(tat - (period - interval) - now)}
  end
  tats[i] = tat
end
local result = {1}
for i = 1, #KEYS do
  local new_tat = tats[i] + tonumber(ARGV[2 * i])
  local ttl_ms = math.ceil((new_tat - now) * 1000)
  redis.call('SET', KEYS[i], tostring(new_tat), 'PX', ttl_ms)
  result[#result + 1] = tostring(new_tat - now)
end
return result
"""


@dataclass(frozen=True)
class HitResult:
    """The outcome of one request against all of its limits."""

    allowed: bool
    # seconds from now until each limit's bucket is empty again (its theoretical arrival)
    separations: list[float]
    rejected_index: int | None = None
    retry_after: float = 0.0


class GCRAStore:
    """Checks and updates several GCRA limits as one step."""

    async def hit(self, keys: Sequence[str], limits: Sequence[RateLimit]) -> HitResult:
        raise NotImplementedError


class MemoryGCRAStore(GCRAStore):
    """In-process store for the embedded default; atomic because it never awaits."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._tats: dict[str, float] = {}
        self._clock = clock

    async def hit(self, keys: Sequence[str], limits: Sequence[RateLimit]) -> HitResult:
        now = self._clock()
        self._drop_expired(now)
        tats = []
        for index, (key, limit) in enumerate(zip(keys, limits, strict=True)):
            tat = max(self._tats.get(key, 0.0), now)
            period = limit.period.total_seconds()
            if tat - now > period - limit.inverse:
                retry_after = tat - (period - limit.inverse) - now
                separations = [max(self._tats.get(k, 0.0), now) - now for k in keys]
                return HitResult(False, separations, index, retry_after)
            tats.append(tat)
        for key, limit, tat in zip(keys, limits, tats, strict=True):
            self._tats[key] = tat + limit.inverse
        return HitResult(True, [self._tats[key] - now for key in keys])

    def _drop_expired(self, now: float) -> None:
        # The in-memory twin of Redis TTLs: a TAT in the past is the same as no entry.
        if len(self._tats) > 10_000:
            self._tats = {key: tat for key, tat in self._tats.items() if tat > now}


class RedisGCRAStore(GCRAStore):
    """Redis store: one Lua round trip per request, a TTL on every key."""

    def __init__(self, client: Callable[[], Redis | None]) -> None:
        self._client = client
        self._script: AsyncScript | None = None

    async def hit(self, keys: Sequence[str], limits: Sequence[RateLimit]) -> HitResult:
        client = self._client()
        if client is None:
            raise RedisError("Redis is not connected")
        # EVALSHA with a reload on NOSCRIPT: the script's text is not sent every request.
        script = self._script
        if script is None or script.registered_client is not client:
            script = self._script = client.register_script(_GCRA_SCRIPT)
        arguments: list[float] = []
        for limit in limits:
            arguments.extend((limit.period.total_seconds(), limit.inverse))
        reply: list[Any] = await script(keys=list(keys), args=arguments)
        if int(reply[0]) == 1:
            return HitResult(True, [float(value) for value in reply[1:]])
        index = int(reply[1]) - 1
        separations = [0.0] * len(keys)
        separations[index] = float(reply[2])
        return HitResult(False, separations, index, float(reply[3]))


def limits_from_setting(value: str) -> list[RateLimit]:
    return [RateLimit(count, period) for count, period in parse_limits(value)]


def client_address(peer: str | None, forwarded_for: str, trusted: Sequence[IPNetwork]) -> str:
    """The client: the peer, or the first X-Forwarded-For hop not added by a trusted proxy.

    Walks the chain from the right; only hops appended by proxies we trust are believed,
    so a client cannot forge its way to a fresh bucket.
    """
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    chain = [*hops, peer or "unknown"]
    client = chain[-1]
    for position in range(len(chain) - 1, 0, -1):
        if not _is_trusted(chain[position], trusted):
            break
        client = chain[position - 1]
    return client


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


class ServiceRateLimiter(RateLimiter):
    """quart-rate-limiter with the service's key, store, inheritance and headers."""

    def __init__(self) -> None:
        super().__init__(store=None)
        self.gcra_store: GCRAStore = MemoryGCRAStore()
        self.metrics: Metrics | None = None
        self.trusted_proxies: list[IPNetwork] = []
        self.exempt_endpoints: set[str] = set()
        self.prefix = ""
        self.group_limits: dict[str, list[RateLimit]] = {}

    def init_service(
        self,
        app: Quart,
        settings: Settings,
        *,
        metrics: Metrics,
        redis: Callable[[], Redis | None],
        exempt_endpoints: set[str],
    ) -> None:
        self._default_rate_limits = limits_from_setting(settings.RATE_LIMIT_DEFAULT)
        self.group_limits = {
            "login": limits_from_setting(settings.RATE_LIMIT_LOGIN),
            "users": limits_from_setting(settings.RATE_LIMIT_USERS),
        }
        self.trusted_proxies = settings.trusted_proxies
        self.metrics = metrics
        self.exempt_endpoints = exempt_endpoints
        self.prefix = settings.REDIS_KEY_PREFIX
        self.gcra_store = RedisGCRAStore(redis) if settings.REDIS_URL else MemoryGCRAStore()
        self.init_app(app, enabled=settings.RATE_LIMIT_ENABLED)

    def limits_for(self, app: Quart, endpoint: str) -> list[tuple[str, RateLimit]] | None:
        """Every (label, limit) that applies to an endpoint, or None when it is exempt.

        Limits and groups set on any blueprint of the nesting chain apply (the library
        reads only the innermost blueprint, so nested blueprints would lose them).
        """
        view = app.view_functions.get(endpoint)
        if view is None:
            return []
        if endpoint in self.exempt_endpoints or getattr(
            view, QUART_RATE_LIMITER_EXEMPT_ATTRIBUTE, False
        ):
            return None
        names = endpoint.split(".")[:-1]
        owners: list[Any] = [view]
        owners += [
            app.blueprints.get(".".join(names[:depth])) for depth in range(1, len(names) + 1)
        ]
        labelled: list[tuple[str, RateLimit]] = []
        for owner in owners:
            for limit in getattr(owner, QUART_RATE_LIMITER_LIMITS_ATTRIBUTE, []):
                labelled.append(("route", limit))
            for group in getattr(owner, LIMIT_GROUP_ATTRIBUTE, []):
                labelled.extend((group, limit) for limit in self.group_limits[group])
        labelled.extend(("default", limit) for limit in self._default_rate_limits)
        return labelled

    def client_key(self) -> str:
        """The current request's client: the peer, or the hop a trusted proxy added."""
        return client_address(
            request.remote_addr,
            request.headers.get("X-Forwarded-For", ""),
            self.trusted_proxies,
        )

    async def _before_request(self) -> None:
        if not current_app.config["QUART_RATE_LIMITER_ENABLED"] or request.method == "OPTIONS":
            return
        endpoint = request.endpoint
        if endpoint is None:
            return
        labelled = self.limits_for(current_app, endpoint) or []
        if not labelled:
            return
        limits = [limit for _, limit in labelled]
        client = self.client_key()
        keys = [
            f"{self.prefix}rl:{endpoint}:{label}:{limit.count}/{limit.period.total_seconds():g}:"
            f"{client}"
            for label, limit in labelled
        ]
        try:
            result = await self.gcra_store.hit(keys, limits)
        except (RedisError, OSError, TimeoutError):
            # Fail open: an outage of the limiter must not become an outage of the API.
            logger.warning("rate limiter store unavailable; request not limited", exc_info=True)
            if self.metrics is not None:
                self.metrics.redis_errors.labels("rate_limit").inc()
            return
        g.rate_limit_headers = _headers_for(limits, result)
        if not result.allowed:
            if self.metrics is not None:
                self.metrics.rate_limited.labels(endpoint).inc()
            raise RateLimitExceeded(max(1, math.ceil(result.retry_after)))

    async def _after_request(self, response: Response) -> Response:
        headers: dict[str, str] | None = g.get("rate_limit_headers")
        if headers:
            response.headers.update(headers)
        return response


def _headers_for(limits: Sequence[RateLimit], result: HitResult) -> dict[str, str]:
    """RateLimit-* for the limit closest to running out (on a refusal, the one hit)."""
    if result.rejected_index is not None:
        limit = limits[result.rejected_index]
        return {
            "RateLimit-Limit": str(limit.count),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(max(1, math.ceil(result.separations[result.rejected_index]))),
        }
    best: tuple[int, float, RateLimit] | None = None
    for limit, separation in zip(limits, result.separations, strict=True):
        period = limit.period.total_seconds()
        remaining = max(0, int((period - separation) / limit.inverse + 1e-9))
        if best is None or (remaining, -separation) < (best[0], -best[1]):
            best = (remaining, separation, limit)
    assert best is not None
    remaining, separation, limit = best
    return {
        "RateLimit-Limit": str(limit.count),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(math.ceil(separation)),
    }
