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


async def _probe(ping: Callable[[], Awaitable[object]] | None) -> tuple[CheckStatus, str]:
    """The backend's status, and why it failed (empty unless it did)."""
    if ping is None:
        return "disabled", ""
    try:
        await asyncio.wait_for(ping(), CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        return "error", f"{type(error).__name__}: {str(error) or 'no answer in time'}"
    return "ok", ""


async def probe_backends() -> dict[str, tuple[CheckStatus, str]]:
    """The database's and Redis's status and failure reason, probed together."""
    redis = redis_client.client
    database, cache = await asyncio.gather(_probe(db.ping), _probe(redis.ping if redis else None))
    return {"database": database, "redis": cache}


async def readiness() -> ReadinessChecks:
    """The backends' status for `/ready`; each failure is logged on one line."""
    probes = await probe_backends()
    for name, (status, reason) in probes.items():
        if status == "error":
            # Not a traceback: a readiness probe repeats every few seconds while a backend
            # is down, and the cause is all an operator needs.
            logger.warning("%s check failed: %s", name, reason)
    return ReadinessChecks(database=probes["database"][0], redis=probes["redis"][0])
