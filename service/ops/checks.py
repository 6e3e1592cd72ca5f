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


async def _probe(name: str, ping: Callable[[], Awaitable[object]]) -> CheckStatus:
    try:
        await asyncio.wait_for(ping(), CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        # One line, not a traceback: a readiness probe repeats every few seconds while
        # a backend is down, and the cause is all an operator needs.
        reason = str(error) or "no answer in time"
        logger.warning("%s check failed: %s: %s", name, type(error).__name__, reason)
        return "error"
    return "ok"


async def check_database() -> CheckStatus:
    return await _probe("database", db.ping)


async def check_redis() -> CheckStatus:
    if redis_client.client is None:
        return "disabled"
    return await _probe("redis", redis_client.client.ping)


async def readiness() -> ReadinessChecks:
    database, cache = await asyncio.gather(check_database(), check_redis())
    return ReadinessChecks(database=database, redis=cache)
