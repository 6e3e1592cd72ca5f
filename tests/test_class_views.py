"""The resources' class views registered the seed's way on a scratch blueprint.

`View.as_view(name)` plus `add_url_rule` must answer every method correctly (the class
views once answered a collection GET and every POST with a 500 registered so), and
`add_class_view` must give the same views their OpenAPI entries and limits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from quart import Blueprint

from service.app import create_app
from service.common.views import add_class_view
from service.config import Settings
from service.extensions import limiter
from service.products.views import ProductCollection, ProductItem
from service.rate_limit import from_setting, limit_blueprint
from tests.factories import FAST_HASHING, bearer, product_body, user_with_token

SEED = "/api/scratch/seed"
HELPER = "/api/scratch/helper"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Limits on, loose enough for a test's few requests, to see them applied.
    return {
        **FAST_HASHING,
        "RATE_LIMIT_ENABLED": True,
        "RATE_LIMIT_DEFAULT": "1000/minute",
        "RATE_LIMIT_LOGIN": "1000/minute",
        "RATE_LIMIT_USERS": "1000/hour",
    }


@pytest.fixture(name="scratch_app")
async def _scratch_app(settings: Settings) -> AsyncIterator[Any]:
    app = create_app(settings)
    seed = Blueprint("seed", __name__)
    limit_blueprint(seed, limits=from_setting("RATE_LIMIT_USERS"))
    # The seed's registration, word for word.
    seed.add_url_rule("/", view_func=ProductCollection.as_view("products"))
    seed.add_url_rule("/<id:id>", view_func=ProductItem.as_view("product"))
    helper = Blueprint("helper", __name__)
    limit_blueprint(helper, limits=from_setting("RATE_LIMIT_USERS"))
    add_class_view(helper, "/", ProductCollection.as_view("products"))
    add_class_view(helper, "/<id:id>", ProductItem.as_view("products"))
    app.register_blueprint(seed, url_prefix=SEED)
    app.register_blueprint(helper, url_prefix=HELPER)
    async with app.test_app() as test_app:
        yield test_app


@pytest.fixture(name="openapi")
async def _openapi(scratch_app: Any) -> dict[str, Any]:
    response = await scratch_app.test_client().get("/openapi.json")
    document: dict[str, Any] = await response.get_json()
    return document


@pytest.mark.parametrize("prefix", [SEED, HELPER])
async def test_scratch_resource_answers_every_method(
    scratch_app: Any, settings: Settings, prefix: str
) -> None:
    client = scratch_app.test_client()
    _, token = await user_with_token(client, settings)
    auth = bearer(token)

    listed = await client.get(f"{prefix}/?per_page=5")
    assert listed.status_code == 200
    assert await listed.get_json() == []
    assert listed.headers["X-Total-Count"] == "0"
    assert "RateLimit-Limit" in listed.headers

    created = await client.post(f"{prefix}/", json=product_body(name="Scratch"), headers=auth)
    assert created.status_code == 201, await created.get_data(as_text=True)
    product = await created.get_json()
    item = urlsplit(created.headers["Location"]).path
    assert item == f"{prefix}/{product['id']}"

    fetched = await client.get(item)
    assert fetched.status_code == 200
    assert await fetched.get_json() == product
    listed = await client.get(f"{prefix}/")
    assert [p["id"] for p in await listed.get_json()] == [product["id"]]

    replaced = await client.put(
        item, json={"name": "Whole", "sku": product["sku"], "price_cents": 5}, headers=auth
    )
    assert replaced.status_code == 200
    assert (await replaced.get_json())["price_cents"] == 5
    patched = await client.patch(item, json={"name": "Part"}, headers=auth)
    assert patched.status_code == 200
    assert (await patched.get_json())["name"] == "Part"

    invalid = await client.post(f"{prefix}/", json={"name": ""}, headers=auth)
    assert invalid.status_code == 400
    assert (await invalid.get_json())["error"] == "VALIDATION_ERROR"
    wrong_method = await client.delete(f"{prefix}/", headers=auth)
    assert wrong_method.status_code == 405
    assert (await wrong_method.get_json())["status_code"] == 405

    deleted = await client.delete(item, headers=auth)
    assert deleted.status_code == 204
    gone = await client.get(item)
    assert gone.status_code == 404
    assert (await gone.get_json())["error"] == "NOT_FOUND"


async def test_seed_registration_is_in_openapi_and_limited(
    scratch_app: Any, openapi: dict[str, Any]
) -> None:
    paths = openapi["paths"]
    assert set(paths[f"{SEED}/"]) == {"get", "post"}
    assert set(paths[f"{SEED}/{{id}}"]) == {"get", "put", "patch", "delete"}
    for endpoint in ("seed.products", "seed.product"):
        labels = {label for label, _ in limiter.limits_for(scratch_app.app, endpoint) or []}
        assert labels == {"users", "default"}, endpoint


async def test_helper_registration_documents_each_method_as_the_real_routes(
    scratch_app: Any, openapi: dict[str, Any]
) -> None:
    paths = openapi["paths"]
    pairs = ((f"{HELPER}/", "/api/v1/products/"), (f"{HELPER}/{{id}}", "/api/v1/products/{id}"))
    for scratch, real in pairs:
        assert set(paths[scratch]) == set(paths[real])
        for method, operation in paths[scratch].items():
            assert operation["operationId"] != paths[real][method]["operationId"]
            assert _without_names(operation) == _without_names(paths[real][method]), method
    endpoints = [
        rule.endpoint
        for rule in scratch_app.app.url_map.iter_rules()
        if rule.endpoint.startswith("helper.")
    ]
    assert sorted(endpoints) == [
        "helper.products_delete",
        "helper.products_get",
        "helper.products_list",
        "helper.products_patch",
        "helper.products_post",
        "helper.products_put",
    ]
    for endpoint in endpoints:
        labels = {label for label, _ in limiter.limits_for(scratch_app.app, endpoint) or []}
        assert labels == {"users", "default"}, endpoint


def _without_names(operation: dict[str, Any]) -> dict[str, Any]:
    """An operation without what names its route: its id and the blueprint's tags."""
    return {key: value for key, value in operation.items() if key not in {"operationId", "tags"}}
