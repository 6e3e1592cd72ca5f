"""Auth commands: `purge-sessions`."""

from __future__ import annotations

import click
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import sessions
from service.common.cli import purge_command


@purge_command("purge-sessions", purged="login(s)")
async def purge_sessions(session: AsyncSession) -> int:
    """Delete expired logins (run it daily; a login also clears its user's own)."""
    return await sessions.purge_expired_sessions(session)


commands: list[click.Command] = [purge_sessions]
