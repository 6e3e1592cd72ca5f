"""`auth_required` / `refresh_required`: our async layer around quart-jwt-extended.

The library verifies the signature, expiry and token type. Its user-loader and
blocklist callbacks are synchronous (an async one is never awaited: every token looks
revoked, or a deleted user gets through), so the revocation check and the user look-up
happen here, awaited, after the library has accepted the token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, Literal, ParamSpec, TypeVar, cast

from jwt.exceptions import PyJWTError
from quart import g
from quart_jwt_extended import get_raw_jwt
from quart_jwt_extended.exceptions import JWTExtendedException
from quart_jwt_extended.view_decorators import (
    verify_jwt_in_request,
    verify_jwt_refresh_token_in_request,
)
from quart_schema import security_scheme
from redis.exceptions import RedisError
from werkzeug.local import LocalProxy

from service.auth.tokens import version_of
from service.errors import Unauthorized
from service.extensions import db, tokens
from service.observability import current_metrics
from service.users.models import User
from service.users.services import find_user

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]

current_user: User = cast(User, LocalProxy(lambda: g.current_user))


def current_claims() -> dict[str, Any]:
    claims: dict[str, Any] = g.jwt_claims
    return claims


async def authenticate(kind: Literal["access", "refresh"]) -> User:
    """Check the request's bearer token of `kind` and load its user; 401 otherwise."""
    try:
        if kind == "access":
            await verify_jwt_in_request()
        else:
            await verify_jwt_refresh_token_in_request()
        claims: dict[str, Any] = get_raw_jwt()
    except (JWTExtendedException, PyJWTError) as error:
        raise Unauthorized(_describe(error)) from None
    try:
        user_id = int(claims["sub"])
    except (KeyError, TypeError, ValueError):
        raise Unauthorized("The token names no user") from None
    if kind == "access" and await _is_revoked(claims):
        raise Unauthorized("The token has been revoked")
    user = await find_user(db.session(), user_id)
    if user is None:
        raise Unauthorized("The token's user no longer exists")
    if user.token_version != version_of(claims):
        raise Unauthorized("The token was issued before the password changed")
    g.current_user = user
    g.jwt_claims = claims
    return user


async def _is_revoked(claims: dict[str, Any]) -> bool:
    try:
        return await tokens.is_revoked(claims)
    except (RedisError, OSError, TimeoutError):
        # Fail open for reads: the user and token-version checks still hold, and an
        # outage of Redis must not log every client out.
        logger.warning("revocation store unavailable; token accepted unchecked", exc_info=True)
        current_metrics().redis_errors.labels("revocation").inc()
        return False


def _describe(error: BaseException) -> str:
    name = type(error).__name__
    return {
        "NoAuthorizationError": "A bearer token is required",
        "InvalidHeaderError": "The Authorization header must be 'Bearer <token>'",
        "ExpiredSignatureError": "The token has expired",
        "WrongTokenError": "This kind of token is not accepted here",
    }.get(name, "The token is not valid")


def _requires(
    kind: Literal["access", "refresh"],
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    def decorator(view: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @wraps(view)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            await authenticate(kind)
            return await view(*args, **kwargs)

        return security_scheme(BEARER)(wrapper)

    return decorator


auth_required = _requires("access")
"""Require a valid, unrevoked access token of an existing user (`current_user`)."""

refresh_required = _requires("refresh")
"""Require a valid refresh token of an existing user; rotation checks are the view's."""
