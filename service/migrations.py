"""Run Alembic from the service (CLI, tests) with the service's own settings.

These are blocking calls (Alembic's env runs its own event loop): call them outside a
running loop, or through `asyncio.to_thread`.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command
from service.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def migrations_root() -> Path:
    """The directory holding `alembic.ini` and `alembic/`.

    In a source checkout (editable install) that is the checkout, wherever the command
    runs; an installed package (the container image) has no migrations beside it, so
    they are looked up in the working directory.
    """
    return PROJECT_ROOT if (PROJECT_ROOT / "alembic.ini").is_file() else Path.cwd()


def alembic_config(settings: Settings) -> Config:
    root = migrations_root()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "alembic"))
    config.attributes["settings"] = settings
    config.attributes["configure_logging"] = False
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def head_revision(settings: Settings) -> str | None:
    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
