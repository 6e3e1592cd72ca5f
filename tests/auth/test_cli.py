"""`service purge-sessions`: expired logins go, live and revoked-but-unexpired ones stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from service.auth.models import AuthSession
from service.config import Settings
from service.database import create_engine
from tests.factories import bearer, log_in, sign_up
from tests.test_cli import service


async def session_ids(settings: Settings) -> set[str]:
    engine = create_engine(settings)
    async with engine.connect() as connection:
        ids = set((await connection.scalars(select(AuthSession.id))).all())
    await engine.dispose()
    return ids


async def test_purge_sessions_deletes_only_expired_logins(
    client: Any, settings: Settings, tmp_path: Path
) -> None:
    user = await sign_up(client)
    expired, live, logged_out = [await log_in(client, user["email"]) for _ in range(3)]
    await client.post("/api/v1/auth/logout", headers=bearer(logged_out["access_token"]))
    listed = await client.get("/api/v1/auth/sessions/", headers=bearer(expired["access_token"]))
    expired_id = next(s["id"] for s in await listed.get_json() if s["current"])
    all_ids = await session_ids(settings)
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.execute(
            update(AuthSession)
            .where(AuthSession.id == expired_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await engine.dispose()

    result = await asyncio.to_thread(
        service,
        tmp_path,
        "purge-sessions",
        database_url=settings.database_url,
        redis_url=settings.REDIS_URL,
    )
    assert result.returncode == 0, result.stderr
    assert "Purged 1 expired login" in result.stdout
    assert await session_ids(settings) == all_ids - {expired_id}
    me = await client.get("/api/v1/users/me", headers=bearer(live["access_token"]))
    assert me.status_code == 200
