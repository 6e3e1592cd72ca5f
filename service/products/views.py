"""`/products`: a collection view and an item view; v2 changes only the list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quart import Blueprint, current_app
from quart.views import MethodView
from quart_schema import (
    document_response,
    validate_querystring,
    validate_request,
    validate_response,
)

from service.auth.guards import auth_required, current_user
from service.common.conditional import require_if_match, tagged_read, tagged_write
from service.common.openapi import NoContent
from service.common.pagination import CursorCodec, CursorPage, page_headers
from service.common.schemas import ErrorBody
from service.common.urls import created_url
from service.common.views import add_class_view
from service.errors import InvalidInput
from service.extensions import db
from service.idempotency.requests import accepts_idempotency_key, idempotent
from service.products import caching, services
from service.products.exceptions import NotYourProduct
from service.products.models import Product
from service.products.schemas import (
    ProductCreate,
    ProductCursorQuery,
    ProductFilters,
    ProductPageQuery,
    ProductRead,
    ProductReplace,
    ProductUpdate,
)

Headers = dict[str, str]


class ProductCollection(MethodView):
    """Products: a public list; any user creates."""

    @validate_querystring(ProductPageQuery)
    @validate_response(list[ProductRead])
    @validate_response(ErrorBody, 400)
    async def get(self, query_args: ProductPageQuery) -> tuple[list[ProductRead], int, Headers]:
        """List products, filtered and sorted, with X-Total-Count and Link headers.

        `q` matches part of the name in any case; `min_price`/`max_price` are inclusive
        cents; `sort` is `id`, `name`, `price_cents` or `created_at`, `-` for descending.
        """

        async def load() -> dict[str, Any]:
            products, total = await services.list_products(
                db.session(),
                filters=query_args,
                offset=query_args.offset,
                limit=query_args.per_page,
            )
            items = [ProductRead.model_validate(p).model_dump(mode="json") for p in products]
            return {"items": items, "total": total}

        page = await caching.product_list_json("v1", query_args, load)
        body = [ProductRead.model_validate(item) for item in page["items"]]
        return body, 200, page_headers(query_args, page["total"])

    @auth_required
    @validate_request(ProductCreate)
    @validate_response(ProductRead, 201)
    @validate_response(ErrorBody, 400)
    @validate_response(ErrorBody, 401)
    @validate_response(ErrorBody, 409)
    @validate_response(ErrorBody, 422)
    @accepts_idempotency_key
    async def post(self, data: ProductCreate) -> tuple[ProductRead, int, Headers]:
        """Create a product owned by the caller."""

        async def create() -> tuple[ProductRead, int, Headers]:
            product = await services.create_product(
                db.session(), owner_id=current_user.id, data=data
            )
            caching.invalidate_after_commit(owner_ids=[product.owner_id])
            location = created_url(product.id)
            return ProductRead.model_validate(product), 201, {"Location": location}

        return await idempotent(create)


class ProductItem(MethodView):
    """One product: public reads; the owner or an admin changes it."""

    @validate_response(ProductRead)
    @validate_response(ErrorBody, 404)
    @tagged_read
    async def get(self, id: int) -> ProductRead:
        """One product."""
        return ProductRead.model_validate(await caching.product_json(id))

    @auth_required
    @validate_request(ProductReplace)
    @validate_response(ProductRead)
    @validate_response(ErrorBody, 400)
    @validate_response(ErrorBody, 401)
    @validate_response(ErrorBody, 403)
    @validate_response(ErrorBody, 404)
    @validate_response(ErrorBody, 409)
    @tagged_write
    async def put(self, id: int, data: ProductReplace) -> ProductRead:
        """Replace a product (owner or admin); a left-out description is cleared."""
        return await _update(id, data)

    @auth_required
    @validate_request(ProductUpdate)
    @validate_response(ProductRead)
    @validate_response(ErrorBody, 400)
    @validate_response(ErrorBody, 401)
    @validate_response(ErrorBody, 403)
    @validate_response(ErrorBody, 404)
    @validate_response(ErrorBody, 409)
    @tagged_write
    async def patch(self, id: int, data: ProductUpdate) -> ProductRead:
        """Update some fields of a product (owner or admin)."""
        return await _update(id, data)

    @auth_required
    @document_response(NoContent, 204)
    @validate_response(ErrorBody, 401)
    @validate_response(ErrorBody, 403)
    @validate_response(ErrorBody, 404)
    @tagged_write
    async def delete(self, id: int) -> tuple[str, int]:
        """Delete a product (owner or admin)."""
        session = db.session()
        product = await services.get_product(session, id, for_update=True)
        ensure_owner_or_admin(product)
        require_if_match(ProductRead.model_validate(product))
        await services.delete_product(session, product)
        caching.invalidate_after_commit(product_ids=[id], owner_ids=[product.owner_id])
        return "", 204


def ensure_owner_or_admin(product: Product) -> None:
    # Products are public, so a 404 before the 403 reveals nothing.
    if not current_user.is_admin and product.owner_id != current_user.id:
        raise NotYourProduct()


async def _update(product_id: int, data: ProductReplace | ProductUpdate) -> ProductRead:
    session = db.session()
    product = await services.get_product(session, product_id, for_update=True)
    ensure_owner_or_admin(product)
    require_if_match(ProductRead.model_validate(product))
    product = await services.update_product(session, product, data=data)
    caching.invalidate_after_commit(product_ids=[product_id], owner_ids=[product.owner_id])
    return ProductRead.model_validate(product)


class ProductCollectionV2(ProductCollection):
    """v2: the same, with a signed keyset cursor on the list."""

    @validate_querystring(ProductCursorQuery)
    @validate_response(CursorPage[ProductRead])
    @validate_response(ErrorBody, 400)
    async def get(self, query_args: ProductCursorQuery) -> CursorPage[ProductRead]:
        """List products, filtered and sorted, a page at a time by cursor.

        Takes the same `q`, `min_price`, `max_price` and `sort` as v1; a cursor works only
        with the sort and filters it was issued for.
        """
        codec = _cursor_codec()
        after = None
        if query_args.cursor is not None:  # an empty cursor is no cursor we issued
            after = _decode_cursor(codec, query_args.cursor, query_args)

        async def load() -> dict[str, Any]:
            products = await services.list_products_after(
                db.session(), filters=query_args, after=after, limit=query_args.limit + 1
            )
            page = products[: query_args.limit]
            next_cursor = None
            if len(products) > query_args.limit:
                next_cursor = codec.encode(_position_of(page[-1], query_args))
            data = [ProductRead.model_validate(p).model_dump(mode="json") for p in page]
            return {"data": data, "next_cursor": next_cursor}

        cached = await caching.product_list_json("v2", query_args, load)
        return CursorPage[ProductRead].model_validate(cached)


def _cursor_codec() -> CursorCodec:
    return CursorCodec(current_app.config["SECRET_KEY"], salt="products-cursor")


def _position_of(product: Product, filters: ProductFilters) -> dict[str, Any]:
    value: Any = getattr(product, filters.sort_key)
    if isinstance(value, datetime):
        value = value.isoformat()
    return {"for": filters.identity(), "value": value, "id": product.id}


def _decode_cursor(codec: CursorCodec, cursor: str, filters: ProductFilters) -> tuple[Any, int]:
    """The (sort value, id) a signed cursor points after; 400 when it does not fit."""
    position = codec.decode(cursor)
    if position.get("for") != filters.identity():
        raise InvalidInput.for_fields(
            {"cursor": ["This cursor was issued for another sort or filter"]}
        )
    after_id, value = position.get("id"), position.get("value")
    if isinstance(after_id, int) and not isinstance(after_id, bool):
        key = filters.sort_key
        if key == "id":
            return after_id, after_id
        if key == "name" and isinstance(value, str):
            return value, after_id
        if key == "price_cents" and isinstance(value, int) and not isinstance(value, bool):
            return value, after_id
        if key == "created_at" and isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is not None:
                return moment, after_id
    raise InvalidInput.for_fields({"cursor": ["Malformed cursor"]})


blueprint_v1 = Blueprint("products", __name__)
add_class_view(blueprint_v1, "/", ProductCollection.as_view("products"))
add_class_view(blueprint_v1, "/<id:id>", ProductItem.as_view("products"))
blueprint_v2 = Blueprint("products", __name__)
add_class_view(blueprint_v2, "/", ProductCollectionV2.as_view("products"))
add_class_view(blueprint_v2, "/<id:id>", ProductItem.as_view("products"))
