"""Confirmed logins reused per instance (auth.recent): fewer queries, no weaker checks.

Each scenario confirms a login on one instance first (so that instance would reuse it),
then changes it through the other, and expects the first to notice at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from quart import g
from sqlalchemy import event, inspect

from service.app import create_app
from service.extensions import db
from service.users.models import User
from tests.factories import (
    FAST_HASHING,
    PASSWORD,
    UNREACHED_LIMITS,
    bearer,
    make_admin,
    user_with_token,
)
from tests.plugins.backends import Backend, delete_redis_keys, reset_backend
from tests.servers import Server, running_servers


@pytest.fixture(name="instances", params=["unlimited", "limited"])
async def _instances(
    postgres_backend: Backend, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[list[Server]]:
    limits = UNREACHED_LIMITS if request.param == "limited" else {"RATE_LIMIT_ENABLED": False}
    settings = postgres_backend.settings(**FAST_HASHING, **limits, LOGIN_CACHE_SECONDS=600)
    async with running_servers(settings, 2, tmp_path) as servers:
        yield servers
    await reset_backend(postgres_backend)


async def signed_up_and_confirmed(
    client: httpx.AsyncClient, signup: Server, confirmer: Server, email: str
) -> dict[str, Any]:
    """A new user's id and token pair, its login confirmed (and so reusable) on `confirmer`."""
    body = {"email": email, "password": PASSWORD}
    user = await client.post(f"{signup.url}/api/v1/users/", json={**body, "name": "Someone"})
    assert user.status_code == 201
    pair = await log_in(client, signup, email)
    for _ in range(2):
        me = await client.get(f"{confirmer.url}/api/v1/users/me", headers=auth(pair))
        assert me.status_code == 200
    return {"id": user.json()["id"], **pair}


async def log_in(client: httpx.AsyncClient, server: Server, email: str) -> dict[str, Any]:
    body = {"email": email, "password": PASSWORD}
    pair: dict[str, Any] = (await client.post(f"{server.url}/api/v1/auth/login", json=body)).json()
    return pair


def auth(pair: dict[str, Any]) -> dict[str, str]:
    return bearer(pair["access_token"])


async def test_a_login_ended_on_one_instance_is_refused_by_the_other_at_once(
    instances: list[Server],
) -> None:
    one, other = instances
    async with httpx.AsyncClient() as client:
        pair = await signed_up_and_confirmed(client, one, other, "ended@example.com")
        assert (await client.post(f"{one.url}/api/v1/auth/logout", headers=auth(pair))).is_success
        me = await client.get(f"{other.url}/api/v1/users/me", headers=auth(pair))
    assert me.status_code == 401


async def test_a_password_change_or_deletion_on_one_instance_shows_on_the_other(
    instances: list[Server],
) -> None:
    one, other = instances
    async with httpx.AsyncClient() as client:
        pair = await signed_up_and_confirmed(client, one, other, "changed@example.com")
        changed = await client.patch(
            f"{one.url}/api/v1/users/{pair['id']}",
            headers=auth(pair),
            json={"password": "another-password-1", "current_password": PASSWORD},
        )
        assert changed.status_code == 200
        me = await client.get(f"{other.url}/api/v1/users/me", headers=auth(pair))
        assert me.status_code == 401

        pair = await signed_up_and_confirmed(client, one, other, "deleted@example.com")
        deleted = await client.delete(f"{one.url}/api/v1/users/{pair['id']}", headers=auth(pair))
        assert deleted.status_code == 204
        me = await client.get(f"{other.url}/api/v1/users/me", headers=auth(pair))
        assert me.status_code == 401


async def test_an_admin_demoted_on_one_instance_is_no_admin_on_the_other(
    instances: list[Server], postgres_backend: Backend
) -> None:
    one, other = instances
    async with httpx.AsyncClient() as client:
        admin = await signed_up_and_confirmed(client, one, other, "admin@example.com")
        await make_admin(postgres_backend.settings(), admin["id"])
        admin.update(await log_in(client, one, "admin@example.com"))  # now as an admin
        listed = await client.get(f"{other.url}/api/v1/users/", headers=auth(admin))
        assert listed.status_code == 200  # confirmed as an admin on `other`
        demoted = await client.patch(
            f"{one.url}/api/v1/users/{admin['id']}", headers=auth(admin), json={"is_admin": False}
        )
        assert demoted.status_code == 200
        listed = await client.get(f"{other.url}/api/v1/users/", headers=auth(admin))
    assert listed.status_code == 403


async def test_after_redis_loses_its_keys_the_database_decides_again(
    instances: list[Server], postgres_backend: Backend
) -> None:
    one, other = instances
    async with httpx.AsyncClient() as client:
        pair = await signed_up_and_confirmed(client, one, other, "flushed@example.com")
        assert (await client.post(f"{one.url}/api/v1/auth/logout", headers=auth(pair))).is_success
        await delete_redis_keys(postgres_backend.redis_prefix)  # a Redis restart: all gone
        me = await client.get(f"{other.url}/api/v1/users/me", headers=auth(pair))
    assert me.status_code == 401


async def test_a_confirmed_login_costs_no_query(postgres_backend: Backend) -> None:
    settings = postgres_backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    statements: list[str] = []
    async with create_app(settings).test_app() as serving:
        client = serving.test_client()
        _, token = await user_with_token(client, settings)
        assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200
        assert db.engine is not None
        event.listen(
            db.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2])
        )
        assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200
    assert statements == []
    await reset_backend(postgres_backend)


async def test_a_confirmed_login_gives_each_request_its_own_user_without_change_events(
    postgres_backend: Backend,
) -> None:
    settings = postgres_backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    changes: list[str] = []
    users: list[User] = []
    app = create_app(settings)

    @app.after_request
    async def keep_user(response: Any) -> Any:
        if (user := g.get("current_user")) is not None:
            users.append(user)
        return response

    async with app.test_app() as serving:
        client = serving.test_client()
        _, token = await user_with_token(client, settings)
        assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200
        # The constructor sent an attribute event per column, for an object only read.
        event.listen(User.email, "set", lambda *_: changes.append("email"))
        for _ in range(2):
            me = await client.get("/api/v1/users/me", headers=bearer(token))
            assert me.status_code == 200
    assert changes == []
    first, second, third = users
    assert second is not third  # one per request: a view cannot touch another's
    assert (second.id, second.email, second.is_admin) == (first.id, first.email, first.is_admin)
    assert inspect(second).transient  # in no session: nothing of it is ever written
    await reset_backend(postgres_backend)
