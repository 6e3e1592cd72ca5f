"""The contract as a REST client sees it: a real `service run` process driven with httpx,
on the embedded default and on PostgreSQL + Redis."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.config import Settings
from tests.factories import FAST_HASHING, PASSWORD
from tests.servers import running_servers

ERROR_KEYS = {"error", "message", "status_code", "request_id"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**FAST_HASHING, "RATE_LIMIT_ENABLED": True}


@pytest.fixture(name="api")
async def _api(settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running_servers(settings, 1, tmp_path) as (server,),
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        yield client


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body.keys() >= ERROR_KEYS
    assert body["error"] == error
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


async def test_client_journey_through_auth_users_and_products(api: httpx.AsyncClient) -> None:
    health = await api.get("/health", headers={"X-Request-ID": "journey-1"})
    assert health.json() == {"status": "ok"}
    assert health.headers["X-Request-ID"] == "journey-1"
    assert re.fullmatch(r"\d+\.\d{4}s", health.headers["X-Response-Time"])

    signed_up = await api.post(
        "/api/v1/users/",
        json={"email": "Client@Example.com", "name": "Client", "password": PASSWORD},
    )
    assert signed_up.status_code == 201
    user = signed_up.json()
    assert user["email"] == "client@example.com"
    assert signed_up.headers["Location"].endswith(f"/api/v1/users/{user['id']}")

    assert_error(
        await api.post(
            "/api/v1/auth/login", json={"email": "client@example.com", "password": "nope-nope"}
        ),
        401,
        "INVALID_CREDENTIALS",
    )
    tokens = (
        await api.post(
            "/api/v1/auth/login", json={"email": "CLIENT@example.com", "password": PASSWORD}
        )
    ).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await api.get("/api/v1/users/me", headers=auth)).json()["id"] == user["id"]

    refreshed = await api.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert refreshed.status_code == 200
    assert_error(
        await api.post(
            "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
        ),
        401,
        "UNAUTHORIZED",
    )
    tokens = (
        await api.post(
            "/api/v1/auth/login", json={"email": "client@example.com", "password": PASSWORD}
        )
    ).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}

    created = await api.post(
        "/api/v1/products/",
        json={"name": "Desk", "sku": "DESK-1", "price_cents": 15000},
        headers=auth,
    )
    assert created.status_code == 201
    product = created.json()
    assert product["owner_id"] == user["id"]
    assert (await api.get(created.headers["Location"])).json() == product
    assert_error(
        await api.post(
            "/api/v1/products/",
            json={"name": "Desk", "sku": "DESK-1", "price_cents": 1},
            headers=auth,
        ),
        409,
        "DUPLICATE_ENTRY",
    )
    listed = await api.get("/api/v1/products/?q=des&sort=-price_cents")
    assert [item["id"] for item in listed.json()] == [product["id"]]
    assert listed.headers["X-Total-Count"] == "1"
    assert "RateLimit-Remaining" in listed.headers
    v2 = (await api.get("/api/v2/products/?limit=1")).json()
    assert v2 == {"data": [product], "next_cursor": None}
    stats = (await api.get(f"/api/v1/users/{user['id']}/stats", headers=auth)).json()
    assert stats == {"user_id": user["id"], "product_count": 1, "total_value_cents": 15000}

    patched = await api.patch(
        f"/api/v1/products/{product['id']}", json={"price_cents": 100}, headers=auth
    )
    assert patched.json()["price_cents"] == 100
    assert (await api.get(f"/api/v1/products/{product['id']}")).json()["price_cents"] == 100

    assert (await api.post("/api/v1/auth/logout", headers=auth)).status_code == 204
    assert_error(await api.get("/api/v1/users/me", headers=auth), 401, "UNAUTHORIZED")


async def test_bad_input_gets_the_error_body(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/nope"), 404, "NOT_FOUND")
    assert_error(await api.get("/api/v1/products/abc"), 404, "NOT_FOUND")
    not_allowed = await api.delete("/health")
    assert_error(not_allowed, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in not_allowed.headers["Allow"]
    assert_error(
        await api.post(
            "/api/v1/users/", content=b"{bad", headers={"Content-Type": "application/json"}
        ),
        400,
        "BAD_REQUEST",
    )
    assert_error(
        await api.post("/api/v1/users/", content=b"x", headers={"Content-Type": "text/plain"}),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    body = assert_error(
        await api.post(
            "/api/v1/users/", json={"email": "a@example.com", "name": "A", "password": 12345678}
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert "password" in body["details"]["fields"]
    assert_error(
        await api.post(
            "/api/v1/users/",
            content=b"{" + b" " * 2_000_000 + b"}",
            headers={"Content-Type": "application/json"},
        ),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    page = await api.get("/nope", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["Content-Type"].startswith("text/html")
    assert_error(await api.get("/api/v2/products/?cursor=forged"), 400, "VALIDATION_ERROR")
