"""Changing a password: one's own needs the current one (ASVS 2.1.6); it ends every login."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.config import Settings
from tests.factories import PASSWORD, bearer, log_in, sign_up, user_with_token

NEW_PASSWORD = "a brand new passphrase"


async def change(client: Any, user_id: int, token: str, body: dict[str, Any]) -> Any:
    return await client.patch(f"/api/v1/users/{user_id}", json=body, headers=bearer(token))


async def login_status(client: Any, email: str, password: str) -> int:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    status: int = response.status_code
    return status


@pytest.mark.parametrize(
    "body",
    [
        {"password": NEW_PASSWORD},
        {"password": NEW_PASSWORD, "current_password": "not my password"},
    ],
    ids=["missing", "wrong"],
)
async def test_own_password_change_without_right_current_password_is_400_naming_it(
    client: Any, settings: Settings, body: dict[str, Any]
) -> None:
    user, token = await user_with_token(client, settings)
    response = await change(client, user["id"], token, body)
    assert response.status_code == 400
    payload = await response.get_json()
    assert payload["error"] == "VALIDATION_ERROR"
    assert list(payload["details"]["fields"]) == ["current_password"]
    # Nothing changed: the old password and the token still work.
    assert await login_status(client, user["email"], PASSWORD) == 200
    assert await login_status(client, user["email"], NEW_PASSWORD) == 401
    assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200


async def test_own_password_change_with_current_password_ends_every_login(
    client: Any, settings: Settings
) -> None:
    user, token = await user_with_token(client, settings)
    other_login = await log_in(client, user["email"])
    response = await change(
        client, user["id"], token, {"password": NEW_PASSWORD, "current_password": PASSWORD}
    )
    assert response.status_code == 200
    assert "current_password" not in await response.get_json()
    for access in (token, other_login["access_token"]):
        assert (await client.get("/api/v1/users/me", headers=bearer(access))).status_code == 401
    refresh = bearer(other_login["refresh_token"])
    assert (await client.post("/api/v1/auth/refresh", headers=refresh)).status_code == 401
    fresh = await log_in(client, user["email"], NEW_PASSWORD)
    sessions = await client.get("/api/v1/auth/sessions/", headers=bearer(fresh["access_token"]))
    assert len(await sessions.get_json()) == 1


async def test_admin_changes_another_users_password_without_current_password(
    client: Any, settings: Settings
) -> None:
    target = await sign_up(client)
    target_tokens = await log_in(client, target["email"])
    _, admin_token = await user_with_token(client, settings, admin=True)
    response = await change(client, target["id"], admin_token, {"password": NEW_PASSWORD})
    assert response.status_code == 200
    assert await login_status(client, target["email"], NEW_PASSWORD) == 200
    target_access = bearer(target_tokens["access_token"])
    assert (await client.get("/api/v1/users/me", headers=target_access)).status_code == 401
    assert (await client.get("/api/v1/users/me", headers=bearer(admin_token))).status_code == 200


async def test_admin_changing_own_password_needs_current_password(
    client: Any, settings: Settings
) -> None:
    admin, token = await user_with_token(client, settings, admin=True)
    response = await change(client, admin["id"], token, {"password": NEW_PASSWORD})
    assert response.status_code == 400
    assert "current_password" in (await response.get_json())["details"]["fields"]


async def test_other_fields_change_without_current_password(
    client: Any, settings: Settings
) -> None:
    user, token = await user_with_token(client, settings)
    response = await change(client, user["id"], token, {"name": "Renamed"})
    assert response.status_code == 200
    assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200


async def test_null_current_password_is_400_naming_it(client: Any, settings: Settings) -> None:
    user, token = await user_with_token(client, settings)
    response = await change(
        client, user["id"], token, {"password": NEW_PASSWORD, "current_password": None}
    )
    assert response.status_code == 400
    assert "current_password" in json.dumps((await response.get_json())["details"]["fields"])
