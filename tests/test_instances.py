"""Several real instances on one PostgreSQL + Redis behave as one service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.factories import FAST_HASHING, PASSWORD
from tests.plugins.backends import Backend, reset_backend
from tests.servers import Server, running_servers


async def signed_up_tokens(client: httpx.AsyncClient, server: Server, email: str) -> dict[str, str]:
    """Sign up through `server` and log in; returns the token pair."""
    body = {"email": email, "password": PASSWORD}
    response = await client.post(f"{server.url}/api/v1/users/", json={**body, "name": "Client"})
    assert response.status_code == 201
    tokens: dict[str, str] = (
        await client.post(f"{server.url}/api/v1/auth/login", json=body)
    ).json()
    return tokens


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
        tokens = await signed_up_tokens(client, one, "rot@example.com")
        refresh = {"Authorization": f"Bearer {tokens['refresh_token']}"}
        assert (
            await client.post(f"{one.url}/api/v1/auth/refresh", headers=refresh)
        ).status_code == 200
        assert (
            await client.post(f"{other.url}/api/v1/auth/refresh", headers=refresh)
        ).status_code == 401


@pytest.fixture(name="limited_instances")
async def _limited_instances(
    postgres_backend: Backend, tmp_path: Path
) -> AsyncIterator[list[Server]]:
    # Per hour, not per minute: 5/minute frees a login every 12 s, which a slow run can reach.
    settings = postgres_backend.settings(
        **FAST_HASHING, RATE_LIMIT_ENABLED=True, RATE_LIMIT_LOGIN="5/hour"
    )
    async with running_servers(settings, 2, tmp_path) as servers:
        yield servers
    await reset_backend(postgres_backend)


async def test_product_written_through_one_is_in_the_others_next_list_read(
    instances: list[Server],
) -> None:
    one, other = instances
    async with httpx.AsyncClient() as client:
        token = (await signed_up_tokens(client, one, "seller@example.com"))["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert (await client.get(f"{other.url}/api/v1/products/")).json() == []  # cached empty
        created = await client.post(
            f"{one.url}/api/v1/products/",
            json={"name": "Lamp", "sku": "LAMP-1", "price_cents": 1200},
            headers=auth,
        )
        assert created.status_code == 201
        listed = (await client.get(f"{other.url}/api/v1/products/")).json()
        assert [item["sku"] for item in listed] == ["LAMP-1"]
        product_url = f"/api/v1/products/{created.json()['id']}"
        assert (await client.get(f"{other.url}{product_url}")).json()["price_cents"] == 1200
        await client.patch(f"{one.url}{product_url}", json={"price_cents": 1500}, headers=auth)
        assert (await client.get(f"{other.url}{product_url}")).json()["price_cents"] == 1500


async def test_concurrent_logins_over_two_instances_get_exactly_the_limit(
    limited_instances: list[Server],
) -> None:
    one, other = limited_instances
    body = {"email": "limit@example.com", "password": PASSWORD}
    async with httpx.AsyncClient() as client:
        await client.post(f"{one.url}/api/v1/users/", json={**body, "name": "Limit"})

        async def login(n: int) -> int:
            server = (one, other)[n % 2]
            return (await client.post(f"{server.url}/api/v1/auth/login", json=body)).status_code

        statuses = await asyncio.gather(*(login(n) for n in range(20)))
    assert statuses.count(200) == 5
    assert statuses.count(429) == 15


async def test_post_retried_on_the_other_instance_gets_the_first_201_and_writes_nothing(
    instances: list[Server],
) -> None:
    one, other = instances
    async with httpx.AsyncClient() as client:
        sign_up = {"email": "idem@example.com", "name": "Idem", "password": PASSWORD}
        key = {"Idempotency-Key": "sign-up-7f3a"}
        first = await client.post(f"{one.url}/api/v1/users/", json=sign_up, headers=key)
        assert first.status_code == 201
        again = await client.post(f"{other.url}/api/v1/users/", json=sign_up, headers=key)
        assert again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["Location"] == first.headers["Location"]
        assert again.headers["Idempotent-Replayed"] == "true"

        login = {"email": "idem@example.com", "password": PASSWORD}
        token = (await client.post(f"{other.url}/api/v1/auth/login", json=login)).json()
        auth = {"Authorization": f"Bearer {token['access_token']}", "Idempotency-Key": "p-1"}
        lamp = {"name": "Lamp", "sku": "IDEM-1", "price_cents": 1200}
        created = await client.post(f"{other.url}/api/v1/products/", json=lamp, headers=auth)
        replayed = await client.post(f"{one.url}/api/v1/products/", json=lamp, headers=auth)
        assert created.status_code == replayed.status_code == 201
        assert replayed.json() == created.json()
        assert replayed.headers["Location"] == created.headers["Location"]
        reused = await client.post(
            f"{one.url}/api/v1/products/", json={**lamp, "price_cents": 1}, headers=auth
        )
        assert reused.status_code == 422

        listed = (await client.get(f"{one.url}/api/v1/products/")).json()
        assert [item["sku"] for item in listed] == ["IDEM-1"]
        tag = (await client.get(f"{other.url}{created.headers['Location']}")).headers["ETag"]
        headers = {"Authorization": auth["Authorization"], "If-Match": tag}
        assert (
            await client.patch(
                f"{one.url}{created.headers['Location']}", json={"price_cents": 5}, headers=headers
            )
        ).status_code == 200
        stale = await client.patch(
            f"{other.url}{created.headers['Location']}", json={"price_cents": 6}, headers=headers
        )
        assert stale.status_code == 412
