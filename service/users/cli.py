"""User commands: `create-user`, `user list` and `import-users`."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import click
from pydantic import ValidationError
from quart.cli import ScriptInfo, pass_script_info

from service.common.cli import fail, run_in_transaction
from service.common.schemas import validation_fields
from service.errors import APIError
from service.users import importer, services
from service.users.schemas import UserCreate


@click.command("create-user")
@click.argument("email")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.password_option(help="The password (prompted for, twice, when left out).")
@pass_script_info
def create_user_command(
    info: ScriptInfo, email: str, name: str, admin: bool, password: str
) -> None:
    """Create a user, validated like sign-up."""
    try:
        data = UserCreate(email=email, name=name, password=password, is_admin=admin)
        user = run_in_transaction(info.load_app(), partial(services.create_user, data=data))
    except ValidationError as error:
        fields = validation_fields(error).items()
        fail(*(f"✗ {field}: {'; '.join(messages)}" for field, messages in fields))
    except APIError as error:
        fail(f"✗ {error.message}")
    role = "administrator" if admin else "user"
    click.secho(f"✓ Created {role} {user.email} (id {user.id})", fg="green")


@click.group("user")
def user_group() -> None:
    """User management."""


@user_group.command("list")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1))
@pass_script_info
def user_list_command(info: ScriptInfo, limit: int) -> None:
    """List users by id."""
    work = partial(services.list_users, offset=0, limit=limit)
    users, _ = run_in_transaction(info.load_app(), work)
    if not users:
        click.echo("No users.")
    for user in users:
        badge = click.style(" admin", fg="yellow") if user.is_admin else ""
        click.echo(f"{user.id:>6}  {user.email}  {user.name}{badge}")


@click.command("import-users")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_script_info
def import_users_command(info: ScriptInfo, file: Path) -> None:
    """Import users from CSV or JSON Lines; all rows are checked before anything is written."""
    started = time.perf_counter()
    try:
        users, problems = importer.read_users(file)
    except importer.ImportFileError as error:
        fail(f"✗ {error}")
    if problems:
        fail(
            f"✗ {len(problems)} bad row(s); nothing was imported:",
            *(f"  row {row}: {message}" for row, message in problems[:50]),
            *([f"  … and {len(problems) - 50} more"] if len(problems) > 50 else []),
        )
    work = partial(importer.import_users, users=users)
    created, skipped = run_in_transaction(info.load_app(), work)
    click.secho(
        f"✓ Imported {created} user(s), skipped {skipped} existing email(s) "
        f"in {time.perf_counter() - started:.1f}s",
        fg="green",
    )


commands: list[click.Command] = [create_user_command, user_group, import_users_command]
