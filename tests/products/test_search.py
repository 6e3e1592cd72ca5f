"""`q` and the list bounds: the same answers on SQLite and PostgreSQL for any text or size."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from service.database import unicode_lower
from tests.factories import bearer, create_product, user_with_token
from tests.plugins.backends import POSTGRES_ADMIN_URL, Backend

User = tuple[dict[str, Any], str]

NAMES = ["Ωmega ≠ ∞", "ΟΔΟΣ", "Straße", "ÉCOLE", "İstanbul", "ǅemal", "plain widget"]


async def _names(client: Any, query: str) -> list[str]:
    response = await client.get("/api/v1/products/", query_string={"q": query, "sort": "id"})
    assert response.status_code == 200
    return [product["name"] for product in await response.get_json()]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Ωmega ≠ ∞", ["Ωmega ≠ ∞"]),  # a name, exactly
        ("ωMEGA ≠", ["Ωmega ≠ ∞"]),
        ("≠ ∞", ["Ωmega ≠ ∞"]),
        ("οδοσ", ["ΟΔΟΣ"]),  # lower() maps capital sigma to the medial form anywhere
        ("ΟΔΟΣ", ["ΟΔΟΣ"]),
        ("STRAßE", ["Straße"]),
        ("strasse", []),  # lower(), not case folding: ß stays ß (as PostgreSQL does)
        ("école", ["ÉCOLE"]),
        ("istanbul", ["İstanbul"]),  # İ lowers to a plain i, as in PostgreSQL
        ("ǆEMAL", ["ǅemal"]),
        ("WIDGET", ["plain widget"]),
        ("é", ["ÉCOLE"]),
    ],
)
async def test_q_matches_any_text_in_any_case(
    client: Any, owner: User, query: str, expected: list[str]
) -> None:
    for name in NAMES:
        await create_product(client, owner[1], name=name)
    assert await _names(client, query) == expected
    response = await client.get("/api/v2/products/", query_string={"q": query})
    assert [product["name"] for product in (await response.get_json())["data"]] == expected


async def test_q_longer_than_any_name_is_200_empty(client: Any, owner: User) -> None:
    await create_product(client, owner[1], name="x" * 200)
    assert await _names(client, "x" * 200) == ["x" * 200]
    assert await _names(client, "x" * 500) == []
    # Past SQLite's LIKE pattern limit (50,000 bytes: "pattern too complex", a 500 before).
    assert await _names(client, "x" * 60_000) == []
    v2 = await client.get("/api/v2/products/", query_string={"q": "x" * 60_000})
    assert v2.status_code == 200
    assert (await v2.get_json())["data"] == []


@pytest.mark.parametrize("page", ["1000001", str(2**63), "1" + "0" * 400])
async def test_page_of_any_size_past_the_end_is_200_empty(
    client: Any, owner: User, page: str
) -> None:
    await create_product(client, owner[1])
    response = await client.get(f"/api/v1/products/?page={page}")
    assert response.status_code == 200
    assert await response.get_json() == []
    assert response.headers["X-Total-Count"] == "1"
    assert 'rel="prev"' in response.headers["Link"]


@pytest.mark.parametrize("page", ["1000001", "1" + "0" * 400])
async def test_users_page_of_any_size_past_the_end_is_200_empty(
    client: Any, settings: Any, page: str
) -> None:
    _, token = await user_with_token(client, settings, admin=True)
    response = await client.get(f"/api/v1/users/?page={page}", headers=bearer(token))
    assert response.status_code == 200
    assert await response.get_json() == []


async def test_price_bounds_of_any_size_are_200(client: Any, owner: User) -> None:
    await create_product(client, owner[1], price_cents=1_000_000_000)
    huge = "1" + "0" * 400
    low = await client.get(f"/api/v1/products/?max_price={huge}")
    assert [p["price_cents"] for p in await low.get_json()] == [1_000_000_000]
    high = await client.get(f"/api/v1/products/?min_price={huge}")
    assert high.status_code == 200
    assert await high.get_json() == []
    v2 = await client.get(f"/api/v2/products/?min_price={2**40}&max_price={huge}")
    assert (await v2.get_json())["data"] == []


async def test_sqlite_lower_is_postgresql_lower_for_every_character(
    postgres_backend: Backend,
) -> None:
    """The function SQLite searches with agrees with the server's lower(), code point by
    code point (all of Unicode but the surrogates, which text cannot hold)."""
    text = "".join(chr(point) for point in range(1, 0x110000) if not 0xD800 <= point <= 0xDFFF)
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        lowered = await connection.fetchval("SELECT lower($1::text)", text)
    finally:
        await connection.close()
    mine = unicode_lower(text)
    differing = [hex(ord(c)) for c, a, b in zip(text, lowered, mine, strict=True) if a != b]
    assert differing == []
    # Context never matters (no final-sigma rule): a word-final capital sigma too.
    assert unicode_lower("ΟΔΟΣ ΟΔΟΣ.") == "οδοσ οδοσ."
