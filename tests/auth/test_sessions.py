"""Logins as durable data: `/auth/sessions/`, ids never reused, tokens bound to their login."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from service.auth.models import AuthSession
from service.config import Settings
from service.database import create_engine
from tests.factories import PASSWORD, bearer, log_in, sign_up, user_with_token

SESSION_KEYS = {"id", "created_at", "last_used_at", "expires_at", "user_agent", "current"}


async def me_status(client: Any, access_token: str) -> int:
    status: int = (await client.get("/api/v1/users/me", headers=bearer(access_token))).status_code
    return status


async def refresh_status(client: Any, refresh_token: str) -> int:
    response = await client.post("/api/v1/auth/refresh", headers=bearer(refresh_token))
    status: int = response.status_code
    return status


async def list_sessions(client: Any, access_token: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/auth/sessions/", headers=bearer(access_token))
    assert response.status_code == 200, await response.get_data(as_text=True)
    sessions: list[dict[str, Any]] = await response.get_json()
    return sessions


async def login_with_agent(client: Any, email: str, agent: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 200
    tokens: dict[str, Any] = await response.get_json()
    return tokens


# -- finding 1: a deleted user's tokens never become another user's ---------------------


async def test_deleted_users_tokens_refused_at_every_step_after_id_could_be_reused(
    client: Any, settings: Settings
) -> None:
    """Sign up, log in, delete yourself, an admin creates an admin: every step is 401."""
    _, admin_token = await user_with_token(client, settings, admin=True)
    attacker = await sign_up(client, email="attacker@example.com")
    stolen = await log_in(client, attacker["email"])
    deleted = await client.delete(
        f"/api/v1/users/{attacker['id']}", headers=bearer(stolen["access_token"])
    )
    assert deleted.status_code == 204
    created = await client.post(
        "/api/v1/users/",
        json={"email": "root@example.com", "name": "Root", "password": PASSWORD, "is_admin": True},
        headers=bearer(admin_token),
    )
    assert created.status_code == 201
    new_admin = await created.get_json()
    assert new_admin["id"] > attacker["id"]  # never the deleted user's id, on any backend

    access, refresh = bearer(stolen["access_token"]), bearer(stolen["refresh_token"])
    for response in (
        await client.get("/api/v1/users/me", headers=access),
        await client.get("/api/v1/users/", headers=access),
        await client.get(f"/api/v1/users/{new_admin['id']}", headers=access),
        await client.get("/api/v1/auth/sessions/", headers=access),
        await client.post("/api/v1/auth/refresh", headers=refresh),
    ):
        assert response.status_code == 401
        assert (await response.get_json())["error"] == "UNAUTHORIZED"


async def test_deleted_users_logins_are_deleted_with_the_user(
    client: Any, settings: Settings
) -> None:
    user, token = await user_with_token(client, settings)
    await log_in(client, user["email"])
    await client.delete(f"/api/v1/users/{user['id']}", headers=bearer(token))
    engine = create_engine(settings)
    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(AuthSession))
    await engine.dispose()
    assert count == 0


# -- GET /sessions/ ------------------------------------------------------------------------


async def test_two_logins_list_two_sessions_with_contract_fields(client: Any) -> None:
    user = await sign_up(client)
    first = await login_with_agent(client, user["email"], "agent-one/1.0")
    second = await login_with_agent(client, user["email"], "agent-two/2.0")
    other_user = await sign_up(client)
    await log_in(client, other_user["email"])  # not the caller's: never listed

    sessions = await list_sessions(client, second["access_token"])
    assert len(sessions) == 2
    for session in sessions:
        assert set(session) == SESSION_KEYS
        assert isinstance(session["id"], str)
        assert not session["id"].isdigit()  # opaque, not a counter
        for key in ("created_at", "last_used_at", "expires_at"):
            assert datetime.fromisoformat(session[key]).utcoffset() == timedelta(0)
    assert [session["user_agent"] for session in sessions] == ["agent-one/1.0", "agent-two/2.0"]
    assert [session["current"] for session in sessions] == [False, True]
    assert [s["current"] for s in await list_sessions(client, first["access_token"])] == [
        True,
        False,
    ]
    expires = datetime.fromisoformat(sessions[0]["expires_at"])
    created = datetime.fromisoformat(sessions[0]["created_at"])
    assert timedelta(days=29) < expires - created <= timedelta(days=30, seconds=1)


async def test_refresh_keeps_the_login_and_logout_ends_it(client: Any) -> None:
    user = await sign_up(client)
    first = await log_in(client, user["email"])
    before = await list_sessions(client, first["access_token"])
    response = await client.post("/api/v1/auth/refresh", headers=bearer(first["refresh_token"]))
    second = await response.get_json()
    after = await list_sessions(client, second["access_token"])
    assert [session["id"] for session in after] == [before[0]["id"]]
    assert after[0]["current"] is True
    assert after[0]["expires_at"] >= before[0]["expires_at"]

    other = await log_in(client, user["email"])
    await client.post("/api/v1/auth/logout", headers=bearer(second["access_token"]))
    remaining = await list_sessions(client, other["access_token"])
    assert [session["id"] for session in remaining] != [before[0]["id"]]
    assert len(remaining) == 1


async def test_sessions_need_an_access_token(client: Any) -> None:
    user = await sign_up(client)
    tokens = await log_in(client, user["email"])
    assert (await client.get("/api/v1/auth/sessions/")).status_code == 401
    refresh = bearer(tokens["refresh_token"])
    assert (await client.get("/api/v1/auth/sessions/", headers=refresh)).status_code == 401
    assert (await client.delete("/api/v1/auth/sessions/", headers=refresh)).status_code == 401


# -- DELETE /sessions/<id> and /sessions/ ------------------------------------------------


async def test_deleting_one_session_ends_only_that_login(client: Any) -> None:
    user = await sign_up(client)
    keep = await log_in(client, user["email"])
    end = await log_in(client, user["email"])
    ended_id = next(
        s["id"] for s in await list_sessions(client, end["access_token"]) if s["current"]
    )
    response = await client.delete(
        f"/api/v1/auth/sessions/{ended_id}", headers=bearer(keep["access_token"])
    )
    assert response.status_code == 204
    assert await response.get_data() == b""
    assert await me_status(client, end["access_token"]) == 401
    assert await refresh_status(client, end["refresh_token"]) == 401
    assert await me_status(client, keep["access_token"]) == 200
    assert ended_id not in {s["id"] for s in await list_sessions(client, keep["access_token"])}
    # Gone means gone: deleting it again is an unknown id.
    again = await client.delete(
        f"/api/v1/auth/sessions/{ended_id}", headers=bearer(keep["access_token"])
    )
    assert again.status_code == 404
    assert await refresh_status(client, keep["refresh_token"]) == 200


async def test_deleting_the_current_session_ends_this_token(client: Any) -> None:
    user = await sign_up(client)
    tokens = await log_in(client, user["email"])
    [session] = await list_sessions(client, tokens["access_token"])
    response = await client.delete(
        f"/api/v1/auth/sessions/{session['id']}", headers=bearer(tokens["access_token"])
    )
    assert response.status_code == 204
    assert await me_status(client, tokens["access_token"]) == 401


async def test_deleting_another_users_or_unknown_session_is_404(client: Any) -> None:
    victim = await log_in(client, (await sign_up(client))["email"])
    [victim_session] = await list_sessions(client, victim["access_token"])
    mine = await log_in(client, (await sign_up(client))["email"])
    for session_id in (victim_session["id"], "x" * 32, "no-such-login", "%00", "a" * 300):
        response = await client.delete(
            f"/api/v1/auth/sessions/{session_id}", headers=bearer(mine["access_token"])
        )
        assert response.status_code == 404, session_id
        assert (await response.get_json())["error"] == "NOT_FOUND"
    assert await me_status(client, victim["access_token"]) == 200


async def test_deleting_all_sessions_ends_every_login_of_the_caller_only(client: Any) -> None:
    user = await sign_up(client)
    logins = [await log_in(client, user["email"]) for _ in range(3)]
    bystander = await log_in(client, (await sign_up(client))["email"])
    response = await client.delete(
        "/api/v1/auth/sessions/", headers=bearer(logins[0]["access_token"])
    )
    assert response.status_code == 204
    for tokens in logins:
        assert await me_status(client, tokens["access_token"]) == 401
        assert await refresh_status(client, tokens["refresh_token"]) == 401
    assert await me_status(client, bystander["access_token"]) == 200
    fresh = await log_in(client, user["email"])
    assert len(await list_sessions(client, fresh["access_token"])) == 1


# -- rotation ------------------------------------------------------------------------------


async def test_concurrent_use_of_one_refresh_token_lets_exactly_one_through(
    client: Any,
) -> None:
    user = await sign_up(client)
    tokens = await log_in(client, user["email"])
    statuses = await asyncio.gather(
        *(refresh_status(client, tokens["refresh_token"]) for _ in range(4))
    )
    assert sorted(statuses) == [200, 401, 401, 401]


async def test_replayed_refresh_token_ends_the_login_durably(
    client: Any, settings: Settings
) -> None:
    user = await sign_up(client)
    first = await log_in(client, user["email"])
    second = await (
        await client.post("/api/v1/auth/refresh", headers=bearer(first["refresh_token"]))
    ).get_json()
    assert await refresh_status(client, first["refresh_token"]) == 401  # replay
    engine = create_engine(settings)
    async with engine.connect() as connection:
        revoked = await connection.scalar(select(AuthSession.revoked_at))
    await engine.dispose()
    assert revoked is not None  # committed with the 401, not rolled back
    assert await me_status(client, second["access_token"]) == 401


# -- expiry and purge ------------------------------------------------------------------------


async def expire_all(settings: Settings) -> None:
    engine = create_engine(settings)
    async with engine.begin() as connection:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await connection.execute(update(AuthSession).values(expires_at=past))
    await engine.dispose()


async def session_count(settings: Settings) -> int:
    engine = create_engine(settings)
    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(AuthSession))
    await engine.dispose()
    return int(count or 0)


async def test_expired_login_refuses_its_tokens_and_next_login_purges_it(
    client: Any, settings: Settings
) -> None:
    user = await sign_up(client)
    old = await log_in(client, user["email"])
    await expire_all(settings)
    assert await me_status(client, old["access_token"]) == 401
    assert await session_count(settings) == 1
    fresh = await log_in(client, user["email"])
    assert await session_count(settings) == 1
    assert len(await list_sessions(client, fresh["access_token"])) == 1


async def test_long_user_agent_is_kept_to_255_characters(client: Any) -> None:
    user = await sign_up(client)
    tokens = await login_with_agent(client, user["email"], "a" * 300)
    [session] = await list_sessions(client, tokens["access_token"])
    assert session["user_agent"] == "a" * 255


async def test_login_without_user_agent_lists_null(client: Any) -> None:
    user = await sign_up(client)
    tokens = await login_with_agent(client, user["email"], "")
    [session] = await list_sessions(client, tokens["access_token"])
    assert session["user_agent"] is None


def test_session_ids_are_opaque_random_strings() -> None:
    from service.auth.sessions import new_session_id

    ids = {new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", value) for value in ids)
