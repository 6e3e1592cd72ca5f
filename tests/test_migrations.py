"""Migrations: they build exactly the models' schema, and they run down and up again."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from alembic import command
from service import migrations
from service.database import create_engine
from service.models import Base
from tests.plugins.backends import (
    TABLES,
    Backend,
    create_postgres_database,
    drop_postgres_database,
)


@pytest.fixture(name="fresh")
async def _fresh(backend: Backend, tmp_path: Path) -> AsyncIterator[Backend]:
    """An empty database of the test's backend, not the session's shared one."""
    if backend.name == "sqlite":
        yield Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}", None, "")
        return
    name = f"service_migrations_{uuid.uuid4().hex[:10]}"
    url = await create_postgres_database(name)
    try:
        yield Backend("postgres", url, backend.redis_url, backend.redis_prefix)
    finally:
        await drop_postgres_database(name)


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


T = TypeVar("T")


async def inspect_with(backend: Backend, look: Callable[[Connection], T]) -> T:
    """Run a synchronous inspection on a short-lived connection to the backend."""
    engine = create_engine(backend.settings())
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(look)
    finally:
        await engine.dispose()


async def schema_diff(backend: Backend) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    return await inspect_with(backend, _diff)


async def table_names(backend: Backend) -> set[str]:
    return await inspect_with(backend, _tables)


async def revision_of(backend: Backend) -> str | None:
    engine = create_engine(backend.settings())
    try:
        return await migrations.current_revision(engine)
    finally:
        await engine.dispose()


async def test_models_and_migrations_at_head_have_no_autogenerate_diff(fresh: Backend) -> None:
    await asyncio.to_thread(migrations.upgrade, fresh.settings())
    assert await schema_diff(fresh) == []


async def test_schema_diff_on_empty_database_lists_every_table(fresh: Backend) -> None:
    """The comparison is not vacuous: an empty database differs by every table."""
    diff = await schema_diff(fresh)
    added = {entry[1].name for entry in diff if entry[0] == "add_table"}
    assert added == set(TABLES)


async def test_downgrade_to_base_then_upgrade_to_head_restores_schema(fresh: Backend) -> None:
    settings = fresh.settings()
    head = migrations.head_revision(settings)
    await asyncio.to_thread(migrations.upgrade, settings)
    assert await revision_of(fresh) == head
    assert set(TABLES) <= await table_names(fresh)

    await asyncio.to_thread(command.downgrade, migrations.alembic_config(settings), "base")
    assert await revision_of(fresh) is None
    assert await table_names(fresh) <= {"alembic_version"}

    await asyncio.to_thread(migrations.upgrade, settings)
    assert await revision_of(fresh) == head
    assert await schema_diff(fresh) == []


async def test_upgrade_twice_is_a_no_op(fresh: Backend) -> None:
    settings = fresh.settings()
    await asyncio.to_thread(migrations.upgrade, settings)
    await asyncio.to_thread(migrations.upgrade, settings)
    assert await revision_of(fresh) == migrations.head_revision(settings)


async def test_offline_upgrade_renders_sql_without_a_database(fresh: Backend) -> None:
    config = migrations.alembic_config(fresh.settings())
    buffer = io.StringIO()
    config.output_buffer = buffer

    def render() -> None:
        from alembic import command

        command.upgrade(config, "head", sql=True)

    await asyncio.to_thread(render)
    sql = buffer.getvalue()
    assert "CREATE TABLE user_account" in sql
    assert "CREATE TABLE products" in sql
    assert await table_names(fresh) == set()


def test_migrations_of_an_installed_package_are_found_in_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The image installs the package into site-packages and puts alembic/ in its workdir."""
    checkout = migrations.PROJECT_ROOT
    monkeypatch.setattr(migrations, "PROJECT_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(checkout)
    settings = Backend("sqlite", "sqlite+aiosqlite:///unused.db", None, "").settings()
    config = migrations.alembic_config(settings)
    assert config.get_main_option("script_location") == str(checkout / "alembic")
    assert migrations.head_revision(settings) is not None


def test_migrations_of_a_checkout_are_found_from_any_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert migrations.migrations_root() == migrations.PROJECT_ROOT
