"""User commands: `create-user`, `user list` and `import-users`."""

from __future__ import annotations

import sys
import time
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path

import click
from pydantic import ValidationError
from quart.cli import ScriptInfo, pass_script_info

from service.common.cli import run_with_app
from service.common.schemas import validation_fields
from service.errors import APIError
from service.extensions import db
from service.users import importer, services
from service.users.schemas import UserCreate


@click.command("create-user")
@click.argument("email")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The password (prompted for, twice, when left out).",
)
@pass_script_info
def create_user_command(
    info: ScriptInfo, email: str, name: str, admin: bool, password: str
) -> None:
    """Create a user, validated like sign-up."""
    try:
        data = UserCreate(email=email, name=name, password=password, is_admin=admin)
    except ValidationError as error:
        for field, messages in validation_fields(error).items():
            click.secho(f"✗ {field}: {'; '.join(messages)}", fg="red", err=True)
        sys.exit(1)

    async def create() -> tuple[int, str]:
        session = db.session_for_task()
        async with session.begin():
            user = await services.create_user(session, data=data)
        return user.id, user.email

    try:
        user_id, user_email = run_with_app(info.load_app(), create)
    except APIError as error:
        click.secho(f"✗ {error.message}", fg="red", err=True)
        sys.exit(1)
    role = "administrator" if admin else "user"
    click.secho(f"✓ Created {role} {user_email} (id {user_id})", fg="green")


@click.group("user")
def user_group() -> None:
    """User management."""


@user_group.command("list")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1))
@pass_script_info
def user_list_command(info: ScriptInfo, limit: int) -> None:
    """List users by id."""

    async def fetch() -> list[tuple[int, str, str, bool]]:
        async with db.session_for_task() as session:
            users, _ = await services.list_users(session, offset=0, limit=limit)
            return [(user.id, user.email, user.name, user.is_admin) for user in users]

    rows = run_with_app(info.load_app(), fetch)
    if not rows:
        click.echo("No users.")
    for user_id, email, name, is_admin in rows:
        badge = click.style(" admin", fg="yellow") if is_admin else ""
        click.echo(f"{user_id:>6}  {email}  {name}{badge}")


@click.command("import-users")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_script_info
def import_users_command(info: ScriptInfo, file: Path) -> None:
    """Import users from CSV or JSON Lines; all rows are checked before anything is written."""
    started = time.perf_counter()
    try:
        users, problems = importer.validate_rows(importer.read_rows(file))
    except importer.ImportFileError as error:
        click.secho(f"✗ {error}", fg="red", err=True)
        sys.exit(1)
    if not users and not problems:
        click.secho("✗ The file holds no rows", fg="red", err=True)
        sys.exit(1)
    if problems:
        click.secho(f"✗ {len(problems)} bad row(s); nothing was imported:", fg="red", err=True)
        for problem in problems[:50]:
            click.secho(f"  row {problem.row}: {problem.message}", fg="red", err=True)
        if len(problems) > 50:
            click.secho(f"  … and {len(problems) - 50} more", fg="red", err=True)
        sys.exit(1)

    work = partial(importer.import_users, users, progress=_progress)
    created, skipped = run_with_app(info.load_app(), work)
    click.secho(
        f"✓ Imported {created} user(s), skipped {skipped} existing email(s) "
        f"in {time.perf_counter() - started:.1f}s",
        fg="green",
    )


def _progress(label: str, length: int) -> AbstractContextManager[importer.Bar]:
    return click.progressbar(length=length, label=label, file=sys.stderr)


commands: list[click.Command] = [create_user_command, user_group, import_users_command]
