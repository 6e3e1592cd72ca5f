"""The `service` command line: Quart's CLI group over the factory."""

from __future__ import annotations

import sys
from importlib.metadata import version

import click
from pydantic import ValidationError
from quart.cli import QuartGroup, ScriptInfo, pass_script_info, routes_command
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from service import migrations
from service.app import create_app
from service.auth import sessions
from service.common.cli import fail, purge_command, run_in_transaction
from service.config import Settings, get_settings
from service.extensions import db
from service.idempotency.cli import commands as idempotency_commands
from service.ops.checks import probe_backends
from service.ops.schemas import CheckStatus
from service.users import bootstrap
from service.users.cli import commands as user_commands

# How `service check` shows each status: mark, word, colour.
SHOWN = {
    "ok": ("✓", "OK", "green"),
    "disabled": ("-", "disabled", "yellow"),
    "error": ("✗", "FAILED", "red"),
}


@click.command("run")
@click.option("--host", help="Address to listen on [default: HOST].")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port; 0 takes a free one [default: PORT]."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes sharing the port [default: WORKERS; 0 there: one per CPU core].",
)
@click.option("--reload", is_flag=True, help="Restart on code changes (development only).")
@pass_script_info
def run_command(
    info: ScriptInfo, host: str | None, port: int | None, workers: int | None, reload: bool
) -> None:
    """Serve the API with the production ASGI server (uvicorn)."""
    from service.server import announce, listen, serve

    app = info.load_app()
    settings: Settings = app.extensions["settings"]
    host = settings.HOST if host is None else host
    port = settings.PORT if port is None else port
    try:
        sock = listen(host, port)
    except OSError as error:
        fail(f"Cannot listen on {host}:{port}: {error.strerror or error}")
    # Tests start the server with PORT=0 and read the port from this line.
    announce(sock, settings)
    serve(sock, settings, app, workers=workers or settings.workers, reload=reload)


@click.command("init-db")
@pass_script_info
def init_db_command(info: ScriptInfo) -> None:
    """Bring the schema to the newest migration, then create the first admin if asked to."""
    app = info.load_app()
    settings: Settings = app.extensions["settings"]
    try:  # checked first: a bad FIRST_ADMIN_* setting writes nothing at all
        admin = bootstrap.first_admin(settings)
    except bootstrap.FirstAdminError as error:
        fail(f"✗ {error}")
    migrations.upgrade(settings)
    click.secho(f"✓ Database at revision {migrations.head_revision(settings)}", fg="green")
    if admin is not None:
        line, colour = bootstrap.SHOWN[bootstrap.ensure_first_admin(app, admin)]
        click.secho(line.format(email=admin.email), fg=colour)


@click.command("check")
@pass_script_info
def check_command(info: ScriptInfo) -> None:
    """Check the database, Redis and migrations; exit 1 if any fails."""
    app = info.load_app()
    settings: Settings = app.extensions["settings"]
    head = migrations.head_revision(settings)

    async def checks(_: AsyncSession) -> list[tuple[str, CheckStatus, str]]:
        probes = await probe_backends()
        revision: tuple[CheckStatus, str] = ("error", "database unreachable")
        if probes["database"][0] == "ok" and db.engine is not None:
            current = await migrations.current_revision(db.engine)
            where = f"at {current}" if current else "not migrated yet"
            revision = ("ok" if current == head else "error", f"{where}, head is {head}")
        database_url = make_url(settings.database_url).render_as_string()
        redis_url = settings.REDIS_URL or "not configured"
        return [
            ("Database", probes["database"][0], _with_reason(database_url, probes["database"])),
            ("Redis", probes["redis"][0], _with_reason(redis_url, probes["redis"])),
            ("Migrations", *revision),
        ]

    results = run_in_transaction(app, checks)
    for name, status, detail in results:
        mark, word, colour = SHOWN[status]
        click.secho(f"{mark} {name}: {word} ({detail})", fg=colour)
    sys.exit(1 if any(status == "error" for _, status, _ in results) else 0)


def _with_reason(target: str, probe: tuple[CheckStatus, str]) -> str:
    """What was checked, and why it failed (on the ✗ line itself, not in a log line)."""
    return f"{target}: {probe[1]}" if probe[1] else target


@purge_command("purge-sessions", purged="login(s)")
async def purge_sessions_command(session: AsyncSession) -> int:
    """Delete expired logins (run it daily; a login also clears its user's own)."""
    return await sessions.purge_expired_sessions(session)


commands: list[click.Command] = [
    run_command,
    init_db_command,
    check_command,
    routes_command,
    *user_commands,
    purge_sessions_command,
    *idempotency_commands,
]


def main() -> None:
    """Entry point of the `service` console script."""
    try:
        get_settings()
    except ValidationError as error:
        for item in error.errors(include_url=False):
            field = ".".join(str(part) for part in item["loc"])
            message = str(item["msg"]).removeprefix("Value error, ")
            prefix = f"{field}: " if field else ""
            click.secho(f"Configuration error: {prefix}{message}", fg="red", err=True)
        sys.exit(2)
    cli = QuartGroup(
        create_app=create_app,
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        help="The service: serve it, migrate and check its backends, manage users.",
    )
    # Quart's own options choose which app to load (--app, --env-file, --debug): this
    # command has one app, configured by its settings. Only the service's version stays.
    cli.params = []
    click.version_option(version("service"), message="service %(version)s")(cli)
    cli.main(prog_name="service")
