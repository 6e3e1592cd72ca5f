"""`service init-db` creates the first admin from FIRST_ADMIN_EMAIL / FIRST_ADMIN_PASSWORD."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from service.cli import init_db_command
from service.config import Settings
from service.extensions import passwords
from service.users import services
from service.users.cli import create_user_command
from tests.plugins.backends import Backend
from tests.test_cli import service
from tests.users.test_cli import count_users, invoke, users_in


def init_db(settings: Settings, email: str | None, password: str | None) -> Result:
    """`service init-db` with these FIRST_ADMIN_* settings."""
    secret = SecretStr(password) if password is not None else None
    update = {"FIRST_ADMIN_EMAIL": email, "FIRST_ADMIN_PASSWORD": secret}
    return invoke(settings.model_copy(update=update), init_db_command, [])


def init_db_says(settings: Settings, email: str, password: str, line: str) -> None:
    """init-db succeeds with these settings and prints `line` about the first admin."""
    result = init_db(settings, email, password)
    assert result.exit_code == 0, result.output
    assert line in result.stdout


def verifies(password_hash: str, password: str) -> bool:
    return asyncio.run(passwords.verify_password(password_hash, password))


def test_init_db_creates_the_first_admin_once(settings: Settings) -> None:
    init_db_says(
        settings, "Root@Example.com", "first-pass", "✓ First admin root@example.com created"
    )
    stored = users_in(settings)["root@example.com"]
    assert stored.is_admin is True
    assert verifies(stored.password_hash, "first-pass")

    # The next release, with the Secret changed since: the admin is left as it is.
    exists = "✓ First admin root@example.com exists (left unchanged)"
    init_db_says(settings, "root@example.com", "other-pass", exists)
    assert count_users(settings) == 1
    assert users_in(settings)["root@example.com"].password_hash == stored.password_hash


def test_an_existing_plain_user_keeps_password_and_role(settings: Settings) -> None:
    invoke(settings, create_user_command, ["taken@example.com", "Taken", "--password", "own-pass"])
    not_admin = "exists as a user who is not an administrator"
    init_db_says(settings, "taken@example.com", "admin-pass", not_admin)
    stored = users_in(settings)["taken@example.com"]
    assert stored.is_admin is False
    assert verifies(stored.password_hash, "own-pass")


def test_without_the_settings_init_db_creates_no_one(settings: Settings) -> None:
    result = invoke(settings, init_db_command, [])
    assert result.exit_code == 0, result.output
    assert "First admin" not in result.output
    assert count_users(settings) == 0


@pytest.mark.parametrize(
    ("email", "password", "problem"),
    [
        ("not-an-email", "long-enough", "✗ FIRST_ADMIN_EMAIL: value is not a valid email"),
        ("a@example.com", "short", "✗ FIRST_ADMIN_PASSWORD: String should have at least 8"),
        ("a@example.com", "x" * 129, "✗ FIRST_ADMIN_PASSWORD: String should have at most 128"),
        ("a@example.com", None, "✗ FIRST_ADMIN_PASSWORD is not set"),
        (None, "long-enough", "✗ FIRST_ADMIN_EMAIL is not set"),
        ("a@example.com", "CHANGE-ME", "✗ FIRST_ADMIN_PASSWORD is still the placeholder"),
    ],
)
def test_a_bad_setting_is_one_line_exit_1_and_writes_nothing(
    settings: Settings, email: str | None, password: str | None, problem: str
) -> None:
    result = init_db(settings, email, password)
    assert result.exit_code == 1
    assert result.stderr.startswith(problem), result.stderr
    assert result.stderr.count("\n") == 1
    assert password is None or password == "CHANGE-ME" or password not in result.output
    assert "Database at revision" not in result.output  # checked before migrating
    assert count_users(settings) == 0


def test_a_concurrent_init_db_creating_it_first_means_exists(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pods' init containers may both look before either inserts: the unique email
    decides, and the loser reports the admin the other one created."""
    init_db(settings, "race@example.com", "winner-pass")
    real = services.find_user_by_email
    blind_looks = [True, True]  # this run's check and create_user's own both miss it

    async def late_look(session: AsyncSession, email: str) -> Any:
        return None if blind_looks and blind_looks.pop() else await real(session, email)

    monkeypatch.setattr(services, "find_user_by_email", late_look)
    exists = "✓ First admin race@example.com exists (left unchanged)"
    init_db_says(settings, "race@example.com", "loser-pass", exists)
    assert blind_looks == []  # the insert was tried, and lost to the unique email
    assert verifies(users_in(settings)["race@example.com"].password_hash, "winner-pass")


def test_empty_settings_are_unset_and_the_password_is_never_shown() -> None:
    settings = Settings(_env_file=None, FIRST_ADMIN_EMAIL="", FIRST_ADMIN_PASSWORD="")
    assert settings.FIRST_ADMIN_EMAIL is None
    assert settings.FIRST_ADMIN_PASSWORD is None
    secret = Settings(_env_file=None, FIRST_ADMIN_PASSWORD="hunter2-hunter2")
    assert "hunter2" not in repr(secret) + str(secret.model_dump())


def test_the_console_script_reads_them_from_the_environment(
    tmp_path: Path, sqlite_backend: Backend
) -> None:
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    env = {"FIRST_ADMIN_EMAIL": "ops@example.com", "FIRST_ADMIN_PASSWORD": "from-a-secret"}
    created = service(tmp_path, "init-db", database_url=url, env=env)
    assert created.returncode == 0, created.stderr
    assert "✓ First admin ops@example.com created" in created.stdout
    again = service(tmp_path, "init-db", database_url=url, env=env)
    assert "✓ First admin ops@example.com exists" in again.stdout
