"""Backend checks shared by `/ready` and `service check`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from service.extensions import db, redis_client
from service.ops.schemas import CheckStatus, ReadinessChecks

logger = logging.getLogger(__name__)

# The whole probe's bound; the database's own ping gives up after DATABASE_TIMEOUT if sooner.
CHECK_TIMEOUT_SECONDS = 2.0


async def _probe(name: str, ping: Callable[[], Awaitable[object]] | None) -> CheckStatus:
    if ping is None:
        return "disabled"
    try:
        await asyncio.wait_for(ping(), CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        # One line, not a traceback: a readiness probe repeats every few seconds while
        # a backend is down, and the cause is all an operator needs.
        reason = str(error) or "no answer in time"
        logger.warning("%s check failed: %s: %s", name, type(error).__name__, reason)
        return "error"
    return "ok"


async def readiness() -> ReadinessChecks:
    """The database's and Redis's status, probed together."""
    redis = redis_client.client
    database, cache = await asyncio.gather(
        _probe("database", db.ping), _probe("redis", redis.ping if redis else None)
    )
    return ReadinessChecks(database=database, redis=cache)
