"""The production server process: graceful shutdown and CORS, as clients see them."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx

from tests.conftest import Backend, reset_backend
from tests.factories import PASSWORD
from tests.servers import running_servers


async def test_sigterm_lets_in_flight_request_finish(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    # Full-cost argon2id makes a login take a noticeable time: the in-flight request.
    settings = postgres_backend.settings(RATE_LIMIT_ENABLED=False, PASSWORD_HASH_TIME_COST=6)
    async with running_servers(settings, 1, tmp_path) as (server,), httpx.AsyncClient() as client:
        body = {"email": "slow@example.com", "password": PASSWORD}
        await client.post(f"{server.url}/api/v1/users/", json={**body, "name": "Slow"})
        login = asyncio.create_task(client.post(f"{server.url}/api/v1/auth/login", json=body))
        await asyncio.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        response = await login
        assert response.status_code == 200
        assert "access_token" in response.json()
        assert await asyncio.wait_for(server.process.wait(), 30) == 0
    await reset_backend(postgres_backend)


async def test_cors_preflight_and_headers_for_allowed_origin(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    settings = postgres_backend.settings(
        CORS_ORIGINS="https://app.example.com", RATE_LIMIT_DEFAULT="1/hour"
    )
    async with running_servers(settings, 1, tmp_path) as (server,), httpx.AsyncClient() as client:
        preflight_headers = {
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        }
        for _ in range(3):  # preflights are not counted against the 1/hour limit
            preflight = await client.options(
                f"{server.url}/api/v1/products/", headers=preflight_headers
            )
            assert preflight.status_code == 200
            assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
            assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        response = await client.get(
            f"{server.url}/api/v1/products/", headers={"Origin": "https://app.example.com"}
        )
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]
        other = await client.get(f"{server.url}/health", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
    await reset_backend(postgres_backend)
