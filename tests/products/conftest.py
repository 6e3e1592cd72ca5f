"""Product test helpers: users through the API, products through the API or the session."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.config import Settings
from service.database import create_engine
from tests.factories import FAST_HASHING, bearer, user_with_token

_skus = itertools.count(1)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Cheap hashing and no limits: these tests create many users and products."""
    return {**FAST_HASHING, "RATE_LIMIT_ENABLED": False}


def new_sku() -> str:
    return f"SKU-{next(_skus):06d}"


def product_body(**fields: Any) -> dict[str, Any]:
    """A valid create body with a fresh sku; `fields` override or add keys."""
    body: dict[str, Any] = {"name": "Widget", "sku": new_sku(), "price_cents": 1999}
    body.update(fields)
    return body


async def create_product(client: Any, token: str, **fields: Any) -> dict[str, Any]:
    """Create a product through `POST /api/v1/products/`; returns its JSON."""
    response = await client.post(
        "/api/v1/products/", json=product_body(**fields), headers=bearer(token)
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    product: dict[str, Any] = await response.get_json()
    return product


@pytest.fixture(name="owner")
async def _owner(client: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    """A plain user and its access token."""
    return await user_with_token(client, settings)


@pytest.fixture(name="other")
async def _other(client: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    """A second plain user and its access token."""
    return await user_with_token(client, settings)


@pytest.fixture(name="admin")
async def _admin(client: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    """An administrator and its access token."""
    return await user_with_token(client, settings, admin=True)


@pytest.fixture(name="session")
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session of its own on the test's backend, for calling services directly."""
    engine = create_engine(settings)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session
    await engine.dispose()
