"""Product services: typed async functions over one session; they flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, false, func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.common.pagination import page_of
from service.database import find_row, flush_unique, is_unique_violation
from service.products.exceptions import ProductNotFound, SkuTaken
from service.products.models import Product
from service.products.schemas import (
    MAX_PRICE_CENTS,
    ProductCreate,
    ProductFilters,
    ProductReplace,
    ProductUpdate,
)

# The escape character of `q`'s LIKE pattern.
LIKE_ESCAPE = "\\"


async def get_product(
    session: AsyncSession, product_id: int, *, for_update: bool = False
) -> Product:
    """The product with this id (`for_update`: locked and reloaded); raises ProductNotFound."""
    product = await find_row(session, Product, product_id, for_update=for_update)
    if product is None:
        raise ProductNotFound(product_id)
    return product


async def find_product_by_sku(session: AsyncSession, sku: str) -> Product | None:
    """The product with this sku, or None."""
    return await session.scalar(select(Product).where(Product.sku == sku))


async def list_products(
    session: AsyncSession, *, filters: ProductFilters, offset: int, limit: int
) -> tuple[Sequence[Product], int]:
    """One page of matching products in the requested order, and the total count."""
    query = _ordered(select(Product).where(*_conditions(filters)), filters)
    return await page_of(session, query, offset=offset, limit=limit)


async def list_products_after(
    session: AsyncSession,
    *,
    filters: ProductFilters,
    after: tuple[Any, int] | None,
    limit: int,
) -> Sequence[Product]:
    """Up to `limit` matching products that follow `after` = (sort value, id) (keyset page)."""
    query = select(Product).where(*_conditions(filters))
    if after is not None:
        # Row values: (sort value, id) past the cursor's, in the list's direction.
        position = tuple_(getattr(Product, filters.sort_key), Product.id)
        query = query.where(position < after if filters.descending else position > after)
    products = await session.scalars(_ordered(query, filters).limit(limit))
    return products.all()


async def product_ids_of(session: AsyncSession, *, owner_id: int) -> list[int]:
    """The ids of every product the user owns."""
    return list(await session.scalars(select(Product.id).where(Product.owner_id == owner_id)))


# Built once (a statement's cache key costs more than the INSERT); the row comes back whole.
PRODUCTS = Product.metadata.tables[Product.__tablename__]
PRODUCT_INSERT = insert(PRODUCTS).returning(*PRODUCTS.columns)


async def create_product(session: AsyncSession, *, owner_id: int, data: ProductCreate) -> Row[Any]:
    """A new product owned by `owner_id`, as its row; raises SkuTaken (the unique
    constraint decides)."""
    try:
        result = await session.execute(PRODUCT_INSERT, {**data.model_dump(), "owner_id": owner_id})
    except IntegrityError as error:
        if is_unique_violation(error):
            raise SkuTaken() from None
        raise
    return result.one()


async def update_product(
    session: AsyncSession, product: Product, *, data: ProductReplace | ProductUpdate
) -> Product:
    """Apply the given fields (all of them for a replacement); raises SkuTaken."""
    fields = data.model_dump(exclude_unset=not isinstance(data, ProductReplace))
    sku = fields.get("sku")
    if sku is not None and sku != product.sku and await find_product_by_sku(session, sku):
        raise SkuTaken()
    for name, value in fields.items():
        setattr(product, name, value)
    await flush_unique(session, SkuTaken)
    return product


async def delete_product(session: AsyncSession, product: Product) -> None:
    """Delete the product."""
    await session.delete(product)
    await session.flush()


# A name has at most 200 characters, and lower-casing one character gives at most three
# (Unicode's full mappings), so a longer `q` can match no name.
_LONGEST_FOLDED_NAME = 3 * 200


def _conditions(filters: ProductFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.q and len(filters.q) > _LONGEST_FOLDED_NAME:
        # No name can contain it; and SQLite refuses LIKE patterns over 50,000 bytes.
        conditions.append(false())
    elif filters.q:
        # The database's lower() on both sides, so name and `q` fold alike: PostgreSQL's
        # own, and on SQLite the Unicode-aware one service.database registers.
        pattern = func.lower(f"%{_escape_like(filters.q)}%")
        conditions.append(func.lower(Product.name).like(pattern, escape=LIKE_ESCAPE))
    # Stored prices lie in 0..MAX_PRICE_CENTS; clamping keeps a bound of any size bindable
    # as an integer without changing which products match.
    if filters.min_price is not None:
        conditions.append(Product.price_cents >= min(filters.min_price, MAX_PRICE_CENTS + 1))
    if filters.max_price is not None:
        conditions.append(Product.price_cents <= min(filters.max_price, MAX_PRICE_CENTS))
    return conditions


def _escape_like(text: str) -> str:
    """`text` as a LIKE pattern matching itself (no lower-casing creates %, _ or \\)."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text


def _ordered(query: Select[Product], filters: ProductFilters) -> Select[Product]:
    # Ties broken by id, in the same direction (sorting by id, the second is a no-op).
    columns = [getattr(Product, filters.sort_key), Product.id]
    return query.order_by(*(c.desc() if filters.descending else c.asc() for c in columns))
