"""`service purge-idempotency-keys`: delete keys past their 24 hours."""

from __future__ import annotations

import click
from quart.cli import ScriptInfo, pass_script_info

from service.common.cli import run_in_transaction
from service.idempotency import services


@click.command("purge-idempotency-keys")
@pass_script_info
def purge_command(info: ScriptInfo) -> None:
    """Delete expired Idempotency-Keys (run it daily; expired keys are ignored anyway)."""
    purged = run_in_transaction(info.load_app(), services.purge_expired)
    click.secho(f"✓ Purged {purged} expired idempotency key(s)", fg="green")


commands: list[click.Command] = [purge_command]
