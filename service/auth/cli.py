"""Auth commands: `purge-sessions`."""

from __future__ import annotations

import click
from quart.cli import ScriptInfo, pass_script_info

from service.auth import sessions
from service.common.cli import run_in_transaction


@click.command("purge-sessions")
@pass_script_info
def purge_sessions_command(info: ScriptInfo) -> None:
    """Delete expired logins (run it daily; a login also clears its user's own)."""
    count = run_in_transaction(info.load_app(), sessions.purge_expired_sessions)
    click.secho(f"✓ Purged {count} expired login(s)", fg="green")


commands: list[click.Command] = [purge_sessions_command]
