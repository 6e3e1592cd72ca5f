"""Backend checks shared by `/ready` and `service check`."""

from __future__ import annotations

import asyncio
import logging

from service.extensions import db, redis
from service.ops.schemas import CheckStatus, ReadinessChecks

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0


async def check_database() -> CheckStatus:
    try:
        await asyncio.wait_for(db.ping(), CHECK_TIMEOUT_SECONDS)
    except Exception:
        logger.warning("readiness: database check failed", exc_info=True)
        return "error"
    return "ok"


async def check_redis() -> CheckStatus:
    if not redis.enabled:
        return "disabled"
    try:
        await asyncio.wait_for(redis.ping(), CHECK_TIMEOUT_SECONDS)
    except Exception:
        logger.warning("readiness: redis check failed", exc_info=True)
        return "error"
    return "ok"


async def readiness() -> ReadinessChecks:
    database, cache = await asyncio.gather(check_database(), check_redis())
    return ReadinessChecks(database=database, redis=cache)
