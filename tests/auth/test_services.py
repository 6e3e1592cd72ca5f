"""Password hashing and login services."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from service.app import create_app
from service.config import Settings
from service.database import create_engine
from service.extensions import passwords
from service.users.models import User
from tests.factories import log_in, sign_up


async def _stored_hash(settings: Settings, email: str) -> str:
    engine = create_engine(settings)
    async with engine.connect() as connection:
        value = await connection.scalar(select(User.password_hash).where(User.email == email))
    await engine.dispose()
    assert isinstance(value, str)
    return value


async def test_hash_is_argon2id_and_verifies() -> None:
    hashed = await passwords.hash_password("s3cret-words")
    assert hashed.startswith("$argon2id$")
    assert passwords.is_argon2id_hash(hashed)
    assert await passwords.verify_password(hashed, "s3cret-words")
    assert not await passwords.verify_password(hashed, "other words")
    assert not await passwords.verify_password("not a hash", "s3cret-words")


def test_is_argon2id_hash_refuses_other_forms() -> None:
    assert not passwords.is_argon2id_hash("$2b$12$abcdefghijklmnopqrstuv")
    assert not passwords.is_argon2id_hash("$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
    assert not passwords.is_argon2id_hash("$argon2id$garbage")


async def test_login_rehashes_when_cost_changed(settings: Settings) -> None:
    cheap = create_app(settings)
    async with cheap.test_app() as app:
        user = await sign_up(app.test_client(), email="rehash@example.com")
    before = await _stored_hash(settings, user["email"])
    assert ",t=1," in before

    stronger = create_app(settings.model_copy(update={"PASSWORD_HASH_TIME_COST": 2}))
    async with stronger.test_app() as app:
        await log_in(app.test_client(), user["email"])
    after = await _stored_hash(settings, user["email"])
    assert ",t=2," in after
    assert await passwords.verify_password(after, "correct horse battery")


async def test_hashing_runs_off_the_event_loop(client: Any) -> None:
    """A tick task keeps running while several logins hash passwords."""
    user = await sign_up(client)
    ticks = 0
    stop = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.gather(*(log_in(client, user["email"]) for _ in range(4)))
    stop.set()
    await ticker
    assert ticks > 10
