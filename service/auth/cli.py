"""Auth commands: `purge-sessions`."""

from __future__ import annotations

import click
from quart.cli import ScriptInfo, pass_script_info

from service.auth import sessions
from service.common.cli import run_with_app
from service.extensions import db


@click.command("purge-sessions")
@pass_script_info
def purge_sessions_command(info: ScriptInfo) -> None:
    """Delete expired logins (run it daily; a login also clears its user's own)."""

    async def purge() -> int:
        async with db.session_for_task() as session, session.begin():
            return await sessions.purge_expired_sessions(session)

    count = run_with_app(info.load_app(), purge)
    click.secho(f"✓ Purged {count} expired login(s)", fg="green")


commands: list[click.Command] = [purge_sessions_command]
