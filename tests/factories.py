"""Helpers that create users, tokens and products through the API, as a client would."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import update

from service.config import Settings
from service.database import create_engine
from service.users.models import User

FAST_HASHING: dict[str, Any] = {
    "PASSWORD_HASH_TIME_COST": 1,
    "PASSWORD_HASH_MEMORY_KIB": 1024,
    "PASSWORD_HASH_PARALLELISM": 1,
}
PASSWORD = "correct horse battery"
# Limiting on, no limit ever reached: the limiter's Redis call is on every request's path.
UNREACHED_LIMITS = {"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_DEFAULT": "100000/hour"}
# Limits too small to lease from (rate_limit/redis_store.py): Redis counts every request.
EXACT_LIMITS = {
    "RATE_LIMIT_ENABLED": True,
    "RATE_LIMIT_DEFAULT": "9/hour",
    "RATE_LIMIT_USERS": "9/hour",
    "RATE_LIMIT_LOGIN": "9/hour",
}
_numbers = itertools.count(1)
_skus = itertools.count(1)


async def sign_up(
    client: Any, *, email: str | None = None, name: str = "Test User"
) -> dict[str, Any]:
    """Create a user through `POST /api/v1/users/`; returns the user JSON."""
    email = email or f"user{next(_numbers)}@example.com"
    response = await client.post(
        "/api/v1/users/", json={"email": email, "name": name, "password": PASSWORD}
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    user: dict[str, Any] = await response.get_json()
    return user


async def log_in(client: Any, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Log in; returns the token pair JSON."""
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, await response.get_data(as_text=True)
    tokens: dict[str, Any] = await response.get_json()
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_admin(settings: Settings, user_id: int) -> None:
    """Promote a user directly in the database (no API can make the first admin)."""
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.execute(update(User).where(User.id == user_id).values(is_admin=True))
    await engine.dispose()


async def user_with_token(
    client: Any, settings: Settings, *, admin: bool = False, email: str | None = None
) -> tuple[dict[str, Any], str]:
    """A new user (optionally admin) and an access token for it."""
    user = await sign_up(client, email=email)
    if admin:
        await make_admin(settings, user["id"])
        user["is_admin"] = True
    tokens = await log_in(client, user["email"])
    return user, tokens["access_token"]


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
