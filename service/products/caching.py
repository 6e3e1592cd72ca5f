"""Cached product reads (the item and every list page) and what a product write drops.

The cache holds JSON-ready data, never a response: anyone may read products, and the
same entry serves every caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from service.common.pagination import Keyset
from service.extensions import cache, db
from service.products import services
from service.products.schemas import SORT_TYPES, ProductCursorQuery, ProductPageQuery, ProductRead
from service.users.caching import STATS, JSONDict

LISTS = "products:list"
ITEM = "product:{product_id}"


@cache.memoize(ITEM, lock=False)
async def product_json(product_id: int) -> JSONDict:
    """One product as JSON data; raises ProductNotFound (never cached)."""
    product = await services.get_product(db.session(), product_id)
    return ProductRead.model_validate(product).model_dump(mode="json")


# A list page is cached per query, defaults filled in (the model's text form).
@cache.memoize(LISTS, key=":{query}")
async def page_json(query: ProductPageQuery) -> JSONDict:
    """A v1 page as JSON data, with the total count."""
    products, total = await services.list_products(
        db.session(), filters=query, offset=query.offset, limit=query.per_page
    )
    return {"items": _dump(products), "total": total}


@cache.memoize(LISTS, key=":{query}")
async def cursor_page_json(query: ProductCursorQuery) -> JSONDict:
    """A v2 page as JSON data, with the next page's cursor."""
    keyset = Keyset("products-cursor", SORT_TYPES[query.sort_key], scope=query.identity())
    products = await services.list_products_after(
        db.session(), filters=query, after=keyset.after(query.cursor), limit=query.limit + 1
    )
    page, next_cursor = keyset.page(
        products, query.limit, lambda p: (getattr(p, query.sort_key), p.id)
    )
    return {"data": _dump(page), "next_cursor": next_cursor}


def delete(product_ids: Iterable[int], owner_id: int) -> None:
    """Drop the items, every list page and the owner's stats with the write's commit."""
    items = [ITEM.format(product_id=product_id) for product_id in product_ids]
    cache.delete(LISTS, *items, STATS.format(user_id=owner_id))


def _dump(products: Iterable[Any]) -> list[JSONDict]:
    return [ProductRead.model_validate(p).model_dump(mode="json") for p in products]
