"""ETag, If-None-Match and If-Match on the item routes of users and products, v1 and v2."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from service.app import create_app
from service.config import Settings
from service.database import create_engine
from service.products import services as product_services
from service.products.models import Product
from service.users.models import User
from tests.factories import FAST_HASHING, bearer, user_with_token
from tests.plugins.backends import Backend, reset_backend

VERSIONS = ["v1", "v2"]


async def stored(settings: Settings, model: Any, item_id: int) -> Any:
    """The row as the database holds it (not through the API or its cache)."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(model).where(model.id == item_id))).one()
    finally:
        await engine.dispose()


async def new_product(client: Any, token: str, sku: str = "LAMP-1") -> dict[str, Any]:
    response = await client.post(
        "/api/v1/products/",
        json={"name": "Lamp", "sku": sku, "price_cents": 1200},
        headers=bearer(token),
    )
    assert response.status_code == 201
    product: dict[str, Any] = await response.get_json()
    return product


@pytest.mark.parametrize("version", VERSIONS)
async def test_product_get_has_etag_and_if_none_match_is_304(
    client: Any, settings: Settings, version: str
) -> None:
    _, token = await user_with_token(client, settings)
    url = f"/api/{version}/products/{(await new_product(client, token))['id']}"
    first = await client.get(url)
    tag = first.headers["ETag"]
    assert tag.startswith('"')
    assert not tag.startswith("W/")
    assert (await client.get(url)).headers["ETag"] == tag  # served from the cache: same tag

    for header in (tag, "*", f'"nope", {tag}', f"W/{tag}"):
        not_modified = await client.get(url, headers={"If-None-Match": header})
        assert not_modified.status_code == 304, header
        assert not_modified.headers["ETag"] == tag
        assert await not_modified.get_data() == b""
    changed = await client.get(url, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200
    assert (await changed.get_json())["sku"] == "LAMP-1"


@pytest.mark.parametrize("version", VERSIONS)
async def test_user_get_and_me_have_the_same_etag_and_honour_if_none_match(
    client: Any, settings: Settings, version: str
) -> None:
    user, token = await user_with_token(client, settings)
    item = await client.get(f"/api/{version}/users/{user['id']}", headers=bearer(token))
    me = await client.get(f"/api/{version}/users/me", headers=bearer(token))
    assert item.headers["ETag"] == me.headers["ETag"]
    for url in (f"/api/{version}/users/{user['id']}", f"/api/{version}/users/me"):
        headers = {**bearer(token), "If-None-Match": item.headers["ETag"]}
        not_modified = await client.get(url, headers=headers)
        assert not_modified.status_code == 304
        assert await not_modified.get_data() == b""


@pytest.mark.parametrize("version", VERSIONS)
async def test_product_write_with_current_if_match_succeeds_and_sends_the_new_etag(
    client: Any, settings: Settings, version: str
) -> None:
    _, token = await user_with_token(client, settings)
    url = f"/api/{version}/products/{(await new_product(client, token))['id']}"
    tag = (await client.get(url)).headers["ETag"]
    patched = await client.patch(
        url, json={"price_cents": 1500}, headers={**bearer(token), "If-Match": tag}
    )
    assert patched.status_code == 200
    assert patched.headers["ETag"] != tag
    assert (await client.get(url)).headers["ETag"] == patched.headers["ETag"]
    replaced = await client.put(
        url,
        json={"name": "Lamp", "sku": "LAMP-1", "price_cents": 1600},
        headers={**bearer(token), "If-Match": patched.headers["ETag"]},
    )
    assert replaced.status_code == 200
    deleted = await client.delete(
        url, headers={**bearer(token), "If-Match": replaced.headers["ETag"]}
    )
    assert deleted.status_code == 204


@pytest.mark.parametrize("version", VERSIONS)
async def test_product_write_with_stale_if_match_is_412_and_changes_nothing(
    client: Any, settings: Settings, version: str
) -> None:
    _, token = await user_with_token(client, settings)
    product = await new_product(client, token)
    url = f"/api/{version}/products/{product['id']}"
    stale = (await client.get(url)).headers["ETag"]
    assert (
        await client.patch(url, json={"price_cents": 1300}, headers=bearer(token))
    ).status_code == 200
    before = await stored(settings, Product, product["id"])

    attempts = [
        client.patch(url, json={"price_cents": 1}, headers={**bearer(token), "If-Match": stale}),
        client.put(
            url,
            json={"name": "X", "sku": "LAMP-9", "price_cents": 1},
            headers={**bearer(token), "If-Match": stale},
        ),
        client.delete(url, headers={**bearer(token), "If-Match": stale}),
        # A weak tag never matches If-Match (strong comparison), even the current one.
        client.delete(
            url,
            headers={**bearer(token), "If-Match": "W/" + (await client.get(url)).headers["ETag"]},
        ),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 412
        body = await response.get_json()
        assert body["error"] == "PRECONDITION_FAILED"
        assert body["request_id"] == response.headers["X-Request-ID"]
    assert await stored(settings, Product, product["id"]) == before
    assert (await client.get(url)).status_code == 200


@pytest.mark.parametrize("version", VERSIONS)
async def test_user_write_with_stale_if_match_is_412_and_changes_nothing(
    client: Any, settings: Settings, version: str
) -> None:
    user, token = await user_with_token(client, settings)
    url = f"/api/{version}/users/{user['id']}"
    stale = (await client.get(url, headers=bearer(token))).headers["ETag"]
    renamed = await client.patch(url, json={"name": "Renamed"}, headers=bearer(token))
    assert renamed.status_code == 200
    current = renamed.headers["ETag"]
    assert current != stale
    before = await stored(settings, User, user["id"])

    for method in (client.patch, client.put):
        refused = await method(
            url, json={"name": "Lost update"}, headers={**bearer(token), "If-Match": stale}
        )
        assert refused.status_code == 412
        assert (await refused.get_json())["error"] == "PRECONDITION_FAILED"
    refused = await client.delete(url, headers={**bearer(token), "If-Match": stale})
    assert refused.status_code == 412
    assert await stored(settings, User, user["id"]) == before

    star = await client.patch(
        url, json={"name": "Star"}, headers={**bearer(token), "If-Match": "*"}
    )
    assert star.status_code == 200
    assert (await client.get(url, headers=bearer(token))).headers["ETag"] == star.headers["ETag"]


async def test_etag_changes_with_every_update_even_back_to_the_same_fields(
    client: Any, settings: Settings
) -> None:
    _, token = await user_with_token(client, settings)
    url = f"/api/v1/products/{(await new_product(client, token))['id']}"
    tags = [(await client.get(url)).headers["ETag"]]
    for price in (1500, 1200, 1500):  # within one second; the last repeats the first
        response = await client.patch(url, json={"price_cents": price}, headers=bearer(token))
        tags.append(response.headers["ETag"])
    assert len(set(tags)) == len(tags)


async def test_write_without_if_match_proceeds_as_before(client: Any, settings: Settings) -> None:
    _, token = await user_with_token(client, settings)
    url = f"/api/v1/products/{(await new_product(client, token))['id']}"
    assert (
        await client.patch(url, json={"price_cents": 5}, headers=bearer(token))
    ).status_code == 200
    assert (await client.delete(url, headers=bearer(token))).status_code == 204


@pytest.fixture(name="postgres_client")
async def _postgres_client(postgres_backend: Backend) -> AsyncIterator[Any]:
    settings = postgres_backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    app = create_app(settings)
    async with app.test_app() as test_app:
        yield test_app.test_client(), settings
    await reset_backend(postgres_backend)


async def test_write_racing_an_if_match_check_waits_for_it_and_gets_412(
    postgres_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row is locked from the check to the commit (PostgreSQL: SELECT … FOR UPDATE)."""
    client, settings = postgres_client
    _, token = await user_with_token(client, settings)
    product = await new_product(client, token)
    url = f"/api/v1/products/{product['id']}"
    headers = {**bearer(token), "If-Match": (await client.get(url)).headers["ETag"]}

    checked, proceed, reached = asyncio.Event(), asyncio.Event(), []
    real_update = product_services.update_product

    async def update_after_the_check(*args: Any, **kwargs: Any) -> Any:
        reached.append(kwargs["data"].price_cents)
        if not checked.is_set():  # the first writer pauses between its check and write
            checked.set()
            await proceed.wait()
        return await real_update(*args, **kwargs)

    monkeypatch.setattr(product_services, "update_product", update_after_the_check)
    first = asyncio.create_task(client.patch(url, json={"price_cents": 1}, headers=headers))
    await asyncio.wait_for(checked.wait(), 30)
    second = asyncio.create_task(client.patch(url, json={"price_cents": 2}, headers=headers))
    # Wait until the second request either waits on the row lock or got past its check.
    for _ in range(3000):
        if len(reached) > 1 or await waiting_on_a_lock(settings):
            break
        await asyncio.sleep(0.01)
    proceed.set()
    assert (await first).status_code == 200
    late = await second
    assert late.status_code == 412
    assert reached == [1]
    assert (await stored(settings, Product, product["id"])).price_cents == 1


async def waiting_on_a_lock(settings: Settings) -> bool:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            waiting = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            return bool(waiting)
    finally:
        await engine.dispose()


async def test_row_read_for_update_cannot_change_before_the_transaction_ends(
    client: Any, settings: Settings
) -> None:
    """What makes the If-Match check safe: the row read for a write is locked until commit."""
    _, token = await user_with_token(client, settings)
    product = await new_product(client, token)
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as holder, engine.connect() as other:
            locked = await product_services.get_product(holder, product["id"], for_update=True)
            assert locked.price_cents == 1200
            if settings.database_url.startswith("sqlite"):
                await other.execute(text("PRAGMA busy_timeout=0"))
            else:
                await other.execute(text("SET lock_timeout = '100ms'"))
            with pytest.raises(DBAPIError):
                await other.execute(
                    update(Product).where(Product.id == product["id"]).values(price_cents=1)
                )
            await other.rollback()
            await holder.rollback()
            await other.execute(
                update(Product).where(Product.id == product["id"]).values(price_cents=2)
            )
            await other.commit()
    finally:
        await engine.dispose()
    assert (await stored(settings, Product, product["id"])).price_cents == 2
