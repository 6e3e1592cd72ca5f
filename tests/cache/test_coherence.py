"""Cache coherence across instances when only the writer loses Redis (issue 8, finding 8).

Two real server processes share PostgreSQL and Redis; instance A reaches Redis through a
proxy of the test's own, instance B directly. A write through A whose invalidation cannot
be recorded must be refused, so B never serves the old value after a write was accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.factories import FAST_HASHING, PASSWORD
from tests.plugins.backends import Backend, ProxyFactory, reset_backend
from tests.proxy import TcpProxy
from tests.servers import Server, running_servers

# A write refused for want of Redis is answered within a few Redis timeouts, not a hang.
REFUSAL_BOUND_SECONDS = 3.0


class Instances:
    def __init__(self, a: Server, b: Server, redis_proxy: TcpProxy) -> None:
        self.a, self.b, self.redis_proxy = a, b, redis_proxy


@pytest.fixture(name="instances")
async def _instances(
    postgres_backend: Backend, tcp_proxy: ProxyFactory, tmp_path: Path
) -> AsyncIterator[Instances]:
    assert postgres_backend.redis_url is not None
    redis_url = make_url(postgres_backend.redis_url)
    proxy = await tcp_proxy(redis_url.host or "127.0.0.1", redis_url.port or 6379)
    proxied = redis_url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    common: dict[str, Any] = {**FAST_HASHING, "RATE_LIMIT_ENABLED": False}
    settings_a = postgres_backend.settings(**common, REDIS_URL=proxied)
    settings_b = postgres_backend.settings(**common)
    async with (
        running_servers(settings_a, 1, tmp_path) as (a,),
        running_servers(settings_b, 1, tmp_path) as (b,),
    ):
        yield Instances(a, b, proxy)
    await reset_backend(postgres_backend)


async def token_for(client: httpx.AsyncClient, server: Server, email: str) -> dict[str, str]:
    body = {"email": email, "password": PASSWORD}
    signed_up = await client.post(f"{server.url}/api/v1/users/", json={**body, "name": "Seller"})
    assert signed_up.status_code == 201
    login = await client.post(f"{server.url}/api/v1/auth/login", json=body)
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "SERVICE_UNAVAILABLE"
    assert response.headers["Retry-After"].isdigit()


async def test_write_that_cannot_reach_redis_is_refused_and_others_never_read_stale(
    instances: Instances,
) -> None:
    a, b, redis_proxy = instances.a, instances.b, instances.redis_proxy
    async with httpx.AsyncClient(timeout=30) as client:
        auth = await token_for(client, b, "coherent@example.com")
        created = await client.post(
            f"{a.url}/api/v1/products/",
            json={"name": "Lamp", "sku": "LAMP-1", "price_cents": 100},
            headers=auth,
        )
        assert created.status_code == 201
        path = f"/api/v1/products/{created.json()['id']}"
        assert (await client.get(f"{b.url}{path}")).json()["price_cents"] == 100  # B caches it
        assert [
            p["price_cents"] for p in (await client.get(f"{b.url}/api/v1/products/")).json()
        ] == [100]

        for outage in (redis_proxy.cut, redis_proxy.silent):
            outage()
            loop = asyncio.get_running_loop()
            started = loop.time()
            refused = await client.patch(f"{a.url}{path}", json={"price_cents": 200}, headers=auth)
            assert loop.time() - started < REFUSAL_BOUND_SECONDS
            assert_refused(refused)
            for server in (a, b):
                assert (await client.get(f"{server.url}{path}")).json()["price_cents"] == 100
            redis_proxy.pass_through()

        changed = await client.patch(f"{a.url}{path}", json={"price_cents": 300}, headers=auth)
        assert changed.status_code == 200
        assert (await client.get(f"{b.url}{path}")).json()["price_cents"] == 300
        assert [
            p["price_cents"] for p in (await client.get(f"{b.url}/api/v1/products/")).json()
        ] == [300]


async def test_stats_on_another_instance_follow_only_writes_that_were_accepted(
    instances: Instances,
) -> None:
    a, b, redis_proxy = instances.a, instances.b, instances.redis_proxy
    async with httpx.AsyncClient(timeout=30) as client:
        auth = await token_for(client, b, "stats@example.com")
        me = (await client.get(f"{b.url}/api/v1/users/me", headers=auth)).json()
        stats_path = f"/api/v1/users/{me['id']}/stats"

        async def stats_on(server: Server) -> dict[str, Any]:
            response = await client.get(f"{server.url}{stats_path}", headers=auth)
            assert response.status_code == 200
            body: dict[str, Any] = response.json()
            return body

        assert (await stats_on(b))["product_count"] == 0  # B caches the stats
        lamp = {"name": "Lamp", "sku": "LAMP-2", "price_cents": 250}

        redis_proxy.cut()
        assert_refused(await client.post(f"{a.url}/api/v1/products/", json=lamp, headers=auth))
        assert (await stats_on(a))["product_count"] == 0
        assert (await stats_on(b))["product_count"] == 0
        assert (await client.get(f"{b.url}/api/v1/products/")).json() == []

        redis_proxy.pass_through()
        created = await client.post(f"{a.url}/api/v1/products/", json=lamp, headers=auth)
        assert created.status_code == 201
        assert await stats_on(b) == {
            "user_id": me["id"],
            "product_count": 1,
            "total_value_cents": 250,
        }

        redis_proxy.cut()
        path = f"/api/v1/products/{created.json()['id']}"
        assert_refused(await client.delete(f"{a.url}{path}", headers=auth))
        redis_proxy.pass_through()
        assert (await stats_on(b))["product_count"] == 1
        assert (await client.delete(f"{a.url}{path}", headers=auth)).status_code == 204
        assert (await stats_on(b))["product_count"] == 0
