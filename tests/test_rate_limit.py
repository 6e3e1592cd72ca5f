"""Rate limits per the contract, on both backends (in-process and Redis)."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Any

import pytest
from quart import Blueprint, request
from redis.asyncio import Redis

from service.app import create_app
from service.common.clients import client_address
from service.config import Settings
from service.rate_limit import limit_blueprint, rate_exempt, rate_limit
from tests.factories import FAST_HASHING, bearer, user_with_token
from tests.plugins.backends import Backend, reset_backend

LIMITS = {
    **FAST_HASHING,
    "RATE_LIMIT_ENABLED": True,
    "RATE_LIMIT_DEFAULT": "3/minute",
    "RATE_LIMIT_LOGIN": "2/minute",
    "RATE_LIMIT_USERS": "50/hour",
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(LIMITS)


# A scratch resource marked only with the library's public markers, as a view module would.
probe = limit_blueprint(Blueprint("probe", __name__, url_prefix="/_probe"), 2, timedelta(minutes=1))
probe_inner = Blueprint("inner", __name__, url_prefix="/inner")


@probe_inner.get("/nested")
async def nested() -> dict[str, str]:
    return {"status": "ok"}


@probe_inner.get("/roomy")
@rate_limit(100, timedelta(seconds=1))
async def roomy() -> dict[str, str]:
    return {"status": "ok"}


@probe_inner.get("/free")
@rate_exempt
async def free() -> dict[str, str]:
    return {"status": "ok"}


async def team() -> str:
    return request.headers.get("X-Team", "none")


async def skipped() -> bool:
    return request.headers.get("X-Skip") == "yes"


@probe_inner.get("/keyed")
@rate_limit(1, timedelta(minutes=1), key_function=team, skip_function=skipped)
async def keyed() -> dict[str, str]:
    return {"status": "ok"}


probe.register_blueprint(probe_inner)


def peer(address: str) -> dict[str, Any]:
    return {"scope_base": {"client": (address, 40000)}}


def networks(*items: str) -> list[Any]:
    return [ipaddress.ip_network(item) for item in items]


@pytest.mark.parametrize(
    ("peer_address", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", "", [], "203.0.113.9"),
        ("203.0.113.9", "1.1.1.1", [], "203.0.113.9"),
        ("10.0.0.2", "198.51.100.7", ["10.0.0.0/8"], "198.51.100.7"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.7", ["10.0.0.0/8"], "198.51.100.7"),
        ("10.0.0.2", "198.51.100.7, 10.0.0.3", ["10.0.0.0/8"], "198.51.100.7"),
        ("10.0.0.2", "not-an-ip", ["10.0.0.0/8"], "not-an-ip"),
        ("10.0.0.2", "", ["10.0.0.0/8"], "10.0.0.2"),
        ("2001:db8::1", "2001:db8::99", ["2001:db8::1/128"], "2001:db8::99"),
    ],
)
def test_client_address_believes_only_trusted_hops(
    peer_address: str, forwarded: str, trusted: list[str], expected: str
) -> None:
    assert client_address(peer_address, forwarded, networks(*trusted)) == expected


async def test_limited_route_counts_down_then_answers_429(client: Any) -> None:
    remaining = []
    for _ in range(3):
        response = await client.get("/api/v1/products/", **peer("198.51.100.1"))
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"
        remaining.append(int(response.headers["RateLimit-Remaining"]))
        assert int(response.headers["RateLimit-Reset"]) > 0
    assert remaining == [2, 1, 0]
    refused = await client.get("/api/v1/products/", **peer("198.51.100.1"))
    assert refused.status_code == 429
    body = await refused.get_json()
    assert body["error"] == "RATE_LIMITED"
    assert body["status_code"] == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Limit"] == "3"
    assert refused.headers["X-Request-ID"]
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert 'rate_limit_rejections_total{route="api_v1.products.products_list"} 1.0' in metrics
    # other clients and other routes have their own counters
    assert (await client.get("/api/v1/products/", **peer("198.51.100.2"))).status_code == 200
    assert (await client.get("/api/v1/products/1", **peer("198.51.100.1"))).status_code == 404


async def test_options_requests_are_not_counted(client: Any) -> None:
    for _ in range(5):
        await client.options("/api/v1/products/", **peer("198.51.100.3"))
    for _ in range(3):
        assert (await client.get("/api/v1/products/", **peer("198.51.100.3"))).status_code == 200


async def test_forged_forwarded_for_buys_no_requests(client: Any) -> None:
    statuses = []
    for n in range(5):
        headers = {"X-Forwarded-For": f"192.0.2.{n}"}
        response = await client.get("/api/v1/products/", headers=headers, **peer("198.51.100.4"))
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429, 429]


async def test_trusted_proxy_hops_are_separate_clients(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"TRUSTED_PROXIES": [ipaddress.ip_network("10.0.0.0/8")]})
    )
    async with app.test_app() as serving:
        client = serving.test_client()
        for n in range(5):
            headers = {"X-Forwarded-For": f"192.0.2.{n}"}
            response = await client.get("/api/v1/products/", headers=headers, **peer("10.1.1.1"))
            assert response.status_code == 200
            assert response.headers["RateLimit-Remaining"] == "2"


async def test_login_limit_applies_whatever_the_outcome(client: Any) -> None:
    body = {"email": "nobody@example.com", "password": "whatever1"}
    statuses = [
        (await client.post("/api/v1/auth/login", json=body, **peer("198.51.100.5"))).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]


async def test_smaller_limit_wins_and_headers_describe_it(settings: Settings) -> None:
    tight = settings.model_copy(
        update={"RATE_LIMIT_DEFAULT": "100/hour", "RATE_LIMIT_USERS": "2/minute"}
    )
    app = create_app(tight)
    async with app.test_app() as serving:
        client = serving.test_client()
        _, token = await user_with_token(client, tight)
        responses = [
            await client.get("/api/v1/users/me", headers=bearer(token), **peer("198.51.100.6"))
            for _ in range(3)
        ]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[0].headers["RateLimit-Limit"] == "2"
    assert responses[0].headers["RateLimit-Remaining"] == "1"


async def test_health_and_docs_are_never_limited(client: Any) -> None:
    for path in ("/health", "/ready", "/metrics", "/openapi.json", "/docs"):
        for _ in range(5):
            response = await client.get(path, **peer("198.51.100.7"))
            assert response.status_code == 200, path
            assert "RateLimit-Limit" not in response.headers


async def test_disabled_limits_add_no_headers_and_never_refuse(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"RATE_LIMIT_ENABLED": False}))
    async with app.test_app() as serving:
        client = serving.test_client()
        for _ in range(6):
            response = await client.get("/api/v1/products/", **peer("198.51.100.8"))
            assert response.status_code == 200
            assert "RateLimit-Limit" not in response.headers


async def test_every_limiter_key_in_redis_expires(postgres_backend: Backend) -> None:
    settings = postgres_backend.settings(**LIMITS, TRUSTED_PROXIES="10.0.0.0/8")
    app = create_app(settings)
    async with app.test_app() as serving:
        client = serving.test_client()
        for n in range(300):
            headers = {"X-Forwarded-For": f"192.0.{n // 250}.{n % 250}"}
            await client.get("/api/v1/products/", headers=headers, **peer("10.0.0.1"))
    redis = Redis.from_url(str(settings.REDIS_URL))
    keys = [
        key async for key in redis.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}rl:*", count=1000)
    ]
    ttls = [await redis.pttl(key) for key in keys]
    await redis.aclose()
    await reset_backend(postgres_backend)
    assert len(keys) >= 300
    assert all(0 < ttl <= 60_000 for ttl in ttls)


async def test_after_redis_forgets_the_script_limits_still_count(
    postgres_backend: Backend,
) -> None:
    """The script goes by its digest; a Redis restart (SCRIPT FLUSH) costs one reload."""
    settings = postgres_backend.settings(**LIMITS)
    async with create_app(settings).test_app() as serving:
        client = serving.test_client()
        first = await client.get("/api/v1/products/", **peer("198.51.100.30"))
        redis = Redis.from_url(str(settings.REDIS_URL))
        await redis.script_flush()
        await redis.aclose()
        after = [await client.get("/api/v1/products/", **peer("198.51.100.30")) for _ in range(3)]
    await reset_backend(postgres_backend)
    assert first.headers["RateLimit-Remaining"] == "2"
    assert [r.status_code for r in after] == [200, 200, 429]
    assert [r.headers["RateLimit-Remaining"] for r in after] == ["1", "0", "0"]


async def test_library_markers_are_enforced_through_nested_blueprints(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"RATE_LIMIT_DEFAULT": "1000/hour"}))
    app.register_blueprint(probe)
    async with app.test_app() as serving:
        client = serving.test_client()
        # The parent's limit_blueprint reaches a nested blueprint's route (the library
        # itself reads only the innermost blueprint).
        nested = [
            await client.get("/_probe/inner/nested", **peer("198.51.100.9")) for _ in range(3)
        ]
        # With 100/second on the route, the parent's 2/minute is the one closest to running
        # out; the headers describe it (the library's would pick the shortest period).
        roomy = [await client.get("/_probe/inner/roomy", **peer("198.51.100.9")) for _ in range(3)]
        free = [await client.get("/_probe/inner/free", **peer("198.51.100.9")) for _ in range(5)]
    for responses in (nested, roomy):
        assert [r.status_code for r in responses] == [200, 200, 429]
        assert [r.headers["RateLimit-Limit"] for r in responses] == ["2", "2", "2"]
        assert [r.headers["RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]
        assert 0 < int(responses[-1].headers["Retry-After"]) <= 60
    assert {r.status_code for r in free} == {200}
    assert not any("RateLimit-Limit" in r.headers for r in free)


async def test_a_limit_with_its_own_key_and_skip_functions_uses_them(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"RATE_LIMIT_DEFAULT": "1000/hour"}))
    app.register_blueprint(probe)
    async with app.test_app() as serving:
        client = serving.test_client()

        async def get(address: str, **headers: str) -> int:
            response = await client.get("/_probe/inner/keyed", headers=headers, **peer(address))
            return response.status_code

        # One bucket per team, not per client; the parent's 2/minute still counts per client.
        same_client = [await get("198.51.100.20", **{"X-Team": name}) for name in "aab"]
        # A skipped limit is not counted: team a's spent bucket does not refuse.
        skipping = await get("198.51.100.21", **{"X-Team": "a", "X-Skip": "yes"})
    assert same_client == [200, 429, 200]
    assert skipping == 200
