"""`service purge-idempotency-keys`: delete keys past their 24 hours."""

from __future__ import annotations

import click
from sqlalchemy.ext.asyncio import AsyncSession

from service.common.cli import purge_command
from service.idempotency import services


@purge_command("purge-idempotency-keys", purged="idempotency key(s)")
async def purge_keys(session: AsyncSession) -> int:
    """Delete expired Idempotency-Keys (run it daily; expired keys are ignored anyway)."""
    return await services.purge_expired(session)


commands: list[click.Command] = [purge_keys]
