"""`Idempotency-Key` on `POST /users/` and `POST /products/`, driven over HTTP."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import timedelta
from typing import Any

import pytest
from quart import g

from service.config import Settings
from service.database import utcnow
from service.extensions import db, passwords
from service.idempotency.services import Claim
from service.products.models import Product
from service.users import services as user_services
from service.users.models import User
from tests.factories import PASSWORD, bearer, user_with_token
from tests.idempotency.conftest import count_rows, key_rows, set_key_times

SIGN_UP = {"email": "retry@example.com", "name": "Retry", "password": PASSWORD}
LAMP = {"name": "Lamp", "sku": "LAMP-1", "price_cents": 1200}


def keyed(key: str, **headers: str) -> dict[str, str]:
    return {"Idempotency-Key": key, **headers}


def peer(address: str) -> dict[str, Any]:
    return {"scope_base": {"client": (address, 40000)}}


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_post_product_retried_with_same_key_replays_first_201_and_writes_nothing(
    client: Any, settings: Settings, version: str
) -> None:
    _, token = await user_with_token(client, settings)
    url = f"/api/{version}/products/"
    first = await client.post(url, json=LAMP, headers=keyed("k-1", **bearer(token)))
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers

    again = await client.post(url, json=LAMP, headers=keyed("k-1", **bearer(token)))
    assert again.status_code == 201
    assert await again.get_json() == await first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await count_rows(settings, Product) == 1


async def test_sign_up_retried_with_same_key_replays_first_201_and_writes_nothing(
    client: Any, settings: Settings
) -> None:
    first = await client.post("/api/v1/users/", json=SIGN_UP, headers=keyed("signup-1"))
    assert first.status_code == 201
    # Key order and spacing are not part of the body's identity.
    reordered = dict(reversed(list(SIGN_UP.items())))
    again = await client.post("/api/v1/users/", json=reordered, headers=keyed("signup-1"))
    assert again.status_code == 201
    assert await again.get_json() == await first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert await count_rows(settings, User) == 1


async def test_same_key_with_another_body_is_422_and_writes_nothing(
    client: Any, settings: Settings
) -> None:
    _, token = await user_with_token(client, settings)
    auth = keyed("k-2", **bearer(token))
    assert (await client.post("/api/v1/products/", json=LAMP, headers=auth)).status_code == 201
    other = await client.post("/api/v1/products/", json={**LAMP, "sku": "LAMP-2"}, headers=auth)
    assert other.status_code == 422
    body = await other.get_json()
    assert body["error"] == "IDEMPOTENCY_KEY_REUSED"
    assert body["request_id"] == other.headers["X-Request-ID"]
    # The same body on the other version's path is another request, too.
    v2 = await client.post("/api/v2/products/", json=LAMP, headers=auth)
    assert v2.status_code == 422
    assert await count_rows(settings, Product) == 1


async def test_retry_while_first_request_runs_is_409_then_gets_the_first_answer(
    app: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    real_hash = passwords.hash_password

    async def slow_hash(password: str) -> str:
        entered.set()
        await release.wait()
        return await real_hash(password)

    monkeypatch.setattr(passwords, "hash_password", slow_hash)
    client = app.test_client()
    first = asyncio.create_task(
        client.post("/api/v1/users/", json=SIGN_UP, headers=keyed("busy-1"))
    )
    await asyncio.wait_for(entered.wait(), 30)  # the first holds the key, mid-write

    busy = await client.post("/api/v1/users/", json=SIGN_UP, headers=keyed("busy-1"))
    assert busy.status_code == 409
    assert (await busy.get_json())["error"] == "REQUEST_IN_PROGRESS"
    mismatch = await client.post(
        "/api/v1/users/", json={**SIGN_UP, "name": "Other"}, headers=keyed("busy-1")
    )
    assert mismatch.status_code == 422

    release.set()
    created = await asyncio.wait_for(first, 30)
    assert created.status_code == 201
    replay = await client.post("/api/v1/users/", json=SIGN_UP, headers=keyed("busy-1"))
    assert replay.status_code == 201
    assert await replay.get_json() == await created.get_json()
    assert await count_rows(settings, User) == 1


async def test_claim_of_a_request_that_died_is_taken_over_after_its_lease(
    app: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashed: list[Claim] = []
    real_create = user_services.create_user

    async def crash_after_claiming(session: Any, **kwargs: Any) -> Any:
        # The claim is committed; the instance dies before its write and its teardown.
        crashed.append(g.pop("idempotency_claim"))
        raise RuntimeError("instance lost")

    client = app.test_client()
    with monkeypatch.context() as patch:
        patch.setattr(user_services, "create_user", crash_after_claiming)
        died = await client.post("/api/v1/users/", json=SIGN_UP, headers=keyed("dead-1"))
    assert died.status_code == 500
    assert crashed
    assert [row.status_code for row in await key_rows(settings)] == [None]
    assert user_services.create_user is real_create

    within = await client.post("/api/v1/users/", json=SIGN_UP, headers=keyed("dead-1"))
    assert within.status_code == 409
    assert (await within.get_json())["error"] == "REQUEST_IN_PROGRESS"

    await set_key_times(settings, locked_until=utcnow() - timedelta(seconds=1))
    retried = await client.post("/api/v1/users/", json=SIGN_UP, headers=keyed("dead-1"))
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert await count_rows(settings, User) == 1


async def test_expired_key_is_treated_as_new(client: Any, settings: Settings) -> None:
    _, token = await user_with_token(client, settings)
    auth = keyed("old-1", **bearer(token))
    assert (await client.post("/api/v1/products/", json=LAMP, headers=auth)).status_code == 201
    await set_key_times(settings, expires_at=utcnow() - timedelta(seconds=1))

    # Another body would be a 422 within 24 hours; after them the key is free again.
    fresh = await client.post("/api/v1/products/", json={**LAMP, "sku": "LAMP-2"}, headers=auth)
    assert fresh.status_code == 201
    assert "Idempotent-Replayed" not in fresh.headers
    assert await count_rows(settings, Product) == 2
    assert [row.status_code for row in await key_rows(settings)] == [201]


async def test_same_key_of_another_user_is_independent(client: Any, settings: Settings) -> None:
    _, one = await user_with_token(client, settings)
    _, two = await user_with_token(client, settings)
    first = await client.post(
        "/api/v1/products/", json=LAMP, headers=keyed("shared", **bearer(one))
    )
    second = await client.post(
        "/api/v1/products/", json={**LAMP, "sku": "LAMP-2"}, headers=keyed("shared", **bearer(two))
    )
    assert first.status_code == second.status_code == 201
    assert (await first.get_json())["id"] != (await second.get_json())["id"]
    assert await count_rows(settings, Product) == 2


async def test_anonymous_keys_are_scoped_by_client_address(client: Any, settings: Settings) -> None:
    headers = keyed("anon-1")
    first = await client.post("/api/v1/users/", json=SIGN_UP, headers=headers, **peer("192.0.2.1"))
    assert first.status_code == 201
    same = await client.post("/api/v1/users/", json=SIGN_UP, headers=headers, **peer("192.0.2.1"))
    assert same.status_code == 201
    assert same.headers["Idempotent-Replayed"] == "true"
    # Another client's key of the same name is its own: its request really runs.
    other = await client.post("/api/v1/users/", json=SIGN_UP, headers=headers, **peer("192.0.2.2"))
    assert other.status_code == 409
    assert (await other.get_json())["error"] == "DUPLICATE_ENTRY"
    assert await count_rows(settings, User) == 1


async def test_anonymous_scope_follows_a_trusted_proxys_client(settings: Settings) -> None:
    from service.app import create_app

    app = create_app(
        settings.model_copy(update={"TRUSTED_PROXIES": [ipaddress.ip_network("10.0.0.0/8")]})
    )
    async with app.test_app() as serving:
        client = serving.test_client()
        for proxy in ("10.0.0.1", "10.0.0.2"):  # two proxies, one client behind them
            response = await client.post(
                "/api/v1/users/",
                json=SIGN_UP,
                headers=keyed("proxied", **{"X-Forwarded-For": "198.51.100.7"}),
                **peer(proxy),
            )
            assert response.status_code == 201
        assert response.headers["Idempotent-Replayed"] == "true"
    assert await count_rows(settings, User) == 1


@pytest.mark.parametrize("key", ["", " ", "a b", "x" * 256, "caf\u00e9", "tab\there"])
async def test_malformed_key_is_400_naming_the_header(
    client: Any, settings: Settings, key: str
) -> None:
    response = await client.post("/api/v1/users/", json=SIGN_UP, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"] == "VALIDATION_ERROR"
    assert "Idempotency-Key" in body["details"]["fields"]
    assert await count_rows(settings, User) == 0


async def test_longest_visible_ascii_key_is_accepted(client: Any) -> None:
    key = "".join(chr(c) for c in range(0x21, 0x7F)) * 3
    response = await client.post("/api/v1/users/", json=SIGN_UP, headers=keyed(key[:255]))
    assert response.status_code == 201


async def test_failed_request_leaves_no_claim_and_its_retry_runs_again(
    client: Any, settings: Settings
) -> None:
    _, token = await user_with_token(client, settings)
    taken = await client.post("/api/v1/products/", json=LAMP, headers=bearer(token))
    assert taken.status_code == 201
    auth = keyed("dup-1", **bearer(token))
    assert (await client.post("/api/v1/products/", json=LAMP, headers=auth)).status_code == 409
    assert await key_rows(settings) == []
    await client.delete(taken.headers["Location"], headers=bearer(token))
    retried = await client.post("/api/v1/products/", json=LAMP, headers=auth)
    assert retried.status_code == 201
    assert await count_rows(settings, Product) == 1


async def test_commit_that_stored_the_row_but_answered_503_is_replayed_on_retry(
    client: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8, finding 9: the COMMIT reached the database, its answer did not."""

    async def commit_then_lose_the_connection() -> None:
        await g.db_session.commit()
        raise ConnectionResetError("connection lost during COMMIT")

    with monkeypatch.context() as patch:
        patch.setattr(db, "commit_request", commit_then_lose_the_connection)
        lost = await client.post("/api/v1/users/", json=SIGN_UP, headers=keyed("cut-1"))
    assert lost.status_code == 503
    assert await count_rows(settings, User) == 1
    # Without a key the retry meets its own row: the 409 of the finding.
    unkeyed = await client.post("/api/v1/users/", json=SIGN_UP)
    assert (await unkeyed.get_json())["error"] == "DUPLICATE_ENTRY"

    retried = await client.post("/api/v1/users/", json=SIGN_UP, headers=keyed("cut-1"))
    assert retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert (await retried.get_json())["email"] == SIGN_UP["email"]
    assert await count_rows(settings, User) == 1


async def test_commit_that_was_lost_lets_the_retry_run_afresh(
    client: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def lose_the_connection() -> None:
        raise ConnectionResetError("connection lost before COMMIT")

    with monkeypatch.context() as patch:
        patch.setattr(db, "commit_request", lose_the_connection)
        lost = await client.post("/api/v1/users/", json=SIGN_UP, headers=keyed("cut-2"))
    assert lost.status_code == 503
    assert await count_rows(settings, User) == 0
    assert await key_rows(settings) == []  # the claim was released, not left to its lease

    retried = await client.post("/api/v1/users/", json=SIGN_UP, headers=keyed("cut-2"))
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert await count_rows(settings, User) == 1


async def test_post_without_key_is_unchanged_and_stores_no_key(
    client: Any, settings: Settings
) -> None:
    assert (await client.post("/api/v1/users/", json=SIGN_UP)).status_code == 201
    assert (await client.post("/api/v1/users/", json=SIGN_UP)).status_code == 409
    assert await key_rows(settings) == []


async def test_invalid_body_with_key_is_400_and_claims_nothing(
    client: Any, settings: Settings
) -> None:
    bad = await client.post(
        "/api/v1/users/", json={**SIGN_UP, "password": "short"}, headers=keyed("bad-1")
    )
    assert bad.status_code == 400
    assert await key_rows(settings) == []


async def test_answered_claim_costs_no_release_transaction(
    client: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committed answer ends the claim: teardown opens no transaction to release it."""
    from service.idempotency import services as key_services

    released: list[Claim] = []
    release = key_services.release_claim

    async def spy(session: Any, claim: Claim) -> None:
        released.append(claim)
        await release(session, claim)

    monkeypatch.setattr(key_services, "release_claim", spy)
    _, token = await user_with_token(client, settings)
    created = await client.post(
        "/api/v1/products/", json=LAMP, headers=keyed("k-answered", **bearer(token))
    )
    assert created.status_code == 201
    assert released == []

    failed = await client.post(
        "/api/v1/products/", json=LAMP, headers=keyed("k-failed", **bearer(token))
    )
    assert failed.status_code == 409  # the sku is taken: its claim is released
    assert len(released) == 1
