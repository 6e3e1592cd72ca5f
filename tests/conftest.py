"""Fixtures every test shares: settings, app, test client, a session, signed-up users.

The backends they run on (SQLite; PostgreSQL + Redis) come from the `tests.plugins.backends`
plugin: a test asking for `settings`, `app`, `client` or `session` runs once per backend.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.app import create_app
from service.config import Settings
from service.database import create_engine
from tests.factories import FAST_HASHING, user_with_token

if TYPE_CHECKING:
    # Not imported at run time: pytest must load the plugin itself, to rewrite its asserts.
    from tests.plugins.backends import Backend

pytest_plugins = ["tests.plugins.backends"]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Settings a test module changes; override this fixture to change more.

    By default hashing is cheap (argon2id at full cost takes ~0.1 s a hash) and limits are
    off; the tests about hashing cost and limits turn them back on.
    """
    return {**FAST_HASHING, "RATE_LIMIT_ENABLED": False}


@pytest.fixture(name="settings")
def _settings(clean_backend: Backend, settings_overrides: dict[str, Any]) -> Settings:
    """Settings for the test's backend; tables and Redis keys are emptied afterwards."""
    return clean_backend.settings(**settings_overrides)


@pytest.fixture(name="app")
async def _app(settings: Settings) -> AsyncIterator[Any]:
    app = create_app(settings)
    async with app.test_app() as test_app:
        yield test_app


@pytest.fixture(name="client")
def _client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture(name="session")
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session of its own on the test's backend, for calling services directly."""
    engine = create_engine(settings)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session
    await engine.dispose()


@pytest.fixture(name="owner")
async def _owner(client: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    """A plain user and its access token."""
    return await user_with_token(client, settings)


@pytest.fixture(name="other")
async def _other(client: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    """A second plain user and its access token."""
    return await user_with_token(client, settings)


@pytest.fixture(name="admin")
async def _admin(client: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    """An administrator and its access token."""
    return await user_with_token(client, settings, admin=True)


@pytest.fixture(name="restore_logging")
def _restore_logging() -> Iterator[None]:
    """Drop the service's stderr handler a test bound to a captured stream, and the level."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if handler.name == "service":
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(name="redis_commands")
def _redis_commands(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[tuple[Any, ...]], Callable[[], None]]:
    """The Redis commands (each one's arguments) sent once `start()` is called."""
    sent: list[tuple[Any, ...]] = []
    real_execute = Redis.execute_command

    async def counted(self: Redis, *args: Any, **options: Any) -> Any:
        sent.append(args)
        return await real_execute(self, *args, **options)

    return sent, lambda: monkeypatch.setattr(Redis, "execute_command", counted)
