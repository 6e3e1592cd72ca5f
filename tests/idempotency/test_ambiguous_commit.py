"""Issue 8, finding 9 for real: PostgreSQL stores the row, the COMMIT's answer is lost.

The app reaches PostgreSQL through a `TcpProxy`. The proxy is armed (`cut_after(b"COMMIT")`)
once the view's write and its stored answer are in the transaction, so the next COMMIT is
the request's own: it is forwarded and executed, then the connection is cut before the
reply. (Arming earlier would cut the COMMIT of the key's claim, which is a different case.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.app import create_app
from service.config import Settings
from service.idempotency import requests as idempotency_requests
from service.idempotency import services as idempotency_services
from service.products.models import Product
from service.users.models import User
from tests.factories import FAST_HASHING, PASSWORD, bearer, user_with_token
from tests.idempotency.conftest import count_rows
from tests.plugins.backends import Backend, ProxyFactory, reset_backend
from tests.proxy import TcpProxy
from tests.test_deadlines import proxy_in_front_of, via

SIGN_UP = {"email": "cut@example.com", "name": "Cut", "password": PASSWORD}
LAMP = {"name": "Lamp", "sku": "LAMP-CUT", "price_cents": 1200}


@pytest.fixture(name="db_proxy")
async def _db_proxy(postgres_backend: Backend, tcp_proxy: ProxyFactory) -> TcpProxy:
    return await proxy_in_front_of(tcp_proxy, postgres_backend.database_url)


@pytest.fixture(name="settings")
async def _settings(postgres_backend: Backend, db_proxy: TcpProxy) -> AsyncIterator[Settings]:
    yield postgres_backend.settings(
        **FAST_HASHING,
        RATE_LIMIT_ENABLED=False,
        DATABASE_URL=via(db_proxy, postgres_backend.database_url),
        DATABASE_TIMEOUT=5.0,
    )
    await reset_backend(postgres_backend)


@pytest.fixture(name="client")
async def _client(settings: Settings) -> AsyncIterator[Any]:
    app = create_app(settings)
    async with app.test_app() as serving:
        yield serving.test_client()


def arm_on_record_response(monkeypatch: pytest.MonkeyPatch, proxy: TcpProxy) -> None:
    """Arm the proxy's cut when the answer joins the write's transaction."""
    original = idempotency_services.record_response

    async def record_then_arm(*args: Any, **kwargs: Any) -> None:
        await original(*args, **kwargs)
        proxy.cut_after(b"COMMIT")

    monkeypatch.setattr(idempotency_services, "record_response", record_then_arm)
    assert idempotency_requests.services is idempotency_services


async def cut_then_retry(
    client: Any,
    proxy: TcpProxy,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> Any:
    with monkeypatch.context() as patch:
        arm_on_record_response(patch, proxy)
        lost = await client.post(url, json=body, headers=headers)
    await proxy.wait_cut()  # the COMMIT went through the proxy, its answer did not
    assert lost.status_code == 503
    assert lost.headers["Retry-After"].isdigit()
    assert (await lost.get_json())["error"] == "SERVICE_UNAVAILABLE"

    proxy.pass_through()
    retried = await client.post(url, json=body, headers=headers)
    assert retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    return retried


async def test_sign_up_whose_commit_answer_is_lost_replays_the_stored_201(
    client: Any, settings: Settings, db_proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"Idempotency-Key": "cut-user-1"}
    retried = await cut_then_retry(
        client, db_proxy, monkeypatch, "/api/v1/users/", SIGN_UP, headers
    )
    body = await retried.get_json()
    assert body["email"] == SIGN_UP["email"]
    assert retried.headers["Location"] == f"/api/v1/users/{body['id']}"
    assert await count_rows(settings, User) == 1
    # The replay is the stored answer itself: a third try gives the same body and Location.
    third = await client.post("/api/v1/users/", json=SIGN_UP, headers=headers)
    assert await third.get_json() == body
    assert third.headers["Location"] == retried.headers["Location"]


async def test_product_whose_commit_answer_is_lost_replays_the_stored_201(
    client: Any, settings: Settings, db_proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, token = await user_with_token(client, settings)
    headers = {"Idempotency-Key": "cut-product-1", **bearer(token)}
    retried = await cut_then_retry(
        client, db_proxy, monkeypatch, "/api/v1/products/", LAMP, headers
    )
    body = await retried.get_json()
    assert body["sku"] == LAMP["sku"]
    assert retried.headers["Location"] == f"/api/v1/products/{body['id']}"
    assert await count_rows(settings, Product) == 1
    fetched = await client.get(retried.headers["Location"])
    assert fetched.status_code == 200
    assert await fetched.get_json() == body
