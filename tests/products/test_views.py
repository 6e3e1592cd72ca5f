"""`/api/v1/products` item writes and reads over HTTP, on both backends."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Connection, event

from service.config import Settings
from service.extensions import db
from tests.factories import bearer, create_product, product_body

User = tuple[dict[str, Any], str]

PRODUCT_KEYS = {
    "id",
    "name",
    "sku",
    "price_cents",
    "description",
    "owner_id",
    "created_at",
    "updated_at",
}


async def _json(response: Any) -> Any:
    return await response.get_json()


async def _total(client: Any, query: str = "") -> int:
    response = await client.get(f"/api/v1/products/?{query}")
    return int(response.headers["X-Total-Count"])


def _assert_validation_error(body: dict[str, Any], field: str) -> None:
    assert body["error"] == "VALIDATION_ERROR"
    assert body["status_code"] == 400
    assert field in body["details"]["fields"], body


# -- creation --------------------------------------------------------------------------


async def test_create_with_valid_body_is_201_with_location_and_caller_as_owner(
    client: Any, owner: User
) -> None:
    user, token = owner
    body = product_body(name="  Blue Widget  ", description="Very blue")
    response = await client.post("/api/v1/products/", json=body, headers=bearer(token))
    assert response.status_code == 201
    product = await _json(response)
    assert product.keys() == PRODUCT_KEYS
    assert product["name"] == "Blue Widget"
    assert product["sku"] == body["sku"]
    assert product["price_cents"] == 1999
    assert product["description"] == "Very blue"
    assert product["owner_id"] == user["id"]
    assert datetime.fromisoformat(product["created_at"]).utcoffset() is not None
    assert response.headers["Location"].endswith(f"/api/v1/products/{product['id']}")
    fetched = await client.get(urlsplit(response.headers["Location"]).path)
    assert await _json(fetched) == product


@pytest.mark.parametrize("key", [None, "retry-1"])
async def test_create_is_one_insert_in_a_transaction_only_with_a_key(
    client: Any, owner: User, settings: Settings, key: str | None
) -> None:
    # Without an Idempotency-Key the INSERT commits alone: no BEGIN or COMMIT round trips.
    # With one, the stored answer must commit with the product, so both share a transaction.
    assert db.engine is not None
    ran: list[tuple[str, str | None]] = []

    def record(connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        isolation = connection.get_execution_options().get("isolation_level")
        ran.append((statement.split()[0], isolation))

    headers = bearer(owner[1]) | ({"Idempotency-Key": key} if key else {})
    # A login confirmed this recently costs no query (auth.recent): only the write is left.
    assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        response = await client.post("/api/v1/products/", json=product_body(), headers=headers)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    assert response.status_code == 201
    inserts = [isolation for verb, isolation in ran if verb == "INSERT"]
    if key is not None:
        assert inserts
        assert "AUTOCOMMIT" not in inserts
    elif settings.REDIS_URL:
        assert ran == [("INSERT", "AUTOCOMMIT")]
    else:  # no Redis, no recent-login answers: the login's query opened the transaction
        assert ran == [("SELECT", None), ("INSERT", None)]


async def test_create_without_description_stores_null(client: Any, owner: User) -> None:
    product = await create_product(client, owner[1])
    assert product["description"] is None


async def test_create_with_null_description_is_allowed(client: Any, owner: User) -> None:
    product = await create_product(client, owner[1], description=None)
    assert product["description"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price_cents", 0),
        ("price_cents", 1_000_000_000),
        ("name", "n" * 200),
        ("sku", "A" * 64),
        ("sku", "A-1"),
        ("description", "d" * 2000),
        ("description", ""),
    ],
)
async def test_create_at_a_boundary_is_201(
    client: Any, owner: User, field: str, value: Any
) -> None:
    response = await client.post(
        "/api/v1/products/", json=product_body(**{field: value}), headers=bearer(owner[1])
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    assert (await _json(response))[field] == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price_cents", "100"),
        ("price_cents", True),
        ("price_cents", 12.5),
        ("price_cents", 100.0),
        ("price_cents", None),
        ("price_cents", -1),
        ("price_cents", 1_000_000_001),
        ("name", ""),
        ("name", "   "),
        ("name", "n" * 201),
        ("name", 5),
        ("name", None),
        ("sku", "AB"),
        ("sku", "A" * 65),
        ("sku", "abc-123"),
        ("sku", "ABC 123"),
        ("sku", "ABC_123"),
        ("sku", 12345),
        ("description", "d" * 2001),
        ("description", 5),
    ],
)
async def test_create_with_invalid_field_is_400_and_writes_nothing(
    client: Any, owner: User, field: str, value: Any
) -> None:
    response = await client.post(
        "/api/v1/products/", json=product_body(**{field: value}), headers=bearer(owner[1])
    )
    assert response.status_code == 400
    _assert_validation_error(await _json(response), field)
    assert await _total(client) == 0


@pytest.mark.parametrize("field", ["name", "sku", "price_cents"])
async def test_create_without_required_field_is_400(client: Any, owner: User, field: str) -> None:
    body = product_body()
    del body[field]
    response = await client.post("/api/v1/products/", json=body, headers=bearer(owner[1]))
    assert response.status_code == 400
    _assert_validation_error(await _json(response), field)


@pytest.mark.parametrize("field", ["owner_id", "id", "created_at", "colour"])
async def test_create_with_unknown_field_is_400(client: Any, owner: User, field: str) -> None:
    body = product_body(**{field: 1})
    response = await client.post("/api/v1/products/", json=body, headers=bearer(owner[1]))
    assert response.status_code == 400
    _assert_validation_error(await _json(response), field)


async def test_create_with_non_object_json_is_400(client: Any, owner: User) -> None:
    response = await client.post("/api/v1/products/", json=[1], headers=bearer(owner[1]))
    assert response.status_code == 400
    assert (await _json(response))["error"] == "VALIDATION_ERROR"


async def test_create_with_text_body_is_415(client: Any, owner: User) -> None:
    response = await client.post(
        "/api/v1/products/",
        data=b"name=x",
        headers={**bearer(owner[1]), "Content-Type": "text/plain"},
    )
    assert response.status_code == 415


async def test_create_anonymous_is_401_and_writes_nothing(client: Any) -> None:
    response = await client.post("/api/v1/products/", json=product_body())
    assert response.status_code == 401
    assert (await _json(response))["error"] == "UNAUTHORIZED"
    assert await _total(client) == 0


async def test_create_with_bad_token_is_401(client: Any) -> None:
    response = await client.post(
        "/api/v1/products/", json=product_body(), headers=bearer("not-a-token")
    )
    assert response.status_code == 401


async def test_create_with_duplicate_sku_is_409_and_writes_nothing(
    client: Any, owner: User, other: User
) -> None:
    first = await create_product(client, owner[1])
    response = await client.post(
        "/api/v1/products/",
        json=product_body(sku=first["sku"], name="Copy"),
        headers=bearer(other[1]),
    )
    assert response.status_code == 409
    assert (await _json(response))["error"] == "DUPLICATE_ENTRY"
    assert await _total(client) == 1


# -- item reads ------------------------------------------------------------------------


async def test_get_anonymous_is_200(client: Any, owner: User) -> None:
    product = await create_product(client, owner[1])
    response = await client.get(f"/api/v1/products/{product['id']}")
    assert response.status_code == 200
    assert await _json(response) == product


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/products/999999",
        "/api/v1/products/0",
        "/api/v1/products/abc",
        "/api/v1/products/-1",
    ],
)
async def test_get_missing_or_malformed_id_is_404(client: Any, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert (await _json(response))["error"] == "NOT_FOUND"


# -- updates and deletes -----------------------------------------------------------------


async def test_patch_by_owner_changes_only_given_fields(client: Any, owner: User) -> None:
    product = await create_product(client, owner[1], description="Old")
    response = await client.patch(
        f"/api/v1/products/{product['id']}",
        json={"price_cents": 2500},
        headers=bearer(owner[1]),
    )
    assert response.status_code == 200
    changed = await _json(response)
    assert changed["price_cents"] == 2500
    assert {k: v for k, v in changed.items() if k not in {"price_cents", "updated_at"}} == {
        k: v for k, v in product.items() if k not in {"price_cents", "updated_at"}
    }
    assert changed["updated_at"] >= product["updated_at"]
    assert await _json(await client.get(f"/api/v1/products/{product['id']}")) == changed


async def test_patch_with_null_description_clears_it(client: Any, owner: User) -> None:
    product = await create_product(client, owner[1], description="Old")
    response = await client.patch(
        f"/api/v1/products/{product['id']}", json={"description": None}, headers=bearer(owner[1])
    )
    assert response.status_code == 200
    assert (await _json(response))["description"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", None),
        ("sku", None),
        ("price_cents", None),
        ("price_cents", "5"),
        ("sku", "bad"),
        ("owner_id", 1),
    ],
)
async def test_patch_with_invalid_field_is_400(
    client: Any, owner: User, field: str, value: Any
) -> None:
    product = await create_product(client, owner[1])
    response = await client.patch(
        f"/api/v1/products/{product['id']}", json={field: value}, headers=bearer(owner[1])
    )
    assert response.status_code == 400
    assert (await _json(response))["error"] == "VALIDATION_ERROR"


async def test_patch_to_taken_sku_is_409_and_changes_nothing(client: Any, owner: User) -> None:
    first = await create_product(client, owner[1])
    second = await create_product(client, owner[1])
    response = await client.patch(
        f"/api/v1/products/{second['id']}", json={"sku": first["sku"]}, headers=bearer(owner[1])
    )
    assert response.status_code == 409
    assert await _json(await client.get(f"/api/v1/products/{second['id']}")) == second


async def test_patch_to_own_sku_is_200(client: Any, owner: User) -> None:
    product = await create_product(client, owner[1])
    response = await client.patch(
        f"/api/v1/products/{product['id']}", json={"sku": product["sku"]}, headers=bearer(owner[1])
    )
    assert response.status_code == 200


async def test_put_replaces_the_product(client: Any, owner: User) -> None:
    product = await create_product(client, owner[1], description="Old")
    replacement = {"name": "New", "sku": "NEW-SKU-1", "price_cents": 5}
    response = await client.put(
        f"/api/v1/products/{product['id']}", json=replacement, headers=bearer(owner[1])
    )
    assert response.status_code == 200
    body = await _json(response)
    assert {k: body[k] for k in replacement} == replacement
    assert body["description"] is None  # left out of a replacement: cleared
    assert body["owner_id"] == product["owner_id"]


async def test_put_with_missing_field_is_400(client: Any, owner: User) -> None:
    product = await create_product(client, owner[1])
    response = await client.put(
        f"/api/v1/products/{product['id']}", json={"name": "Only"}, headers=bearer(owner[1])
    )
    assert response.status_code == 400
    _assert_validation_error(await _json(response), "sku")


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
async def test_write_by_non_owner_is_403_and_changes_nothing(
    client: Any, owner: User, other: User, method: str
) -> None:
    product = await create_product(client, owner[1])
    response = await getattr(client, method)(
        f"/api/v1/products/{product['id']}",
        json=product_body(name="Mine now") if method != "delete" else None,
        headers=bearer(other[1]),
    )
    assert response.status_code == 403
    assert (await _json(response))["error"] == "FORBIDDEN"
    assert await _json(await client.get(f"/api/v1/products/{product['id']}")) == product


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
async def test_write_anonymous_is_401(client: Any, owner: User, method: str) -> None:
    product = await create_product(client, owner[1])
    response = await getattr(client, method)(
        f"/api/v1/products/{product['id']}",
        json=product_body() if method != "delete" else None,
    )
    assert response.status_code == 401


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
async def test_write_to_missing_product_is_404(client: Any, other: User, method: str) -> None:
    response = await getattr(client, method)(
        "/api/v1/products/424242",
        json=product_body() if method != "delete" else None,
        headers=bearer(other[1]),
    )
    assert response.status_code == 404


async def test_patch_by_admin_is_200(client: Any, owner: User, admin: User) -> None:
    product = await create_product(client, owner[1])
    response = await client.patch(
        f"/api/v1/products/{product['id']}", json={"name": "Fixed"}, headers=bearer(admin[1])
    )
    assert response.status_code == 200
    body = await _json(response)
    assert body["name"] == "Fixed"
    assert body["owner_id"] == owner[0]["id"]  # an admin's edit does not take ownership


async def test_put_by_admin_is_200(client: Any, owner: User, admin: User) -> None:
    product = await create_product(client, owner[1])
    response = await client.put(
        f"/api/v1/products/{product['id']}",
        json={"name": "Fixed", "sku": product["sku"], "price_cents": 1},
        headers=bearer(admin[1]),
    )
    assert response.status_code == 200


async def test_delete_by_owner_is_204_then_404(client: Any, owner: User) -> None:
    product = await create_product(client, owner[1])
    response = await client.delete(f"/api/v1/products/{product['id']}", headers=bearer(owner[1]))
    assert response.status_code == 204
    assert await response.get_data() == b""
    assert (await client.get(f"/api/v1/products/{product['id']}")).status_code == 404


async def test_delete_by_admin_is_204(client: Any, owner: User, admin: User) -> None:
    product = await create_product(client, owner[1])
    response = await client.delete(f"/api/v1/products/{product['id']}", headers=bearer(admin[1]))
    assert response.status_code == 204
    assert await _total(client) == 0
