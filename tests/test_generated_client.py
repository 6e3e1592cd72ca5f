"""openapi-python-client (as `make client` runs it) makes a typed client of the service's
OpenAPI document without a warning, and that client drives a real server through sign-up,
login, conditional product writes and a parsed error body."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.factories import FAST_HASHING, PASSWORD
from tests.plugins.backends import Backend
from tests.servers import running_servers
from tests.test_openapi_document import schema_document

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "quart_service_api_client"


@pytest.fixture(name="generated", scope="session")
def _generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated once per session and importable."""
    folder = tmp_path_factory.mktemp("client")
    (folder / "openapi.json").write_text(json.dumps(schema_document(folder)))
    # The generator's ruff hooks need this venv's ruff on PATH, as `make client` sets it.
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    options = ["--path", "openapi.json", "--meta", "none", "--output-path", PACKAGE]
    generated = subprocess.run(
        [GENERATOR, "generate", *options, "--fail-on-warning"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "Warning" not in output, output
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_the_client_has_one_model_per_schema(generated: ModuleType) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    names = set(models.__all__)
    assert {"ErrorBody", "UserRead", "ProductRead", "ProductSort", "CheckStatus"} <= names
    # Before, each operation had its own copy (`PostV1ProductsPostProductRead`...).
    assert not [name for name in names if name.endswith(("V1", "V2")) or "Post" in name]


async def test_generated_client_drives_a_real_server(
    generated: ModuleType, clean_backend: Backend, tmp_path: Path
) -> None:
    api = {
        name: importlib.import_module(f"{PACKAGE}.api.{tag}.{name}_v1")
        for tag, names in {
            "users": ("create_user",),
            "auth": ("login",),
            "products": ("create_product", "get_product", "update_product", "delete_product"),
        }.items()
        for name in names
    }
    models = importlib.import_module(f"{PACKAGE}.models")
    settings = clean_backend.settings(**FAST_HASHING, RATE_LIMIT_ENABLED=False)
    async with running_servers(settings, 1, tmp_path) as (server,):
        async with generated.Client(base_url=server.url) as anonymous:
            body = models.UserCreate(email="gen@example.com", name="Gen", password=PASSWORD)
            signed_up = await api["create_user"].asyncio_detailed(client=anonymous, body=body)
            assert signed_up.status_code == 201, signed_up.content
            user = signed_up.parsed
            assert isinstance(user, models.UserRead)
            assert isinstance(user.created_at, datetime)
            assert user.created_at.utcoffset() is not None
            assert signed_up.headers["Location"].endswith(f"/api/v1/users/{user.id}")
            login = models.LoginRequest(email="GEN@example.com", password=PASSWORD)
            tokens = (await api["login"].asyncio_detailed(client=anonymous, body=login)).parsed
            assert isinstance(tokens, models.TokenPair)
        token = tokens.access_token
        async with generated.AuthenticatedClient(base_url=server.url, token=token) as client:
            await _product_round_trip(client, api, models, owner_id=user.id)


async def _product_round_trip(
    client: Any, api: dict[str, Any], models: Any, *, owner_id: int
) -> None:
    new = models.ProductCreate(name="Lamp", sku="GEN-1", price_cents=1200)
    created = await api["create_product"].asyncio_detailed(client=client, body=new)
    assert created.status_code == 201, created.content
    product = created.parsed
    assert isinstance(product, models.ProductRead)
    assert product.owner_id == owner_id
    assert isinstance(product.updated_at, datetime)

    fetched = await api["get_product"].asyncio_detailed(product.id, client=client)
    assert fetched.status_code == 200
    assert fetched.parsed == product
    etag = fetched.headers["ETag"]
    unchanged = await api["get_product"].asyncio_detailed(
        product.id, client=client, if_none_match=etag
    )
    assert unchanged.status_code == 304

    change = models.ProductUpdate(name="Desk lamp")
    stale = await api["update_product"].asyncio_detailed(
        product.id, client=client, body=change, if_match='"stale"'
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.ErrorBody)
    assert stale.parsed.error == "PRECONDITION_FAILED"
    updated = await api["update_product"].asyncio_detailed(
        product.id, client=client, body=change, if_match=etag
    )
    assert updated.status_code == 200, updated.content
    assert updated.parsed.name == "Desk lamp"
    assert updated.headers["ETag"] != etag

    duplicate = await api["create_product"].asyncio_detailed(client=client, body=new)
    assert duplicate.status_code == 409
    assert isinstance(duplicate.parsed, models.ErrorBody)
    assert duplicate.parsed.error == "DUPLICATE_ENTRY"
    assert duplicate.parsed.status_code == 409

    deleted = await api["delete_product"].asyncio_detailed(
        product.id, client=client, if_match=updated.headers["ETag"]
    )
    assert deleted.status_code == 204
    gone = await api["get_product"].asyncio_detailed(product.id, client=client)
    assert gone.status_code == 404
    assert isinstance(gone.parsed, models.ErrorBody)
    assert gone.parsed.error == "NOT_FOUND"
