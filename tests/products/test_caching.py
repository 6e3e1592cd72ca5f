"""Cached reads never go stale after a write, authorization comes first, Redis may fail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.app import create_app
from service.config import Settings
from tests import servers
from tests.factories import FAST_HASHING, PASSWORD, bearer, user_with_token
from tests.plugins.backends import Backend, reset_backend
from tests.servers import RedisServer


def new_user() -> dict[str, Any]:
    return {"email": "late@example.com", "name": "Late", "password": PASSWORD}


def product(n: int, price: int = 100) -> dict[str, Any]:
    return {"name": f"Widget {n}", "sku": f"SKU-{n:04d}", "price_cents": price}


async def test_list_item_and_stats_reflect_each_write_at_once(
    client: Any, settings: Settings
) -> None:
    user, token = await user_with_token(client, settings)
    auth = bearer(token)
    assert await (await client.get("/api/v1/products/")).get_json() == []
    stats_url = f"/api/v1/users/{user['id']}/stats"
    assert (await (await client.get(stats_url, headers=auth)).get_json())["product_count"] == 0

    created = await (
        await client.post("/api/v1/products/", json=product(1, 250), headers=auth)
    ).get_json()
    listed = await (await client.get("/api/v1/products/")).get_json()
    assert [item["id"] for item in listed] == [created["id"]]
    v2 = await (await client.get("/api/v2/products/")).get_json()
    assert [item["id"] for item in v2["data"]] == [created["id"]]
    stats = await (await client.get(stats_url, headers=auth)).get_json()
    assert stats == {"user_id": user["id"], "product_count": 1, "total_value_cents": 250}

    item_url = f"/api/v1/products/{created['id']}"
    assert (await (await client.get(item_url)).get_json())["price_cents"] == 250
    await client.patch(item_url, json={"price_cents": 999}, headers=auth)
    assert (await (await client.get(item_url)).get_json())["price_cents"] == 999
    assert (await (await client.get("/api/v1/products/")).get_json())[0]["price_cents"] == 999
    assert (await (await client.get(stats_url, headers=auth)).get_json())[
        "total_value_cents"
    ] == 999

    assert (await client.delete(item_url, headers=auth)).status_code == 204
    assert (await client.get(item_url)).status_code == 404
    assert await (await client.get("/api/v1/products/")).get_json() == []
    assert (await (await client.get(stats_url, headers=auth)).get_json())["product_count"] == 0


async def test_user_item_cache_follows_updates_and_deletion(
    client: Any, settings: Settings
) -> None:
    user, token = await user_with_token(client, settings)
    url = f"/api/v1/users/{user['id']}"
    assert (await (await client.get(url, headers=bearer(token))).get_json())["name"] == user["name"]
    await client.patch(url, json={"name": "Changed"}, headers=bearer(token))
    assert (await (await client.get(url, headers=bearer(token))).get_json())["name"] == "Changed"
    _, admin = await user_with_token(client, settings, admin=True)
    await client.post("/api/v1/products/", json=product(2), headers=bearer(token))
    assert (await client.delete(url, headers=bearer(admin))).status_code == 204
    assert (await client.get(url, headers=bearer(admin))).status_code == 404
    assert await (await client.get("/api/v1/products/")).get_json() == []


async def test_authorization_is_checked_before_the_cache(client: Any, settings: Settings) -> None:
    owner, owner_token = await user_with_token(client, settings)
    url = f"/api/v1/users/{owner['id']}"
    assert (await client.get(url, headers=bearer(owner_token))).status_code == 200  # now cached
    _, stranger = await user_with_token(client, settings)
    assert (await client.get(url, headers=bearer(stranger))).status_code == 403
    assert (await client.get(f"{url}/stats", headers=bearer(stranger))).status_code == 403
    assert (await client.get(url)).status_code == 401


async def test_cache_hits_and_misses_are_in_metrics(client: Any) -> None:
    for _ in range(3):
        await client.get("/api/v1/products/")
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert 'cache_requests_total{result="hit"} 2.0' in metrics
    assert 'cache_requests_total{result="miss"} 1.0' in metrics


@pytest.fixture(name="private_redis")
async def _private_redis() -> AsyncIterator[RedisServer]:
    """A Redis server of this test's own, so the test may stop it (up and answering PING)."""
    async with servers.private_redis() as server:
        yield server


async def test_redis_stopped_mid_test_leaves_reads_working_and_refuses_cached_writes(
    postgres_backend: Backend, private_redis: RedisServer
) -> None:
    url = private_redis.url
    settings = postgres_backend.settings(**FAST_HASHING, REDIS_URL=url, RATE_LIMIT_ENABLED=True)
    app = create_app(settings)
    async with app.test_app() as serving:
        client = serving.test_client()
        _, token = await user_with_token(client, settings)
        assert (
            await client.post("/api/v1/products/", json=product(1), headers=bearer(token))
        ).status_code == 201
        assert len(await (await client.get("/api/v1/products/")).get_json()) == 1
        ready = await (await client.get("/ready")).get_json()
        assert ready["checks"]["redis"] == "ok"

        await private_redis.stop()

        listed = await client.get("/api/v1/products/")
        assert listed.status_code == 200
        assert len(await listed.get_json()) == 1
        # A write whose cache invalidation cannot be recorded is refused (other instances
        # would serve the old list), and nothing of it is stored.
        refused = await client.post("/api/v1/products/", json=product(2), headers=bearer(token))
        assert refused.status_code == 503
        assert refused.headers["Retry-After"].isdigit()
        assert (await refused.get_json())["error"] == "SERVICE_UNAVAILABLE"
        assert len(await (await client.get("/api/v1/products/")).get_json()) == 1
        # Writes that touch no cached data still go through.
        assert (await client.post("/api/v1/users/", json=new_user())).status_code == 201
        ready_response = await client.get("/ready")
        assert ready_response.status_code == 503
        assert (await ready_response.get_json())["checks"] == {"database": "ok", "redis": "error"}
        me = await client.get("/api/v1/users/me", headers=bearer(token))
        assert me.status_code == 200  # the login row answers what the cache cannot
        logout = await client.post("/api/v1/auth/logout", headers=bearer(token))
        assert logout.status_code == 204  # recorded in the database, the cache is only a cache
        me = await client.get("/api/v1/users/me", headers=bearer(token))
        assert me.status_code == 401
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        assert "redis_errors_total" in metrics
        assert 'component="rate_limit"' in metrics
    await reset_backend(postgres_backend)
