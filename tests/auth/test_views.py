"""The contract's Auth section: login, refresh rotation, logout, and every bad token."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt as pyjwt
import pytest

from service.config import Settings
from service.extensions import db, passwords
from tests.factories import PASSWORD, bearer, log_in, sign_up, user_with_token
from tests.plugins.backends import TEST_SECRET

TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}


def claims_of(token: str) -> dict[str, Any]:
    return pyjwt.decode(token, TEST_SECRET, algorithms=["HS256"])


async def test_login_returns_token_pair_with_contract_claims(client: Any) -> None:
    user = await sign_up(client)
    tokens = await log_in(client, user["email"].upper())
    assert set(tokens) == TOKEN_KEYS
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3600
    access, refresh = claims_of(tokens["access_token"]), claims_of(tokens["refresh_token"])
    assert access["sub"] == refresh["sub"] == str(user["id"])
    assert access["type"] == "access"
    assert refresh["type"] == "refresh"
    for claims in (access, refresh):
        assert {"exp", "iat", "jti"} <= claims.keys()
    assert access["exp"] - access["iat"] == 3600
    assert refresh["exp"] - refresh["iat"] == 30 * 24 * 3600
    assert pyjwt.get_unverified_header(tokens["access_token"])["alg"] == "HS256"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": "known@example.com", "password": "wrong password"},
    ],
)
async def test_login_wrong_email_or_password_is_same_401(client: Any, body: dict[str, str]) -> None:
    await sign_up(client, email="known@example.com")
    response = await client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 401
    payload = await response.get_json()
    assert payload["error"] == "INVALID_CREDENTIALS"
    assert payload["message"] == "Invalid email or password"


async def test_login_unknown_email_still_verifies_a_hash(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = passwords.verify_dummy

    async def counting(password: str) -> None:
        calls.append(password)
        await original(password)

    monkeypatch.setattr(passwords, "verify_dummy", counting)
    response = await client.post(
        "/api/v1/auth/login", json={"email": "ghost@example.com", "password": "whatever1"}
    )
    assert response.status_code == 401
    assert calls == ["whatever1"]


async def test_login_holds_no_database_connection_while_the_password_hashes(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under a login flood every pooled connection sat idle in a login waiting for the
    # hashing threads, and the logins waiting for a connection ran out of time (503).
    user = await sign_up(client)
    assert db.engine is not None
    pool = db.engine.sync_engine.pool
    held: list[int] = []
    original = passwords.verify_password

    async def watching(password_hash: str, password: str) -> bool:
        held.append(pool.checkedout())  # type: ignore[attr-defined]
        return await original(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", watching)
    await log_in(client, user["email"])
    assert held == [0]


async def test_login_malformed_body_is_validation_error(client: Any) -> None:
    response = await client.post("/api/v1/auth/login", json={"email": "a@example.com"})
    assert response.status_code == 400
    assert "password" in (await response.get_json())["details"]["fields"]


async def test_refresh_rotates_and_reuse_revokes_the_login(client: Any) -> None:
    user = await sign_up(client)
    first = await log_in(client, user["email"])
    response = await client.post("/api/v1/auth/refresh", headers=bearer(first["refresh_token"]))
    assert response.status_code == 200
    second = await response.get_json()
    assert set(second) == TOKEN_KEYS
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        await client.get("/api/v1/users/me", headers=bearer(second["access_token"]))
    ).status_code == 200

    replay = await client.post("/api/v1/auth/refresh", headers=bearer(first["refresh_token"]))
    assert replay.status_code == 401
    assert (await replay.get_json())["error"] == "UNAUTHORIZED"
    # theft detected: the whole login (token family) is revoked, new tokens included
    again = await client.post("/api/v1/auth/refresh", headers=bearer(second["refresh_token"]))
    assert again.status_code == 401
    me = await client.get("/api/v1/users/me", headers=bearer(second["access_token"]))
    assert me.status_code == 401


async def test_refresh_reuse_leaves_other_logins_alone(client: Any) -> None:
    user = await sign_up(client)
    stolen = await log_in(client, user["email"])
    other = await log_in(client, user["email"])
    await client.post("/api/v1/auth/refresh", headers=bearer(stolen["refresh_token"]))
    await client.post("/api/v1/auth/refresh", headers=bearer(stolen["refresh_token"]))
    me = await client.get("/api/v1/users/me", headers=bearer(other["access_token"]))
    assert me.status_code == 200


async def test_logout_revokes_access_and_given_refresh_token(client: Any) -> None:
    user = await sign_up(client)
    session = await log_in(client, user["email"])
    other = await log_in(client, user["email"])
    response = await client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": session["refresh_token"]},
        headers=bearer(session["access_token"]),
    )
    assert response.status_code == 204
    assert (
        await client.get("/api/v1/users/me", headers=bearer(session["access_token"]))
    ).status_code == 401
    assert (
        await client.post("/api/v1/auth/refresh", headers=bearer(session["refresh_token"]))
    ).status_code == 401
    # other sessions of the same user stay valid
    assert (
        await client.get("/api/v1/users/me", headers=bearer(other["access_token"]))
    ).status_code == 200
    assert (
        await client.post("/api/v1/auth/refresh", headers=bearer(other["refresh_token"]))
    ).status_code == 200


async def test_logout_without_body_revokes_access_token(client: Any) -> None:
    user = await sign_up(client)
    session = await log_in(client, user["email"])
    response = await client.post("/api/v1/auth/logout", headers=bearer(session["access_token"]))
    assert response.status_code == 204
    assert (
        await client.get("/api/v1/users/me", headers=bearer(session["access_token"]))
    ).status_code == 401


async def test_logout_with_someone_elses_refresh_token_is_refused(client: Any) -> None:
    ann = await log_in(client, (await sign_up(client))["email"])
    bob = await log_in(client, (await sign_up(client))["email"])
    response = await client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": bob["refresh_token"]},
        headers=bearer(ann["access_token"]),
    )
    assert response.status_code == 400
    assert (
        await client.post("/api/v1/auth/refresh", headers=bearer(bob["refresh_token"]))
    ).status_code == 200


def _forge(claims: dict[str, Any], *, key: str = TEST_SECRET, alg: str = "HS256") -> str:
    return pyjwt.encode(claims, key, algorithm=alg)


def _alg_none(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    "case",
    [
        "deleted_user",
        "refresh_as_access",
        "other_key",
        "alg_none",
        "garbage",
        "expired",
        "no_bearer_prefix",
        "empty_bearer",
        "revoked",
        "non_numeric_sub",
    ],
)
async def test_bad_access_tokens_are_401_in_contract_body(
    client: Any, settings: Settings, case: str
) -> None:
    user, token = await user_with_token(client, settings)
    refresh = (await log_in(client, user["email"]))["refresh_token"]
    claims = claims_of(token)
    now = int(time.time())
    headers = bearer(token)
    if case == "deleted_user":
        await client.delete(f"/api/v1/users/{user['id']}", headers=bearer(token))
    elif case == "refresh_as_access":
        headers = bearer(refresh)
    elif case == "other_key":
        headers = bearer(_forge(claims, key="another-secret-" + "y" * 40))
    elif case == "alg_none":
        headers = bearer(_alg_none(claims))
    elif case == "garbage":
        headers = bearer("not.a.token")
    elif case == "expired":
        headers = bearer(
            _forge({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})
        )
    elif case == "no_bearer_prefix":
        headers = {"Authorization": token}
    elif case == "empty_bearer":
        headers = {"Authorization": "Bearer "}
    elif case == "revoked":
        await client.post("/api/v1/auth/logout", headers=bearer(token))
    elif case == "non_numeric_sub":
        headers = bearer(_forge({**claims, "sub": "admin"}))
    response = await client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == 401
    body = await response.get_json()
    assert body["error"] == "UNAUTHORIZED"
    assert "msg" not in body
    assert set(body) >= {"error", "message", "status_code", "request_id"}


async def test_access_token_cannot_refresh(client: Any, settings: Settings) -> None:
    _, token = await user_with_token(client, settings)
    response = await client.post("/api/v1/auth/refresh", headers=bearer(token))
    assert response.status_code == 401
    body = await response.get_json()
    assert body["error"] == "UNAUTHORIZED"
    assert "msg" not in body


async def test_refresh_of_deleted_user_is_401(client: Any, settings: Settings) -> None:
    user, token = await user_with_token(client, settings)
    refresh = (await log_in(client, user["email"]))["refresh_token"]
    await client.delete(f"/api/v1/users/{user['id']}", headers=bearer(token))
    assert (await client.post("/api/v1/auth/refresh", headers=bearer(refresh))).status_code == 401
