"""Revocations are data: a Redis restart loses none, and a stopped Redis lets none through.

Each test runs its own `redis-server` (never the shared one) and stops it mid-test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.factories import FAST_HASHING, bearer, log_in, sign_up
from tests.servers import RedisServer, private_redis


@pytest.fixture(name="redis_server")
async def _redis_server() -> AsyncIterator[RedisServer]:
    async with private_redis() as server:
        yield server


@pytest.fixture
def settings_overrides(redis_server: RedisServer) -> dict[str, Any]:
    """Both backends, each with this test's own Redis as cache and revocation store."""
    return {**FAST_HASHING, "RATE_LIMIT_ENABLED": False, "REDIS_URL": redis_server.url}


async def me_status(client: Any, tokens: dict[str, Any]) -> int:
    response = await client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
    status: int = response.status_code
    return status


async def refresh(client: Any, tokens: dict[str, Any]) -> Any:
    return await client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))


async def test_redis_restarted_empty_loses_no_revocation(
    client: Any, redis_server: RedisServer
) -> None:
    user = await sign_up(client)
    logged_out = await log_in(client, user["email"])
    rotated = await log_in(client, user["email"])
    untouched = await log_in(client, user["email"])
    response = await client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": logged_out["refresh_token"]},
        headers=bearer(logged_out["access_token"]),
    )
    assert response.status_code == 204
    assert (await refresh(client, rotated)).status_code == 200

    await redis_server.stop()
    await redis_server.start()  # empty: nothing survived

    assert await me_status(client, logged_out) == 401
    assert (await refresh(client, logged_out)).status_code == 401
    assert (await refresh(client, rotated)).status_code == 401  # the rotated-out token
    assert await me_status(client, untouched) == 200


async def test_redis_stopped_refuses_logged_out_tokens_and_still_records_logouts(
    client: Any, redis_server: RedisServer
) -> None:
    user = await sign_up(client)
    before_outage = await log_in(client, user["email"])
    during_outage = await log_in(client, user["email"])
    other = await log_in(client, user["email"])
    response = await client.post(
        "/api/v1/auth/logout", headers=bearer(before_outage["access_token"])
    )
    assert response.status_code == 204

    await redis_server.stop()

    assert await me_status(client, before_outage) == 401
    assert (await refresh(client, before_outage)).status_code == 401
    assert await me_status(client, during_outage) == 200  # the database answers
    response = await client.post(
        "/api/v1/auth/logout", headers=bearer(during_outage["access_token"])
    )
    assert response.status_code == 204
    assert await me_status(client, during_outage) == 401
    assert (await refresh(client, other)).status_code == 200

    await redis_server.start()
    assert await me_status(client, before_outage) == 401
    assert await me_status(client, during_outage) == 401
