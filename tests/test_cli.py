"""The `service` console script: `init-db` and `check`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.plugins.backends import (
    TEST_SECRET,
    Backend,
    create_postgres_database,
    drop_postgres_database,
)

SERVICE = Path(sys.executable).with_name("service")
CLOSED_REDIS = "redis://127.0.0.1:1/0"
CLOSED_POSTGRES = "postgresql://postgres@127.0.0.1:1/none"


def service(
    cwd: Path,
    *args: str,
    database_url: str,
    redis_url: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `service …` in `cwd` (no .env there) with only the settings given here."""
    settings = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "APP_ENV": "testing",
        "SECRET_KEY": TEST_SECRET,
        "JWT_SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": database_url,
        "REDIS_KEY_PREFIX": f"test-cli-{uuid.uuid4().hex[:8]}:",
    }
    if redis_url is not None:
        settings["REDIS_URL"] = redis_url
    return subprocess.run(
        [str(SERVICE), *args],
        cwd=cwd,
        env=settings | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def line_of(output: str, name: str) -> str:
    """The one line of `service check` output about `name`."""
    lines = [line for line in output.splitlines() if f" {name}:" in line]
    assert len(lines) == 1, output
    return lines[0]


@pytest.fixture(name="postgres_url")
async def _postgres_url(postgres_backend: Backend) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, as a plain `postgresql://` URL."""
    name = f"service_cli_{uuid.uuid4().hex[:10]}"
    url = await create_postgres_database(name)
    try:
        yield url
    finally:
        await drop_postgres_database(name)


@pytest.fixture(name="sqlite_url")
def _sqlite_url(sqlite_backend: Backend, tmp_path: Path) -> str:
    """A SQLite file that does not exist yet, as a plain `sqlite://` URL."""
    return f"sqlite:///{tmp_path / 'data' / 'cli.db'}"


def test_check_after_init_db_on_postgres_and_redis_is_all_ok(
    tmp_path: Path, postgres_url: str, postgres_backend: Backend
) -> None:
    init = service(tmp_path, "init-db", database_url=postgres_url)
    assert init.returncode == 0, init.stderr
    assert "✓" in init.stdout

    check = service(
        tmp_path, "check", database_url=postgres_url, redis_url=postgres_backend.redis_url
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for name in ("Database", "Redis", "Migrations"):
        assert line_of(check.stdout, name).startswith("✓")
    assert "✗" not in check.stdout


def test_init_db_run_by_several_instances_at_once_migrates_once(
    tmp_path: Path, postgres_url: str
) -> None:
    """The pods of a rollout all run `init-db` as they start: they take turns (an advisory
    lock), so none fails on a table another is creating, and the schema ends at head."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "APP_ENV": "testing",
        "DATABASE_URL": postgres_url,
    }
    runs = [
        subprocess.Popen(
            [str(SERVICE), "init-db"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], outputs
    check = service(tmp_path, "check", database_url=postgres_url)
    assert line_of(check.stdout, "Migrations").startswith("✓"), check.stdout


def test_check_with_redis_on_closed_port_marks_redis_and_exits_1(
    tmp_path: Path, postgres_url: str
) -> None:
    assert service(tmp_path, "init-db", database_url=postgres_url).returncode == 0
    check = service(tmp_path, "check", database_url=postgres_url, redis_url=CLOSED_REDIS)
    assert check.returncode == 1
    assert line_of(check.stdout, "Redis").startswith("✗")
    assert line_of(check.stdout, "Database").startswith("✓")
    assert line_of(check.stdout, "Migrations").startswith("✓")
    assert "Traceback" not in check.stderr
    # The reason is on the ✗ line itself, not in a log line printed out of order.
    assert "ConnectionError" in line_of(check.stdout, "Redis")
    assert "check failed" not in check.stderr


def test_check_before_init_db_on_postgres_marks_migrations_and_exits_1(
    tmp_path: Path, postgres_url: str
) -> None:
    check = service(tmp_path, "check", database_url=postgres_url)
    assert check.returncode == 1
    assert line_of(check.stdout, "Database").startswith("✓")
    assert line_of(check.stdout, "Migrations").startswith("✗")
    assert "not migrated yet" in line_of(check.stdout, "Migrations")
    assert "None" not in check.stdout


def test_check_with_postgres_on_closed_port_marks_database_and_exits_1(
    tmp_path: Path, postgres_backend: Backend
) -> None:
    check = service(tmp_path, "check", database_url=CLOSED_POSTGRES)
    assert check.returncode == 1
    assert line_of(check.stdout, "Database").startswith("✗")
    assert line_of(check.stdout, "Migrations").startswith("✗")
    assert "Traceback" not in check.stderr


def test_check_on_fresh_sqlite_before_init_db_marks_migrations_and_exits_1(
    tmp_path: Path, sqlite_url: str
) -> None:
    check = service(tmp_path, "check", database_url=sqlite_url)
    assert check.returncode == 1
    assert line_of(check.stdout, "Database").startswith("✓")
    assert line_of(check.stdout, "Migrations").startswith("✗")


def test_check_on_sqlite_without_redis_shows_redis_disabled_and_exits_0(
    tmp_path: Path, sqlite_url: str
) -> None:
    init = service(tmp_path, "init-db", database_url=sqlite_url)
    assert init.returncode == 0, init.stderr
    check = service(tmp_path, "check", database_url=sqlite_url)
    assert check.returncode == 0, check.stdout + check.stderr
    redis_line = line_of(check.stdout, "Redis")
    assert "disabled" in redis_line
    assert "✗" not in redis_line
    assert line_of(check.stdout, "Migrations").startswith("✓")


def test_init_db_twice_is_a_no_op(tmp_path: Path, sqlite_url: str) -> None:
    for _ in range(2):
        init = service(tmp_path, "init-db", database_url=sqlite_url)
        assert init.returncode == 0, init.stderr
    assert service(tmp_path, "check", database_url=sqlite_url).returncode == 0


def test_check_prints_database_url_without_password(tmp_path: Path) -> None:
    check = service(tmp_path, "check", database_url="postgresql://app:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in check.stdout + check.stderr
    assert "127.0.0.1:1/db" in line_of(check.stdout, "Database")


def test_version_is_the_service_version(tmp_path: Path) -> None:
    shown = service(tmp_path, "--version", database_url="sqlite://")
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"service {version('service')}"


def test_help_shows_the_service_options_not_quart_app_loading(tmp_path: Path) -> None:
    shown = service(tmp_path, "--help", database_url="sqlite://")
    assert shown.returncode == 0
    for quart_option in ("--app", "--env-file", "--debug"):
        assert quart_option not in shown.stdout
    # Every command says what it does, quart-schema's `schema` included.
    commands = shown.stdout.split("Commands:")[1].splitlines()
    assert all(len(line.split()) > 1 for line in commands if line.strip()), shown.stdout


def test_schema_prints_the_openapi_document(tmp_path: Path) -> None:
    shown = service(tmp_path, "schema", database_url="sqlite://")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["info"]["version"] == version("service")
    assert "/api/v1/users/{id}" in document["paths"]
