"""The `service` command line: Quart's CLI group over the factory."""

from __future__ import annotations

import sys

import click
from pydantic import ValidationError
from quart import Quart
from quart.cli import QuartGroup, ScriptInfo, pass_script_info, routes_command

from service import migrations
from service.auth.cli import commands as auth_commands
from service.common.cli import run_with_app, settings_of
from service.config import get_settings
from service.extensions import db
from service.idempotency.cli import commands as idempotency_commands
from service.ops.checks import check_database, check_redis
from service.users.cli import commands as user_commands


@click.command("run")
@pass_script_info
def run_command(info: ScriptInfo) -> None:
    """Serve the API with the production ASGI server."""
    from service.server import listen, serve_forever

    app = info.load_app()
    settings = settings_of(app)
    try:
        sock = listen(settings.HOST, settings.PORT)
    except OSError as error:
        message = error.strerror or str(error)
        click.secho(
            f"Cannot listen on {settings.HOST}:{settings.PORT}: {message}", fg="red", err=True
        )
        sys.exit(1)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    # Tests start the server with PORT=0 and read the port from this line.
    click.secho(f"Listening on http://{shown}:{port}", fg="green", err=True)
    serve_forever(app, settings, sock)


@click.command("init-db")
@pass_script_info
def init_db_command(info: ScriptInfo) -> None:
    """Bring the schema to the newest migration."""
    settings = settings_of(info.load_app())
    migrations.upgrade(settings)
    click.secho(f"✓ Database at revision {migrations.head_revision(settings)}", fg="green")


@click.command("check")
@pass_script_info
def check_command(info: ScriptInfo) -> None:
    """Check the database, Redis and migrations; exit 1 if any fails."""
    app = info.load_app()
    settings = settings_of(app)
    head = migrations.head_revision(settings)

    async def checks() -> list[tuple[str, str, str]]:
        results: list[tuple[str, str, str]] = []
        database = await check_database()
        results.append(("Database", database, _describe(settings.database_url)))
        cache = await check_redis()
        results.append(("Redis", cache, settings.REDIS_URL or "not configured"))
        if database == "ok" and db.engine is not None:
            current = await migrations.current_revision(db.engine)
            status = "ok" if current == head else "error"
            results.append(("Migrations", status, f"at {current}, head is {head}"))
        else:
            results.append(("Migrations", "error", "database unreachable"))
        return results

    failed = False
    for name, status, detail in run_with_app(app, checks):
        if status == "ok":
            click.secho(f"✓ {name}: OK ({detail})", fg="green")
        elif status == "disabled":
            click.secho(f"- {name}: disabled ({detail})", fg="yellow")
        else:
            failed = True
            click.secho(f"✗ {name}: FAILED ({detail})", fg="red")
    sys.exit(1 if failed else 0)


def _describe(url: str) -> str:
    """The URL without its password, fit to print."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


commands: list[click.Command] = [
    run_command,
    init_db_command,
    check_command,
    routes_command,
    *user_commands,
    *auth_commands,
    *idempotency_commands,
]


def _create_app() -> Quart:
    from service.app import create_app

    return create_app()


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
    cli = QuartGroup(create_app=_create_app, add_default_commands=False, load_dotenv=False)
    cli.main(prog_name="service")
