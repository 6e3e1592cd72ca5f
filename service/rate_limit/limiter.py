"""The limiter extension: quart-rate-limiter's markers, enforced atomically per request.

Views carry the library's own markers (`@rate_limit`, `limit_blueprint`, `@rate_exempt`).
Its `RateLimiter` enforces them only in its private request hooks, which fall short of the
contract, so this extension composes its own public hooks around the markers instead of
overriding those:
- it checks with one store read per limit, then updates each with another read and a
  write: concurrent instances overshoot (here: one atomic `hit`, see `stores.py` and
  `redis_store.py`);
- its store keys never expire (here: a TTL on each);
- it counts OPTIONS (pre-flights) too (here: not counted);
- it reads limits from the innermost blueprint only (here: the whole nesting chain) and
  fixes them at import (here: `from_setting` limits come from each app's settings);
- its headers describe the limit with the shortest period (here: the one closest to
  running out, see `stores.outcome`), and an unreachable store is an error (here: fail open).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from quart import Quart, Response, current_app, g, request
from quart_rate_limiter import QUART_RATE_LIMITER_EXEMPT_ATTRIBUTE as EXEMPT_ATTRIBUTE
from quart_rate_limiter import QUART_RATE_LIMITER_LIMITS_ATTRIBUTE as LIMITS_ATTRIBUTE
from quart_rate_limiter import RateLimit
from redis.exceptions import RedisError

from service.common.clients import request_client
from service.config import Settings
from service.errors import RateLimited
from service.rate_limit.redis_store import RedisGCRAStore
from service.rate_limit.stores import MemoryGCRAStore, Rate

logger = logging.getLogger(__name__)

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")


@dataclass
class SettingLimit(RateLimit):
    """A placeholder for the limits in the setting `setting`, resolved per app.

    A limit whose value comes from settings (`RATE_LIMIT_LOGIN`, `RATE_LIMIT_USERS`) cannot
    be a fixed `RateLimit` at import time, since every `create_app` may read other settings;
    `from_setting` marks it by name and the limiter resolves it per app.
    """

    setting: str = ""


def from_setting(setting: str) -> list[RateLimit]:
    """`limits=` for `rate_limit`/`limit_blueprint`: whatever `setting` holds in this app."""
    return [SettingLimit(0, timedelta(0), setting=setting)]


def parse_limits(value: str) -> list[RateLimit]:
    """`"100/hour;10/minute"` as the library's limits."""
    limits = []
    for part in filter(str.strip, value.split(";")):
        match = _LIMIT_RE.match(part)
        if match is None or int(match.group(1)) < 1:
            raise ValueError(f"{part.strip()!r} is not <count>/<second|minute|hour|day>")
        limits.append(RateLimit(int(match.group(1)), timedelta(seconds=_PERIODS[match.group(2)])))
    if not limits:
        raise ValueError("at least one limit is required")
    return limits


# quart-schema's own routes and the static files: never limited, like the ops routes.
EXEMPT_ENDPOINTS = frozenset({"openapi", "swagger_ui", "static"})


class Limiter:
    """Per client and route: every marked limit plus the default, checked as one step."""

    store: MemoryGCRAStore | RedisGCRAStore

    def init_app(self, app: Quart) -> None:
        """Count requests on `app` (`check_request` and `add_headers` run in its hooks);
        its settings choose the store (Redis when configured)."""
        settings: Settings = app.extensions["settings"]
        self.store = RedisGCRAStore() if settings.REDIS_URL else MemoryGCRAStore()
        app.extensions["rate_limits"] = {}

    def limits_for(self, app: Quart, endpoint: str) -> list[tuple[str, RateLimit]] | None:
        """Every (label, limit) that applies to an endpoint, or None when it is exempt."""
        view = app.view_functions[endpoint]
        if endpoint in EXEMPT_ENDPOINTS or getattr(view, EXEMPT_ATTRIBUTE, False):
            return None
        settings: Settings = app.extensions["settings"]
        # The view's own limits, then each enclosing blueprint's, then the default.
        parts = endpoint.split(".")
        owners = [view, *(app.blueprints.get(".".join(parts[:n])) for n in range(1, len(parts)))]
        marked = [limit for owner in owners for limit in getattr(owner, LIMITS_ATTRIBUTE, [])]
        marked += from_setting("RATE_LIMIT_DEFAULT")
        return [pair for limit in marked for pair in _labelled(limit, settings)]

    def plan(self, endpoint: str) -> _Plan:
        """The endpoint's limits, with their store keys up to the client; worked out on
        its first request in each app, since settings and routes are fixed by then."""
        known: dict[str, _Plan] = current_app.extensions["rate_limits"]
        plan = known.get(endpoint)
        if plan is None:
            prefix = f"{current_app.extensions['settings'].REDIS_KEY_PREFIX}rl:{endpoint}"
            labelled = self.limits_for(current_app, endpoint) or []
            plan = known[endpoint] = _Plan(
                [limit for _, limit in labelled],
                [Rate.of(limit) for _, limit in labelled],
                [
                    f"{prefix}:{label}:{limit.count}/{limit.period.total_seconds():g}:"
                    for label, limit in labelled
                ],
            )
        return plan

    def client_key(self) -> str:
        """The current request's client: the peer, or the hop a trusted proxy added."""
        return request_client()

    async def check_request(
        self, also_read: Callable[[], Sequence[str]] = tuple
    ) -> dict[str, bytes | None]:
        """Count the request against all its limits at once; 429 when one is spent.

        When the store asks Redis, it reads the keys `also_read` names in the same step:
        what they hold comes back (nothing when it did not ask, or refused).
        """
        endpoint = request.endpoint
        enabled = current_app.config["QUART_RATE_LIMITER_ENABLED"]
        if not enabled or request.method == "OPTIONS" or endpoint is None:
            return {}
        plan = self.plan(endpoint)
        if not plan.rates:
            return {}
        client = self.client_key()
        rates, keys = [], []
        for limit, rate, prefix in zip(plan.limits, plan.rates, plan.prefixes, strict=True):
            if limit.skip_function is not None and await limit.skip_function():
                continue
            rates.append(rate)
            keys.append(prefix + (await limit.key_function() if limit.key_function else client))
        if not keys:
            return {}
        try:
            hit = await self.store.hit(keys, rates, also_read)
        except (RedisError, OSError, TimeoutError):
            # Fail open: an outage of the limiter must not become an outage of the API.
            logger.warning("rate limiter store unavailable; request not limited", exc_info=True)
            current_app.extensions["metrics"].redis_errors.labels("rate_limit").inc()
            return {}
        g.rate_limit_headers = hit.headers
        if hit.retry_after:
            current_app.extensions["metrics"].rate_limited.labels(endpoint).inc()
            message = f"Too many requests; retry in {hit.retry_after} seconds"
            raise RateLimited(message, headers={"Retry-After": str(hit.retry_after)})
        return hit.read

    def add_headers(self, response: Response) -> None:
        """RateLimit-* on every counted response, the 429s included."""
        if "rate_limit_headers" in g:
            # Added, not set: nothing else names them, and setting scans every header.
            response.headers.extend(g.rate_limit_headers)


@dataclass(frozen=True, slots=True)
class _Plan:
    """An endpoint's limits: as marked, as numbers, and their store keys up to the client."""

    limits: list[RateLimit]
    rates: list[Rate]
    prefixes: list[str]


def _labelled(limit: RateLimit, settings: Settings) -> list[tuple[str, RateLimit]]:
    """A marked limit with the label it goes by in keys and tests: its setting's, or `route`."""
    if not isinstance(limit, SettingLimit):
        return [("route", limit)]
    label = limit.setting.removeprefix("RATE_LIMIT_").lower()  # RATE_LIMIT_LOGIN -> login
    return [(label, one) for one in parse_limits(getattr(settings, limit.setting))]
