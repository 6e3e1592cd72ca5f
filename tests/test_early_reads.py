"""A cached read costs one Redis round trip in all: the view's entry comes with the login's
state (common/early_reads.py), under limits inside the limiter's own call when it makes
one (a busy client's requests are mostly counted from a lease, rate_limit/redis_store.py)."""

from __future__ import annotations

from typing import Any

import pytest

from service.app import create_app
from tests.factories import (
    EXACT_LIMITS,
    FAST_HASHING,
    UNREACHED_LIMITS,
    bearer,
    user_with_token,
)
from tests.plugins.backends import Backend, reset_backend


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"RATE_LIMIT_ENABLED": False}, ["MGET"]),
        (EXACT_LIMITS, ["EVALSHA"]),
        (UNREACHED_LIMITS, ["MGET"]),
    ],
    ids=["unlimited", "limited", "leased"],
)
async def test_a_cached_user_read_costs_one_round_trip(
    postgres_backend: Backend,
    redis_commands: tuple[list[tuple[Any, ...]], Any],
    limits: dict[str, Any],
    expected: list[str],
) -> None:
    sent, start = redis_commands
    settings = postgres_backend.settings(**FAST_HASHING, **limits)
    async with create_app(settings).test_app() as serving:
        client = serving.test_client()
        user, token = await user_with_token(client, settings)
        path = f"/api/v1/users/{user['id']}"
        for _ in range(2):  # the login confirmed, the entry cached
            assert (await client.get(path, headers=bearer(token))).status_code == 200
        start()
        read = await client.get(path, headers=bearer(token))
        observed = [command[0] for command in sent]
    await reset_backend(postgres_backend)
    assert read.status_code == 200
    body = await read.get_json()
    assert body == {key: user[key] for key in body}
    assert observed == expected


async def test_under_limits_a_confirmed_login_costs_no_round_trip_of_its_own(
    postgres_backend: Backend, redis_commands: tuple[list[tuple[Any, ...]], Any]
) -> None:
    """The limiter's one Lua call also reads the login's state: one command in all."""
    sent, start = redis_commands
    settings = postgres_backend.settings(**FAST_HASHING, **EXACT_LIMITS)
    async with create_app(settings).test_app() as serving:
        client = serving.test_client()
        _, token = await user_with_token(client, settings)
        assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200
        start()
        me = await client.get("/api/v1/users/me", headers=bearer(token))
        observed = [command[0] for command in sent]
    await reset_backend(postgres_backend)
    assert me.status_code == 200
    assert "RateLimit-Remaining" in me.headers
    assert observed == ["EVALSHA"]


async def test_an_entry_read_early_is_still_refused_to_another_user(
    postgres_backend: Backend,
) -> None:
    settings = postgres_backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    async with create_app(settings).test_app() as serving:
        client = serving.test_client()
        owner, owner_token = await user_with_token(client, settings)
        _, other_token = await user_with_token(client, settings)
        path = f"/api/v1/users/{owner['id']}"
        assert (await client.get(path, headers=bearer(owner_token))).status_code == 200  # cached
        for _ in range(2):  # the second time, the other's login is confirmed: no query at all
            refused = await client.get(path, headers=bearer(other_token))
            assert refused.status_code == 403
            assert owner["email"] not in await refused.get_data(as_text=True)
    await reset_backend(postgres_backend)


async def test_a_user_changed_then_read_in_the_next_request_is_the_new_one(
    postgres_backend: Backend,
) -> None:
    settings = postgres_backend.settings(**FAST_HASHING, **UNREACHED_LIMITS)
    async with create_app(settings).test_app() as serving:
        client = serving.test_client()
        user, token = await user_with_token(client, settings)
        path = f"/api/v1/users/{user['id']}"
        for _ in range(2):
            read = await client.get(path, headers=bearer(token))
            assert (await read.get_json())["name"] == user["name"]
        changed = await client.patch(path, headers=bearer(token), json={"name": "Renamed"})
        assert changed.status_code == 200
        read = await client.get(path, headers=bearer(token))
        assert (await read.get_json())["name"] == "Renamed"
        head = await client.head(path, headers=bearer(token))  # HEAD: no early reads, same answer
        assert head.status_code == 200
    await reset_backend(postgres_backend)
