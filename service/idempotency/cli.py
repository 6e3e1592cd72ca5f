"""`service purge-idempotency-keys`: delete keys past their 24 hours."""

from __future__ import annotations

import click
from quart.cli import ScriptInfo, pass_script_info

from service.common.cli import run_with_app
from service.extensions import db
from service.idempotency import services


@click.command("purge-idempotency-keys")
@pass_script_info
def purge_command(info: ScriptInfo) -> None:
    """Delete expired Idempotency-Keys (run it daily; expired keys are ignored anyway)."""

    async def purge() -> int:
        session = db.session_for_task()
        async with session, session.begin():
            return await services.purge_expired(session)

    purged = run_with_app(info.load_app(), purge)
    click.secho(f"✓ Purged {purged} expired idempotency key(s)", fg="green")


commands: list[click.Command] = [purge_command]
