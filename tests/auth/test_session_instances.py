"""Sessions over two real instances on PostgreSQL + Redis: one service, one set of logins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.factories import FAST_HASHING, PASSWORD
from tests.plugins.backends import Backend, reset_backend
from tests.servers import Server, running_servers


@pytest.fixture(name="instances")
async def _instances(postgres_backend: Backend, tmp_path: Path) -> AsyncIterator[list[Server]]:
    settings = postgres_backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    async with running_servers(settings, 2, tmp_path) as servers:
        yield servers
    await reset_backend(postgres_backend)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_two_logins_listed_and_one_deleted_through_one_instance_ends_on_the_other(
    instances: list[Server],
) -> None:
    one, other = instances
    body = {"email": "two@example.com", "password": PASSWORD}
    async with httpx.AsyncClient() as client:
        signed_up = await client.post(f"{one.url}/api/v1/users/", json={**body, "name": "Two"})
        assert signed_up.status_code == 201
        first = (await client.post(f"{one.url}/api/v1/auth/login", json=body)).json()
        second = (await client.post(f"{other.url}/api/v1/auth/login", json=body)).json()

        listed = await client.get(
            f"{other.url}/api/v1/auth/sessions/", headers=bearer(first["access_token"])
        )
        assert listed.status_code == 200
        sessions = listed.json()
        assert len(sessions) == 2
        [second_id] = [session["id"] for session in sessions if not session["current"]]

        deleted = await client.delete(
            f"{one.url}/api/v1/auth/sessions/{second_id}", headers=bearer(first["access_token"])
        )
        assert deleted.status_code == 204

        for server in (other, one):
            me = await client.get(
                f"{server.url}/api/v1/users/me", headers=bearer(second["access_token"])
            )
            assert me.status_code == 401
        refreshed = await client.post(
            f"{other.url}/api/v1/auth/refresh", headers=bearer(second["refresh_token"])
        )
        assert refreshed.status_code == 401
        me = await client.get(f"{other.url}/api/v1/users/me", headers=bearer(first["access_token"]))
        assert me.status_code == 200
        remaining = await client.get(
            f"{other.url}/api/v1/auth/sessions/", headers=bearer(first["access_token"])
        )
        assert [session["current"] for session in remaining.json()] == [True]
