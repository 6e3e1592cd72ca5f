"""Product services, called directly on a session of each backend."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.database import find_row
from service.products import services
from service.products.exceptions import ProductNotFound, SkuTaken
from service.products.models import Product
from service.products.schemas import (
    ProductCreate,
    ProductFilters,
    ProductReplace,
    ProductUpdate,
)
from service.users.models import User
from tests.factories import new_sku


async def _user(session: AsyncSession, email: str = "owner@example.com") -> User:
    user = User(email=email, name="Owner", password_hash="not-a-real-hash")
    session.add(user)
    await session.flush()
    return user


async def _product(session: AsyncSession, owner: User, **fields: Any) -> Product:
    values: dict[str, Any] = {"name": "Widget", "sku": new_sku(), "price_cents": 100}
    values.update(fields)
    row = await services.create_product(session, owner_id=owner.id, data=ProductCreate(**values))
    return await services.get_product(session, row.id)  # the ORM object, to update


async def test_create_product_sets_owner_and_timestamps(session: AsyncSession) -> None:
    owner = await _user(session)
    product = await _product(session, owner, description="Blue")
    assert product.id is not None
    assert product.owner_id == owner.id
    assert product.description == "Blue"
    assert product.created_at.tzinfo is not None
    fetched = await services.get_product(session, product.id)
    assert (fetched.sku, fetched.owner_id, fetched.created_at) == (
        product.sku,
        product.owner_id,
        product.created_at,
    )


async def test_create_product_with_taken_sku_raises_sku_taken(session: AsyncSession) -> None:
    owner = await _user(session)
    first = await _product(session, owner)
    with pytest.raises(SkuTaken):
        await _product(session, owner, sku=first.sku)


async def test_create_product_racing_past_the_precheck_raises_sku_taken(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await _user(session)
    first = await _product(session, owner)

    async def nothing_found(_session: AsyncSession, _sku: str) -> None:
        return None

    # As if a concurrent request inserted the sku after our check: the constraint decides.
    monkeypatch.setattr(services, "find_product_by_sku", nothing_found)
    with pytest.raises(SkuTaken):
        await _product(session, owner, sku=first.sku)


async def test_get_product_missing_raises_not_found(session: AsyncSession) -> None:
    with pytest.raises(ProductNotFound, match="Product 12345 not found"):
        await services.get_product(session, 12345)
    assert await find_row(session, Product, 12345) is None


async def test_update_product_partial_keeps_unset_fields(session: AsyncSession) -> None:
    owner = await _user(session)
    product = await _product(session, owner, description="Keep me", price_cents=5)
    await services.update_product(session, product, data=ProductUpdate(name="Renamed"))
    assert (product.name, product.price_cents, product.description) == (
        "Renamed",
        5,
        "Keep me",
    )


async def test_update_product_replacement_clears_left_out_description(
    session: AsyncSession,
) -> None:
    owner = await _user(session)
    product = await _product(session, owner, description="Gone soon")
    data = ProductReplace(name="New", sku="NEW-1", price_cents=7)
    await services.update_product(session, product, data=data)
    assert (product.name, product.sku, product.price_cents, product.description) == (
        "New",
        "NEW-1",
        7,
        None,
    )


async def test_update_product_to_taken_sku_raises_sku_taken(session: AsyncSession) -> None:
    owner = await _user(session)
    first = await _product(session, owner)
    second = await _product(session, owner)
    with pytest.raises(SkuTaken):
        await services.update_product(session, second, data=ProductUpdate(sku=first.sku))


async def test_delete_product_removes_it(session: AsyncSession) -> None:
    owner = await _user(session)
    product = await _product(session, owner)
    await services.delete_product(session, product)
    assert await find_row(session, Product, product.id) is None


async def test_list_products_filters_and_counts(session: AsyncSession) -> None:
    owner = await _user(session)
    for name, price in [("Blue Widget", 100), ("blue widget XL", 300), ("Red", 200)]:
        await _product(session, owner, name=name, price_cents=price)
    filters = ProductFilters(q="WIDGET", min_price=100, max_price=200)
    products, total = await services.list_products(session, filters=filters, offset=0, limit=10)
    assert [p.name for p in products] == ["Blue Widget"]
    assert total == 1


async def test_list_products_counts_all_matches_beyond_the_page(session: AsyncSession) -> None:
    owner = await _user(session)
    for _ in range(5):
        await _product(session, owner)
    products, total = await services.list_products(
        session, filters=ProductFilters(sort="-id"), offset=1, limit=2
    )
    assert len(products) == 2
    assert total == 5
    assert products[0].id > products[1].id


@pytest.mark.parametrize("sort", ["price_cents", "-price_cents", "name", "-name", "-id"])
async def test_list_products_after_continues_from_the_position(
    session: AsyncSession, sort: str
) -> None:
    owner = await _user(session)
    for name, price in [("b", 2), ("a", 1), ("b", 2), ("a", 2), ("c", 1), ("b", 1)]:
        await _product(session, owner, name=name, price_cents=price)
    filters = ProductFilters(sort=sort)
    everything = list(
        await services.list_products_after(session, filters=filters, after=None, limit=100)
    )
    key = filters.sort_key
    seen: list[int] = []
    after = None
    while True:
        page = await services.list_products_after(session, filters=filters, after=after, limit=2)
        if not page:
            break
        seen.extend(p.id for p in page)
        after = (getattr(page[-1], key), page[-1].id)
    assert seen == [p.id for p in everything]
    assert len(set(seen)) == 6


def test_filters_refuse_max_below_min() -> None:
    with pytest.raises(ValueError, match="min_price"):
        ProductFilters(min_price=5, max_price=4)


def test_filters_identity_treats_empty_q_as_none() -> None:
    assert ProductFilters(q="").identity() == ProductFilters().identity()
