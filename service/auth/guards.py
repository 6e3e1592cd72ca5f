"""`auth_required` / `refresh_required`: our async layer around quart-jwt-extended.

The library verifies the signature, expiry and token type (and, through our decode-key
loader, the strict header and claim shapes of `claims`). Its user-loader and blocklist
callbacks are synchronous (an async one is never awaited: every token looks revoked, or a
deleted user gets through), so the login and user checks happen here, awaited, after the
library has accepted the token: the revocation cache first, then one query for the
login row joined with its user. The row decides; a cache that cannot answer only means
that query decides alone, never that the token is let through unchecked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Literal, ParamSpec, TypeVar, cast

from quart import g, request
from quart_jwt_extended import get_raw_jwt
from quart_jwt_extended.view_decorators import (
    verify_jwt_in_request,
    verify_jwt_refresh_token_in_request,
)
from quart_schema import security_scheme
from werkzeug.local import LocalProxy

from service.auth import sessions
from service.auth.claims import INVALID_TOKEN, TokenClaims
from service.common.early_reads import view_keys
from service.database import utcnow
from service.errors import Unauthorized
from service.extensions import cache, db, tokens
from service.users.caching import USER_NAMESPACE
from service.users.models import User

P = ParamSpec("P")
R = TypeVar("R")
View = Callable[P, Awaitable[R]]
VERIFY = {"access": verify_jwt_in_request, "refresh": verify_jwt_refresh_token_in_request}

# The 401 message for the library's errors by name; any other: "The token is not valid".
TOKEN_ERRORS = {
    "NoAuthorizationError": "A bearer token is required",
    "InvalidHeaderError": "The Authorization header must be 'Bearer <token>'",
    "ExpiredSignatureError": "The token has expired",
    "WrongTokenError": "This kind of token is not accepted here",
}

current_user: User = cast(User, LocalProxy(lambda: g.current_user))
current_claims: TokenClaims = cast(TokenClaims, LocalProxy(lambda: g.token_claims))


async def authenticate(kind: Literal["access", "refresh"]) -> User:
    """Check the request's bearer token of `kind`, its login and its user; 401 otherwise."""
    headers = request.headers.getlist("Authorization")
    if len(headers) > 1:
        # Which credential counts would be ambiguous (a proxy may have checked the other).
        raise Unauthorized("Send one Authorization header")
    claims = tokens.verified.get(headers[0], kind) if headers else None
    if claims is None:
        try:
            await VERIFY[kind]()
            claims = TokenClaims.model_validate(get_raw_jwt())
        except INVALID_TOKEN as error:
            message = TOKEN_ERRORS.get(type(error).__name__, "The token is not valid")
            raise Unauthorized(message) from None
        tokens.verified.remember(headers[0], claims)
    generation_key = _generation_key(claims)
    state = await tokens.login_state(claims.session_id, generation_key, also_read=view_keys)
    if state is not None and state.ended:
        raise Unauthorized("The token's login has ended")
    if kind == "access" and state is not None:
        confirmed = tokens.recent.user_for(claims, state.generation)
        if confirmed is not None:
            g.current_user, g.token_claims = confirmed, claims
            return confirmed
    found = await sessions.find_login(db.session(), claims.session_id)
    # No row: never issued here, or its user was deleted (the rows go with the user).
    if found is None or found[0].user_id != claims.user_id:
        raise Unauthorized("The token's login does not exist")
    login, user = found
    if login.revoked_at is not None or login.expires_at <= utcnow():
        # No key once expired; no wait: this only refills the cache.
        await tokens.remember_ended([(login.id, login.expires_at)], settle=False)
        raise Unauthorized("The token's login has ended")
    if user.token_version != claims.version:
        raise Unauthorized("The token was issued before the password changed")
    if kind == "access":
        await sessions.touch_session(db.session(), login)
        if state is not None:
            # The generation read before the query: a user write since then shows.
            generation = state.generation or await tokens.start_generation(generation_key)
            if generation is not None:
                tokens.recent.remember(login.id, user, login.expires_at, generation)
    g.current_user, g.token_claims = user, claims
    return user


def login_state_keys() -> list[str]:
    """The Redis keys `authenticate` reads for the request's access token, when this
    process has verified the token before (else none): the limiter reads them in its own
    round trip, which saves the request one."""
    headers = request.headers.getlist("Authorization")
    claims = tokens.verified.get(headers[0], "access") if len(headers) == 1 else None
    if claims is None:
        return []
    return [tokens.revocation_key(claims.session_id), _generation_key(claims)]


def _generation_key(claims: TokenClaims) -> str:
    return cache.generation_key(USER_NAMESPACE.format(user_id=claims.user_id))


def _requires(kind: Literal["access", "refresh"]) -> Callable[[View[P, R]], View[P, R]]:
    def decorator(view: View[P, R]) -> View[P, R]:
        @wraps(view)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            await authenticate(kind)
            return await view(*args, **kwargs)

        return security_scheme([{"bearerAuth": []}])(wrapper)

    return decorator


auth_required = _requires("access")
"""Require a valid access token of a live login of an existing user (`current_user`)."""

refresh_required = _requires("refresh")
"""Require a valid refresh token of a live login; rotation and reuse are the view's."""
