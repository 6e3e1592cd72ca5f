"""A user's products over HTTP on both backends: `/users/<id>/stats`, and deleting the user."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import bearer, create_product

User = tuple[dict[str, Any], str]


async def _json(response: Any) -> Any:
    return await response.get_json()


async def _total(client: Any, query: str = "") -> int:
    response = await client.get(f"/api/v1/products/?{query}")
    return int(response.headers["X-Total-Count"])


# -- /users/<id>/stats -------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_stats_of_self_sums_own_products_only(
    client: Any, owner: User, other: User, version: str
) -> None:
    for price in (100, 250, 0):
        await create_product(client, owner[1], price_cents=price)
    await create_product(client, other[1], price_cents=999)
    response = await client.get(
        f"/api/{version}/users/{owner[0]['id']}/stats", headers=bearer(owner[1])
    )
    assert response.status_code == 200
    assert await _json(response) == {
        "user_id": owner[0]["id"],
        "product_count": 3,
        "total_value_cents": 350,
    }


async def test_stats_without_products_is_zero(client: Any, owner: User) -> None:
    response = await client.get(f"/api/v1/users/{owner[0]['id']}/stats", headers=bearer(owner[1]))
    assert await _json(response) == {
        "user_id": owner[0]["id"],
        "product_count": 0,
        "total_value_cents": 0,
    }


async def test_stats_total_past_32_bits_is_exact(client: Any, owner: User) -> None:
    for _ in range(3):
        await create_product(client, owner[1], price_cents=1_000_000_000)
    response = await client.get(f"/api/v1/users/{owner[0]['id']}/stats", headers=bearer(owner[1]))
    assert (await _json(response))["total_value_cents"] == 3_000_000_000


async def test_stats_follow_product_writes(client: Any, owner: User) -> None:
    product = await create_product(client, owner[1], price_cents=100)
    path = f"/api/v1/users/{owner[0]['id']}/stats"
    await client.patch(
        f"/api/v1/products/{product['id']}", json={"price_cents": 700}, headers=bearer(owner[1])
    )
    assert (await _json(await client.get(path, headers=bearer(owner[1]))))[
        "total_value_cents"
    ] == 700
    await client.delete(f"/api/v1/products/{product['id']}", headers=bearer(owner[1]))
    assert (await _json(await client.get(path, headers=bearer(owner[1]))))["product_count"] == 0


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_stats_of_another_user_by_non_admin_is_403_whether_or_not_it_exists(
    client: Any, owner: User, other: User, version: str
) -> None:
    for user_id in (other[0]["id"], 999_999):
        response = await client.get(
            f"/api/{version}/users/{user_id}/stats", headers=bearer(owner[1])
        )
        assert response.status_code == 403
        assert (await _json(response))["error"] == "FORBIDDEN"


async def test_stats_of_another_user_by_admin_is_200(client: Any, owner: User, admin: User) -> None:
    await create_product(client, owner[1], price_cents=42)
    response = await client.get(f"/api/v1/users/{owner[0]['id']}/stats", headers=bearer(admin[1]))
    assert response.status_code == 200
    assert (await _json(response))["total_value_cents"] == 42


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_stats_of_missing_user_by_admin_is_404(
    client: Any, admin: User, version: str
) -> None:
    response = await client.get(f"/api/{version}/users/999999/stats", headers=bearer(admin[1]))
    assert response.status_code == 404
    assert (await _json(response))["error"] == "NOT_FOUND"


async def test_stats_anonymous_is_401(client: Any, owner: User) -> None:
    response = await client.get(f"/api/v1/users/{owner[0]['id']}/stats")
    assert response.status_code == 401


# -- deleting a user ---------------------------------------------------------------------


async def test_delete_user_deletes_their_products_only(
    client: Any, owner: User, other: User
) -> None:
    mine = [await create_product(client, owner[1]) for _ in range(3)]
    theirs = await create_product(client, other[1])
    response = await client.delete(f"/api/v1/users/{owner[0]['id']}", headers=bearer(owner[1]))
    assert response.status_code == 204
    for product in mine:
        assert (await client.get(f"/api/v1/products/{product['id']}")).status_code == 404
    assert (await client.get(f"/api/v1/products/{theirs['id']}")).status_code == 200
    assert await _total(client) == 1
    # The sku of a deleted product is free again.
    again = await create_product(client, other[1], sku=mine[0]["sku"])
    assert again["sku"] == mine[0]["sku"]
