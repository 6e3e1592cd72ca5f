"""Product lists over HTTP on both backends: v1 filters, sorts and pages; v2 cursors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from service.config import Settings
from service.database import create_engine
from service.products.models import Product
from tests.factories import bearer, create_product, product_body

User = tuple[dict[str, Any], str]

SORTS = [
    "id",
    "-id",
    "name",
    "-name",
    "price_cents",
    "-price_cents",
    "created_at",
    "-created_at",
]


async def _json(response: Any) -> Any:
    return await response.get_json()


def _assert_validation_error(body: dict[str, Any], field: str) -> None:
    assert body["error"] == "VALIDATION_ERROR"
    assert body["status_code"] == 400
    assert field in body["details"]["fields"], body


# -- v1 list: filters, sorts, pages ------------------------------------------------------


async def test_list_anonymous_empty_is_200_with_zero_total(client: Any) -> None:
    response = await client.get("/api/v1/products/")
    assert response.status_code == 200
    assert await _json(response) == []
    assert response.headers["X-Total-Count"] == "0"


async def test_list_q_matches_substring_in_any_case(client: Any, owner: User) -> None:
    for name in ("Blue Widget", "blue gadget", "RED WIDGET", "Green thing"):
        await create_product(client, owner[1], name=name)
    response = await client.get("/api/v1/products/?q=WiDgEt")
    assert sorted(p["name"] for p in await _json(response)) == ["Blue Widget", "RED WIDGET"]
    assert response.headers["X-Total-Count"] == "2"


async def test_list_q_treats_like_wildcards_literally(client: Any, owner: User) -> None:
    for name in ("100% cotton", "1000 cotton", "snake_case", "snakeXcase"):
        await create_product(client, owner[1], name=name)
    percent = await _json(await client.get("/api/v1/products/?q=0%25"))
    assert [p["name"] for p in percent] == ["100% cotton"]
    underscore = await _json(await client.get("/api/v1/products/?q=e_c"))
    assert [p["name"] for p in underscore] == ["snake_case"]


async def test_list_price_bounds_are_inclusive(client: Any, owner: User) -> None:
    for price in (99, 100, 150, 200, 201):
        await create_product(client, owner[1], price_cents=price)
    response = await client.get("/api/v1/products/?min_price=100&max_price=200")
    assert [p["price_cents"] for p in await _json(response)] == [100, 150, 200]
    only_min = await _json(await client.get("/api/v1/products/?min_price=200"))
    assert [p["price_cents"] for p in only_min] == [200, 201]
    equal = await _json(await client.get("/api/v1/products/?min_price=150&max_price=150"))
    assert [p["price_cents"] for p in equal] == [150]


async def test_list_filters_combine(client: Any, owner: User) -> None:
    await create_product(client, owner[1], name="cheap widget", price_cents=10)
    await create_product(client, owner[1], name="dear widget", price_cents=1000)
    await create_product(client, owner[1], name="dear gadget", price_cents=1000)
    body = await _json(await client.get("/api/v1/products/?q=widget&min_price=500"))
    assert [p["name"] for p in body] == ["dear widget"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("min_price=300&max_price=200", "max_price"),
        ("min_price=abc", "min_price"),
        ("max_price=12.0", "max_price"),
        ("min_price=1_000", "min_price"),
        ("min_price=-1", "min_price"),
        ("sort=price", "sort"),
        ("sort=--id", "sort"),
        ("sort=+name", "sort"),
        ("sort=owner_id", "sort"),
        ("page=0", "page"),
        ("per_page=101", "per_page"),
    ],
)
async def test_list_with_invalid_query_is_400(client: Any, query: str, field: str) -> None:
    response = await client.get(f"/api/v1/products/?{query}")
    assert response.status_code == 400
    _assert_validation_error(await _json(response), field)


async def _seed_for_sorting(client: Any, settings: Settings, token: str) -> list[dict[str, Any]]:
    """12 products with repeated names and prices, and some equal timestamps."""
    names = ["cherry", "apple", "banana", "apple", "cherry", "apple"] * 2
    prices = [300, 100, 200, 100, 300, 200, 100, 300, 100, 200, 200, 300]
    products = [
        await create_product(client, token, name=name, price_cents=price)
        for name, price in zip(names, prices, strict=True)
    ]
    await _share_created_at(settings, [p["id"] for p in products[3:7]])
    return await _json(await client.get("/api/v1/products/?per_page=100"))


async def _share_created_at(settings: Settings, ids: list[int]) -> None:
    """Give several products the very same `created_at`, to exercise the id tie-break."""
    engine = create_engine(settings)
    async with engine.begin() as connection:
        moment = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
        await connection.execute(
            update(Product).where(Product.id.in_(ids)).values(created_at=moment)
        )
    await engine.dispose()


def _expected_ids(products: list[dict[str, Any]], sort: str) -> list[int]:
    key = sort.removeprefix("-")

    def sort_key(product: dict[str, Any]) -> tuple[Any, int]:
        value = product[key]
        if key == "created_at":
            value = datetime.fromisoformat(value)
        return value, product["id"]

    ordered = sorted(products, key=sort_key, reverse=sort.startswith("-"))
    return [product["id"] for product in ordered]


@pytest.mark.parametrize("sort", SORTS)
async def test_list_sorted_orders_by_key_then_id_in_the_same_direction(
    client: Any, settings: Settings, owner: User, sort: str
) -> None:
    products = await _seed_for_sorting(client, settings, owner[1])
    response = await client.get(f"/api/v1/products/?sort={sort}&per_page=100")
    assert response.status_code == 200
    assert [p["id"] for p in await _json(response)] == _expected_ids(products, sort)


async def test_list_default_sort_is_by_id(client: Any, owner: User) -> None:
    created = [await create_product(client, owner[1], name=n) for n in ("c", "a", "b")]
    listed = await _json(await client.get("/api/v1/products/"))
    assert [p["id"] for p in listed] == sorted(p["id"] for p in created)


async def test_list_pages_carry_total_and_links(client: Any, owner: User) -> None:
    for _ in range(5):
        await create_product(client, owner[1], name="paged")
    first = await client.get("/api/v1/products/?per_page=2&q=paged&sort=-id")
    assert first.headers["X-Total-Count"] == "5"
    links = _links(first.headers["Link"])
    assert set(links) == {"first", "last", "next"}
    assert links["next"] == {"page": ["2"], "per_page": ["2"], "q": ["paged"], "sort": ["-id"]}
    assert links["last"]["page"] == ["3"]

    middle = await client.get("/api/v1/products/?per_page=2&page=2")
    assert set(_links(middle.headers["Link"])) == {"first", "last", "next", "prev"}
    assert _links(middle.headers["Link"])["prev"]["page"] == ["1"]

    last = await client.get("/api/v1/products/?per_page=2&page=3")
    assert len(await _json(last)) == 1
    assert "next" not in _links(last.headers["Link"])

    pages = []
    for page in (1, 2, 3):
        body = await _json(await client.get(f"/api/v1/products/?per_page=2&page={page}"))
        pages.extend(p["id"] for p in body)
    assert len(pages) == len(set(pages)) == 5


async def test_list_page_past_the_end_is_200_empty(client: Any, owner: User) -> None:
    await create_product(client, owner[1])
    response = await client.get("/api/v1/products/?page=5&per_page=10")
    assert response.status_code == 200
    assert await _json(response) == []
    assert response.headers["X-Total-Count"] == "1"
    assert _links(response.headers["Link"])["prev"]["page"] == ["1"]


def _links(header: str) -> dict[str, dict[str, list[str]]]:
    links = {}
    for part in header.split(","):
        url, rel = part.split(";")
        links[rel.strip().removeprefix('rel="').removesuffix('"')] = parse_qs(
            urlsplit(url.strip().strip("<>")).query
        )
    return links


# -- v2 ----------------------------------------------------------------------------------


async def _walk(client: Any, query: str, limit: int) -> list[int]:
    """Follow next_cursor from the first page to the last; the ids in order."""
    ids: list[int] = []
    url = f"/api/v2/products/?limit={limit}&{query}"
    for _ in range(100):
        response = await client.get(url)
        assert response.status_code == 200, await response.get_data(as_text=True)
        body = await _json(response)
        assert set(body) == {"data", "next_cursor"}
        assert len(body["data"]) <= limit
        ids.extend(p["id"] for p in body["data"])
        if body["next_cursor"] is None:
            return ids
        url = f"/api/v2/products/?limit={limit}&{query}&cursor={body['next_cursor']}"
    raise AssertionError("the cursors never ended")


async def _seed_for_walking(client: Any, settings: Settings, token: str) -> list[dict[str, Any]]:
    """25 products with repeated names and prices, and a run of equal timestamps."""
    names = ["apple", "banana", "cherry", "apple", "banana"]
    prices = [500, 100, 500, 300, 100, 500, 200]
    products = [
        await create_product(client, token, name=names[i % 5], price_cents=prices[i % 7])
        for i in range(25)
    ]
    await _share_created_at(settings, [p["id"] for p in products[5:12]])
    return await _json(await client.get("/api/v1/products/?per_page=100"))


async def test_v2_cursor_walk_visits_every_item_once_for_every_sort(
    client: Any, settings: Settings, owner: User
) -> None:
    products = await _seed_for_walking(client, settings, owner[1])
    assert len(products) == 25
    for sort in SORTS:
        for limit in (1, 4, 25):
            ids = await _walk(client, f"sort={sort}", limit)
            assert ids == _expected_ids(products, sort), (sort, limit)


async def test_v2_cursor_walk_with_filters_visits_every_match_once(
    client: Any, settings: Settings, owner: User
) -> None:
    products = await _seed_for_walking(client, settings, owner[1])
    matching = [p for p in products if "an" in p["name"] and 100 <= p["price_cents"] <= 300]
    assert matching
    for sort in ("-price_cents", "name", "-created_at"):
        ids = await _walk(client, f"q=AN&min_price=100&max_price=300&sort={sort}", 3)
        assert ids == _expected_ids(matching, sort)


async def test_v2_last_page_has_null_cursor_and_empty_list_is_200(client: Any, owner: User) -> None:
    empty = await _json(await client.get("/api/v2/products/"))
    assert empty == {"data": [], "next_cursor": None}
    for _ in range(2):
        await create_product(client, owner[1])
    exact = await _json(await client.get("/api/v2/products/?limit=2"))
    assert len(exact["data"]) == 2
    assert exact["next_cursor"] is None


async def test_v2_default_limit_is_20(client: Any, owner: User) -> None:
    for _ in range(21):
        await create_product(client, owner[1])
    body = await _json(await client.get("/api/v2/products/"))
    assert len(body["data"]) == 20
    assert body["next_cursor"]


async def _first_cursor(client: Any, token: str, query: str = "") -> str:
    for _ in range(3):
        await create_product(client, token)
    body = await _json(await client.get(f"/api/v2/products/?limit=1&{query}"))
    cursor: str = body["next_cursor"]
    return cursor


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"),
        lambda c: "x" + c,
        lambda c: c.rsplit(".", 1)[0],
        lambda c: "garbage",
        lambda c: "",
    ],
)
async def test_v2_altered_cursor_is_400(client: Any, owner: User, tamper: Any) -> None:
    cursor = await _first_cursor(client, owner[1])
    response = await client.get(f"/api/v2/products/?limit=1&cursor={tamper(cursor)}")
    assert response.status_code == 400
    _assert_validation_error(await _json(response), "cursor")


async def test_v2_forged_cursor_with_right_shape_is_400(client: Any, owner: User) -> None:
    from itsdangerous import URLSafeSerializer

    await _first_cursor(client, owner[1])
    forged = URLSafeSerializer("guessed-secret", salt="products-cursor").dumps(
        {
            "for": {"sort": "id", "q": None, "min_price": None, "max_price": None},
            "value": 1,
            "id": 1,
        }
    )
    response = await client.get(f"/api/v2/products/?cursor={forged}")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "changed", ["sort=-id", "sort=name", "q=widget", "min_price=1", "max_price=5000"]
)
async def test_v2_cursor_with_another_sort_or_filter_is_400(
    client: Any, owner: User, changed: str
) -> None:
    cursor = await _first_cursor(client, owner[1])
    response = await client.get(f"/api/v2/products/?limit=1&{changed}&cursor={cursor}")
    assert response.status_code == 400
    _assert_validation_error(await _json(response), "cursor")


async def test_v2_cursor_with_another_limit_is_accepted(client: Any, owner: User) -> None:
    cursor = await _first_cursor(client, owner[1], "sort=-price_cents")
    response = await client.get(f"/api/v2/products/?limit=5&sort=-price_cents&cursor={cursor}")
    assert response.status_code == 200
    assert len((await _json(response))["data"]) == 2


async def test_v2_users_cursor_is_refused_on_products(
    client: Any, admin: User, owner: User
) -> None:
    users = await _json(await client.get("/api/v2/users/?limit=1", headers=bearer(admin[1])))
    assert users["next_cursor"]
    response = await client.get(f"/api/v2/products/?cursor={users['next_cursor']}")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("sort=size", "sort"),
        ("min_price=2&max_price=1", "max_price"),
        ("min_price=x", "min_price"),
    ],
)
async def test_v2_invalid_query_is_400(client: Any, query: str, field: str) -> None:
    response = await client.get(f"/api/v2/products/?{query}")
    assert response.status_code == 400
    _assert_validation_error(await _json(response), field)


async def test_v2_item_routes_work_like_v1(client: Any, owner: User, other: User) -> None:
    response = await client.post(
        "/api/v2/products/", json=product_body(name="Two"), headers=bearer(owner[1])
    )
    assert response.status_code == 201
    product = await _json(response)
    assert response.headers["Location"].endswith(f"/api/v2/products/{product['id']}")
    path = f"/api/v2/products/{product['id']}"
    assert await _json(await client.get(path)) == product
    forbidden = await client.patch(path, json={"name": "x"}, headers=bearer(other[1]))
    assert forbidden.status_code == 403
    patched = await client.patch(path, json={"name": "Three"}, headers=bearer(owner[1]))
    assert (await _json(patched))["name"] == "Three"
    assert (await client.delete(path, headers=bearer(owner[1]))).status_code == 204
    assert (await client.get(path)).status_code == 404
