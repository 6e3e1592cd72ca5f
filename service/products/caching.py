"""Cached product reads and the invalidation every product write schedules.

The cache holds JSON-ready data, never a response: anyone may read products, and the
same entry serves every caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel

from service.extensions import cache, db
from service.products import services
from service.products.schemas import ProductRead

LIST_NAMESPACE = "products:list"

JSONDict = dict[str, Any]


def item_namespace(product_id: int) -> str:
    return f"product:{product_id}"


def list_key(version: str, query: BaseModel) -> str:
    """The normalised query string: defaults filled in, keys sorted."""
    return f"{version}?{urlencode(sorted(query.model_dump(exclude_none=True).items()))}"


async def product_json(product_id: int) -> JSONDict:
    """One product as JSON data; raises ProductNotFound (never cached)."""

    async def load() -> JSONDict:
        product = await services.get_product(db.session(), product_id)
        return ProductRead.model_validate(product).model_dump(mode="json")

    return await cache.get_or_compute(item_namespace(product_id), "item", load)


async def product_list_json(
    version: str, query: BaseModel, load: Callable[[], Awaitable[JSONDict]]
) -> JSONDict:
    """A list page as JSON data, cached per normalised query."""
    return await cache.get_or_compute(LIST_NAMESPACE, list_key(version, query), load)


def invalidate_after_commit(
    *, product_ids: Iterable[int] = (), owner_ids: Iterable[int] = ()
) -> None:
    """Drop the items, every list page and the owners' stats with the write's commit.

    Recorded before the commit too: a write whose invalidation Redis cannot take is refused.
    """
    namespaces = [LIST_NAMESPACE]
    namespaces += [item_namespace(product_id) for product_id in product_ids]
    namespaces += [f"stats:{owner_id}" for owner_id in owner_ids]
    cache.invalidate_with_commit(db, *namespaces)
