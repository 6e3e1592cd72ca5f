"""Schemathesis over the service's own /openapi.json, on both backends: every operation,
valid and invalid requests; no 5xx, and every error in the contract's body.

The app runs in schemathesis' ASGI event loop thread, one app per backend for the whole
module: extension state lives on the extension objects (one app per process), so this
module's app is stopped before any other test starts one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from quart import Quart
from schemathesis.python import asgi

from service.app import create_app
from service.config import Settings
from tests.factories import FAST_HASHING, PASSWORD, bearer, make_admin
from tests.plugins.backends import TEST_SECRET, Backend, reset_backend
from tests.test_fuzz import FUZZ_OPERATION, assert_contract_error

# The one 503 that is not in the error body's shape (API.md, /ready).
OWN_SHAPE = {"/ready"}


@dataclass
class FuzzTarget:
    """The app under fuzzing, started in schemathesis' ASGI event loop, with seeded users."""

    app: Quart
    admin_id: int
    user_id: int
    headers: dict[str, str]


@pytest.fixture(name="backend", scope="module", params=["sqlite", "postgres"])
def _backend(request: pytest.FixtureRequest) -> Backend:
    """Module-scoped here, so one fuzzing app per backend serves every operation's test."""
    chosen: Backend = request.getfixturevalue(f"{request.param}_backend")
    return chosen


@pytest.fixture(name="fuzz_target", scope="module")
def _fuzz_target(backend: Backend) -> Iterator[FuzzTarget]:
    settings = backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    app = create_app(settings)
    # schemathesis runs the app (lifespan included) on an event loop thread of its own
    with asgi.get_client(app) as client:
        ids = []
        for email in ("fuzz-admin@example.com", "fuzz-user@example.com"):
            response = client.post(
                "/api/v1/users/", json={"email": email, "name": "Fuzz", "password": PASSWORD}
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        asyncio.run(make_admin(settings, ids[0]))
        response = client.post(
            "/api/v1/auth/login",
            json={"email": "fuzz-admin@example.com", "password": PASSWORD},
        )
        token = response.json()["access_token"]
        response = client.post(
            "/api/v1/products/",
            json={"name": "Fuzz", "sku": "FUZZ-1", "price_cents": 1},
            headers=bearer(token),
        )
        assert response.status_code == 201, response.text
    try:
        yield FuzzTarget(app, ids[0], ids[1], bearer(token))
    finally:
        asgi.shutdown_lifespans()  # after_serving: the engine and clients close
        asyncio.run(reset_backend(backend))


@schemathesis.check
def contract_error_body(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """No 5xx; every 4xx carries the contract's error body."""
    if case.path in OWN_SHAPE and response.status_code == 503:
        return
    body: Any = None
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = response.content[:200]
    assert_contract_error(response.status_code, body, f"{case.method} {case.formatted_path}")


def _openapi_document() -> dict[str, Any]:
    """The service's own OpenAPI document (it depends on no backend)."""
    app = create_app(
        Settings(
            APP_ENV="testing",
            SECRET_KEY=TEST_SECRET,
            JWT_SECRET_KEY=TEST_SECRET,
            DATABASE_URL="sqlite+aiosqlite:///:memory:",
            LOG_LEVEL="WARNING",
            _env_file=None,  # type: ignore[call-arg]
        )
    )

    async def fetch() -> dict[str, Any]:
        document: dict[str, Any] = await (await app.test_client().get("/openapi.json")).get_json()
        return document

    return asyncio.run(fetch())


# Loaded at collection, so each operation is a test of its own (per backend). The lazy
# `schemathesis.pytest.from_fixture` needs `Item._nodeid`, which pytest 9.2 no longer has.
schema = schemathesis.openapi.from_dict(_openapi_document())


@schema.parametrize()
@FUZZ_OPERATION
def test_openapi_operations_answer_no_5xx_and_contract_errors(
    case: schemathesis.Case, fuzz_target: FuzzTarget
) -> None:
    # Keep the fuzzing admin able to act: its own account is never the target of a write.
    if case.method != "GET" and (case.path_parameters or {}).get("id") == fuzz_target.admin_id:
        case.path_parameters = {**case.path_parameters, "id": fuzz_target.user_id}  # type: ignore[dict-item]
    response = case.call(headers=fuzz_target.headers, app=fuzz_target.app)
    case.validate_response(response, checks=[contract_error_body])
