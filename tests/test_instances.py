"""Several real instances on one PostgreSQL + Redis behave as one service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Backend, reset_backend
from tests.factories import FAST_HASHING, PASSWORD
from tests.servers import Server, running_servers


@pytest.fixture(name="instances")
async def _instances(postgres_backend: Backend, tmp_path: Path) -> AsyncIterator[list[Server]]:
    settings = postgres_backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    async with running_servers(settings, 2, tmp_path) as servers:
        yield servers
    await reset_backend(postgres_backend)


async def test_token_revoked_through_one_instance_is_refused_by_the_other(
    instances: list[Server],
) -> None:
    one, other = instances
    async with httpx.AsyncClient() as client:
        signed_up = await client.post(
            f"{one.url}/api/v1/users/",
            json={"email": "multi@example.com", "name": "Multi", "password": PASSWORD},
        )
        assert signed_up.status_code == 201
        login = await client.post(
            f"{other.url}/api/v1/auth/login",
            json={"email": "multi@example.com", "password": PASSWORD},
        )
        tokens = login.json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await client.get(f"{one.url}/api/v1/users/me", headers=auth)).status_code == 200

        logout = await client.post(f"{one.url}/api/v1/auth/logout", headers=auth)
        assert logout.status_code == 204
        refused = await client.get(f"{other.url}/api/v1/users/me", headers=auth)
        assert refused.status_code == 401
        assert refused.json()["error"] == "UNAUTHORIZED"


async def test_refresh_token_rotated_on_one_instance_is_reuse_on_the_other(
    instances: list[Server],
) -> None:
    one, other = instances
    async with httpx.AsyncClient() as client:
        await client.post(
            f"{one.url}/api/v1/users/",
            json={"email": "rot@example.com", "name": "Rot", "password": PASSWORD},
        )
        tokens = (
            await client.post(
                f"{one.url}/api/v1/auth/login",
                json={"email": "rot@example.com", "password": PASSWORD},
            )
        ).json()
        refresh = {"Authorization": f"Bearer {tokens['refresh_token']}"}
        assert (
            await client.post(f"{one.url}/api/v1/auth/refresh", headers=refresh)
        ).status_code == 200
        assert (
            await client.post(f"{other.url}/api/v1/auth/refresh", headers=refresh)
        ).status_code == 401
