"""The contract's Users section, driven over HTTP on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from service.config import Settings
from tests.factories import PASSWORD, bearer, log_in, sign_up, user_with_token

USER_KEYS = {"id", "email", "name", "is_admin", "created_at", "updated_at"}


async def test_sign_up_valid_body_creates_user_with_location(client: Any) -> None:
    response = await client.post(
        "/api/v1/users/",
        json={"email": "Ann.Lee@Example.COM", "name": "  Ann Lee ", "password": PASSWORD},
    )
    assert response.status_code == 201
    body = await response.get_json()
    assert set(body) == USER_KEYS
    assert body["email"] == "ann.lee@example.com"
    assert body["name"] == "Ann Lee"
    assert body["is_admin"] is False
    assert response.headers["Location"].endswith(f"/api/v1/users/{body['id']}")
    assert body["created_at"].endswith("+00:00")


async def test_sign_up_email_taken_in_any_case_is_409(client: Any) -> None:
    await sign_up(client, email="dup@example.com")
    response = await client.post(
        "/api/v1/users/", json={"email": "DUP@example.com", "name": "Other", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert (await response.get_json())["error"] == "DUPLICATE_ENTRY"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", "a" * 250 + "@example.com"),
        ("email", 42),
        ("name", "   "),
        ("name", "x" * 101),
        ("password", "short"),
        ("password", "p" * 129),
        ("is_admin", "true"),
    ],
)
async def test_sign_up_invalid_field_is_validation_error(
    client: Any, field: str, value: Any
) -> None:
    body: dict[str, Any] = {"email": "ok@example.com", "name": "Ok", "password": PASSWORD}
    body[field] = value
    response = await client.post("/api/v1/users/", json=body)
    assert response.status_code == 400
    payload = await response.get_json()
    assert payload["error"] == "VALIDATION_ERROR"
    assert field in payload["details"]["fields"]


async def test_sign_up_unknown_field_is_refused(client: Any) -> None:
    response = await client.post(
        "/api/v1/users/",
        json={"email": "ok@example.com", "name": "Ok", "password": PASSWORD, "role": "admin"},
    )
    assert response.status_code == 400
    assert "role" in (await response.get_json())["details"]["fields"]


async def test_sign_up_as_admin_without_admin_token_is_403(client: Any, settings: Settings) -> None:
    body = {"email": "boss@example.com", "name": "Boss", "password": PASSWORD, "is_admin": True}
    assert (await client.post("/api/v1/users/", json=body)).status_code == 403
    _, token = await user_with_token(client, settings)
    response = await client.post("/api/v1/users/", json=body, headers=bearer(token))
    assert response.status_code == 403
    assert (await response.get_json())["error"] == "FORBIDDEN"


async def test_sign_up_as_admin_with_admin_token_creates_admin(
    client: Any, settings: Settings
) -> None:
    _, token = await user_with_token(client, settings, admin=True)
    body = {"email": "boss@example.com", "name": "Boss", "password": PASSWORD, "is_admin": True}
    response = await client.post("/api/v1/users/", json=body, headers=bearer(token))
    assert response.status_code == 201
    assert (await response.get_json())["is_admin"] is True


async def test_sign_up_is_admin_false_is_always_allowed(client: Any) -> None:
    body = {"email": "plain@example.com", "name": "Plain", "password": PASSWORD, "is_admin": False}
    assert (await client.post("/api/v1/users/", json=body)).status_code == 201


async def test_me_returns_caller(client: Any, settings: Settings) -> None:
    user, token = await user_with_token(client, settings)
    response = await client.get("/api/v1/users/me", headers=bearer(token))
    assert response.status_code == 200
    assert await response.get_json() == user


async def test_list_as_admin_pages_with_headers(client: Any, settings: Settings) -> None:
    _, token = await user_with_token(client, settings, admin=True)
    for _ in range(4):
        await sign_up(client)
    response = await client.get("/api/v1/users/?page=2&per_page=2", headers=bearer(token))
    assert response.status_code == 200
    body = await response.get_json()
    assert [user["id"] for user in body] == sorted(user["id"] for user in body)
    assert len(body) == 2
    assert response.headers["X-Total-Count"] == "5"
    link = response.headers["Link"]
    assert 'rel="next"' in link
    assert 'rel="prev"' in link
    assert "page=3" in link
    assert "page=1" in link


async def test_list_page_past_end_is_empty(client: Any, settings: Settings) -> None:
    _, token = await user_with_token(client, settings, admin=True)
    response = await client.get("/api/v1/users/?page=9&per_page=10", headers=bearer(token))
    assert response.status_code == 200
    assert await response.get_json() == []
    assert response.headers["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    "query", ["per_page=0", "per_page=101", "page=0", "page=abc", "page=2.0", "page=1_0"]
)
async def test_list_bad_paging_is_validation_error(
    client: Any, settings: Settings, query: str
) -> None:
    _, token = await user_with_token(client, settings, admin=True)
    response = await client.get(f"/api/v1/users/?{query}", headers=bearer(token))
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "VALIDATION_ERROR"


async def test_list_as_non_admin_is_403(client: Any, settings: Settings) -> None:
    _, token = await user_with_token(client, settings)
    assert (await client.get("/api/v1/users/", headers=bearer(token))).status_code == 403


async def test_list_without_token_is_401(client: Any) -> None:
    response = await client.get("/api/v1/users/")
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "UNAUTHORIZED"


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
async def test_item_route_for_other_id_is_403_whether_or_not_it_exists(
    client: Any, settings: Settings, method: str
) -> None:
    other = await sign_up(client)
    _, token = await user_with_token(client, settings)
    for target in (other["id"], 999_999):
        kwargs: dict[str, Any] = {"headers": bearer(token)}
        if method in {"put", "patch"}:
            kwargs["json"] = {"name": "Hijack"}
        response = await getattr(client, method)(f"/api/v1/users/{target}", **kwargs)
        assert response.status_code == 403, (method, target)


async def test_item_missing_for_admin_is_404(client: Any, settings: Settings) -> None:
    _, token = await user_with_token(client, settings, admin=True)
    response = await client.get("/api/v1/users/999999", headers=bearer(token))
    assert response.status_code == 404
    assert (await response.get_json())["message"] == "User 999999 not found"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users/0",
        "/api/v1/users/-3",
        "/api/v1/users/abc",
        "/api/v1/users/99999999999999999999",
    ],
)
async def test_item_id_not_a_positive_integer_is_404(
    client: Any, settings: Settings, path: str
) -> None:
    _, token = await user_with_token(client, settings, admin=True)
    response = await client.get(path, headers=bearer(token))
    assert response.status_code == 404


async def test_patch_self_updates_fields(client: Any, settings: Settings) -> None:
    user, token = await user_with_token(client, settings)
    response = await client.patch(
        f"/api/v1/users/{user['id']}",
        json={"name": "Renamed", "email": "NEW@example.com"},
        headers=bearer(token),
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert body["name"] == "Renamed"
    assert body["email"] == "new@example.com"
    assert body["updated_at"] >= user["updated_at"]


async def test_put_self_is_admin_is_403(client: Any, settings: Settings) -> None:
    user, token = await user_with_token(client, settings)
    response = await client.put(
        f"/api/v1/users/{user['id']}", json={"is_admin": True}, headers=bearer(token)
    )
    assert response.status_code == 403
    me = await (await client.get("/api/v1/users/me", headers=bearer(token))).get_json()
    assert me["is_admin"] is False


async def test_admin_may_grant_admin(client: Any, settings: Settings) -> None:
    other = await sign_up(client)
    _, token = await user_with_token(client, settings, admin=True)
    response = await client.put(
        f"/api/v1/users/{other['id']}", json={"is_admin": True}, headers=bearer(token)
    )
    assert response.status_code == 200
    assert (await response.get_json())["is_admin"] is True


async def test_update_to_taken_email_is_409(client: Any, settings: Settings) -> None:
    await sign_up(client, email="taken@example.com")
    user, token = await user_with_token(client, settings)
    response = await client.patch(
        f"/api/v1/users/{user['id']}", json={"email": "Taken@example.com"}, headers=bearer(token)
    )
    assert response.status_code == 409


async def test_update_with_null_field_is_validation_error(client: Any, settings: Settings) -> None:
    user, token = await user_with_token(client, settings)
    response = await client.patch(
        f"/api/v1/users/{user['id']}", json={"name": None}, headers=bearer(token)
    )
    assert response.status_code == 400


async def test_password_change_revokes_earlier_tokens(client: Any, settings: Settings) -> None:
    user, token = await user_with_token(client, settings)
    refresh = (await log_in(client, user["email"]))["refresh_token"]
    response = await client.patch(
        f"/api/v1/users/{user['id']}",
        json={"password": "a brand new one", "current_password": PASSWORD},
        headers=bearer(token),
    )
    assert response.status_code == 200
    assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 401
    assert (await client.post("/api/v1/auth/refresh", headers=bearer(refresh))).status_code == 401
    assert (
        await client.post("/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD})
    ).status_code == 401
    fresh = await log_in(client, user["email"], "a brand new one")
    me = await client.get("/api/v1/users/me", headers=bearer(fresh["access_token"]))
    assert me.status_code == 200


async def test_delete_self_is_204_and_token_stops_working(client: Any, settings: Settings) -> None:
    user, token = await user_with_token(client, settings)
    response = await client.delete(f"/api/v1/users/{user['id']}", headers=bearer(token))
    assert response.status_code == 204
    assert await response.get_data() == b""
    response = await client.get("/api/v1/users/me", headers=bearer(token))
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "UNAUTHORIZED"


async def test_admin_deletes_other_user(client: Any, settings: Settings) -> None:
    other = await sign_up(client)
    _, token = await user_with_token(client, settings, admin=True)
    assert (
        await client.delete(f"/api/v1/users/{other['id']}", headers=bearer(token))
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/users/{other['id']}", headers=bearer(token))
    ).status_code == 404


async def test_v2_list_walks_every_user_once(client: Any, settings: Settings) -> None:
    _, token = await user_with_token(client, settings, admin=True)
    for _ in range(6):
        await sign_up(client)
    seen: list[int] = []
    url = "/api/v2/users/?limit=3"
    pages = 0
    while True:
        response = await client.get(url, headers=bearer(token))
        assert response.status_code == 200
        body = await response.get_json()
        assert set(body) == {"data", "next_cursor"}
        seen += [user["id"] for user in body["data"]]
        pages += 1
        if body["next_cursor"] is None:
            break
        url = f"/api/v2/users/?limit=3&cursor={body['next_cursor']}"
    assert len(seen) == 7
    assert seen == sorted(set(seen))
    assert pages == 3


async def test_v2_altered_cursor_is_validation_error(client: Any, settings: Settings) -> None:
    _, token = await user_with_token(client, settings, admin=True)
    await sign_up(client)
    body = await (await client.get("/api/v2/users/?limit=1", headers=bearer(token))).get_json()
    cursor = body["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad in (tampered, "garbage", "eyJpZCI6IDF9", ""):
        response = await client.get(f"/api/v2/users/?cursor={bad}", headers=bearer(token))
        assert response.status_code == 400
        payload = await response.get_json()
        assert payload["error"] == "VALIDATION_ERROR"
        assert "cursor" in payload["details"]["fields"]


async def test_v2_item_matches_v1(client: Any, settings: Settings) -> None:
    user, token = await user_with_token(client, settings)
    v1 = await (await client.get(f"/api/v1/users/{user['id']}", headers=bearer(token))).get_json()
    v2 = await (await client.get(f"/api/v2/users/{user['id']}", headers=bearer(token))).get_json()
    assert v1 == v2 == user
