"""`/products`: a collection view and an item view; v2 changes only the list."""

from __future__ import annotations

from quart import Blueprint
from quart.views import MethodView
from quart_schema import validate_querystring

from service.auth.guards import auth_required, current_user
from service.common.conditional import require_if_match, tagged_read
from service.common.pagination import CursorPage, page_headers
from service.common.urls import created_url
from service.common.validation import validate_request, validate_response
from service.common.views import Headers, add_class_view, item_removal, item_write
from service.extensions import db
from service.idempotency.requests import accepts_idempotency_key, idempotent
from service.products import caching, services
from service.products.exceptions import NotYourProduct
from service.products.models import Product
from service.products.schemas import (
    ProductCreate,
    ProductCursorQuery,
    ProductPageQuery,
    ProductRead,
    ProductReplace,
    ProductUpdate,
)


class ProductCollection(MethodView):
    """Products: a public list; any user creates."""

    @validate_querystring(ProductPageQuery)
    @validate_response(list[ProductRead])
    async def get(self, query_args: ProductPageQuery) -> tuple[list[ProductRead], int, Headers]:
        """List products, filtered and sorted, with X-Total-Count and Link headers.

        `q` matches part of the name in any case; `min_price`/`max_price` are inclusive
        cents; `sort` is `id`, `name`, `price_cents` or `created_at`, `-` for descending.
        """
        page = await caching.page_json(query_args)
        body = [ProductRead.model_validate(item) for item in page["items"]]
        return body, 200, page_headers(query_args, page["total"])

    @auth_required
    @validate_request(ProductCreate)
    @validate_response(ProductRead, 201)
    @accepts_idempotency_key
    async def post(self, data: ProductCreate) -> tuple[ProductRead, int, Headers]:
        """Create a product owned by the caller."""

        async def create() -> tuple[ProductRead, int, Headers]:
            caching.delete([], owner_id=current_user.id)
            session = await db.one_statement_session()  # one INSERT, unless a key was claimed
            product = await services.create_product(session, owner_id=current_user.id, data=data)
            return ProductRead.model_validate(product), 201, {"Location": created_url(product.id)}

        return await idempotent(create)


class ProductCollectionV2(ProductCollection):
    """v2: the same, with a signed keyset cursor on the list."""

    @validate_querystring(ProductCursorQuery)
    @validate_response(CursorPage[ProductRead])
    async def get(self, query_args: ProductCursorQuery) -> CursorPage[ProductRead]:
        """List products, filtered and sorted, a page at a time by cursor.

        Takes the same `q`, `min_price`, `max_price` and `sort` as v1; a cursor works only
        with the sort and filters it was issued for.
        """
        return CursorPage[ProductRead].model_validate(await caching.cursor_page_json(query_args))


async def _changeable(product_id: int) -> Product:
    """The product, locked, once the caller may change it and its If-Match holds."""
    product = await services.get_product(db.session(), product_id, for_update=True)
    # Products are public, so a 404 before the 403 reveals nothing.
    if not current_user.is_admin and product.owner_id != current_user.id:
        raise NotYourProduct()
    require_if_match(ProductRead.model_validate(product))
    return product


async def _update(product_id: int, data: ProductReplace | ProductUpdate) -> ProductRead:
    product = await _changeable(product_id)
    product = await services.update_product(db.session(), product, data=data)
    caching.delete([product_id], owner_id=product.owner_id)
    return ProductRead.model_validate(product)


class ProductItem(MethodView):
    """One product: public reads; the owner or an admin changes it."""

    @validate_response(ProductRead)
    @tagged_read
    async def get(self, id: int) -> ProductRead:
        """One product."""
        return ProductRead.model_validate(await caching.product_json(id))

    @item_write(ProductReplace, ProductRead)
    async def put(self, id: int, data: ProductReplace) -> ProductRead:
        """Replace a product (owner or admin); a left-out description is cleared."""
        return await _update(id, data)

    @item_write(ProductUpdate, ProductRead)
    async def patch(self, id: int, data: ProductUpdate) -> ProductRead:
        """Update some fields of a product (owner or admin)."""
        return await _update(id, data)

    @item_removal
    async def delete(self, id: int) -> tuple[str, int]:
        """Delete a product (owner or admin)."""
        product = await _changeable(id)
        await services.delete_product(db.session(), product)
        caching.delete([id], owner_id=product.owner_id)
        return "", 204


blueprint_v1 = Blueprint("products", __name__)
add_class_view(blueprint_v1, "/", ProductCollection.as_view("products"))
add_class_view(blueprint_v1, "/<id:id>", ProductItem.as_view("products"))
blueprint_v2 = Blueprint("products", __name__)
add_class_view(blueprint_v2, "/", ProductCollectionV2.as_view("products"))
add_class_view(blueprint_v2, "/<id:id>", ProductItem.as_view("products"))
