"""`/api/v1/auth`: login, refresh (rotation with reuse detection), logout and sessions.

Every login is an `auth_session` row; the views change it in the request's transaction,
and tell the revocation cache only after that transaction has committed.
"""

from __future__ import annotations

from contextlib import suppress
from functools import partial
from typing import Any

from quart import Blueprint, request
from quart_jwt_extended import decode_token
from quart_schema import document_request, document_response
from quart_schema.conversion import model_load
from quart_schema.validation import RequestSchemaValidationError

from service.auth import sessions
from service.auth.claims import INVALID_TOKEN, SESSION_ID, TokenClaims
from service.auth.exceptions import RefreshTokenReused, SessionNotFound
from service.auth.guards import auth_required, current_claims, current_user, refresh_required
from service.auth.schemas import LoginRequest, LogoutRequest, SessionRead, TokenPair
from service.auth.services import authenticate_user
from service.common.openapi import NoContent
from service.common.requests import optional_json_body
from service.common.schemas import ErrorBody
from service.common.validation import validate_request, validate_response
from service.errors import InvalidInput
from service.extensions import db, tokens
from service.rate_limit import from_setting, rate_limit
from service.users.services import find_user_by_email

blueprint = Blueprint("auth", __name__)

# RFC 6749 section 5.1: responses carrying tokens must not be stored by any cache.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def _end_logins(login: str | None = None) -> bool:
    """End the caller's logins (or only `login`); the cache hears of it once committed."""
    ended = await sessions.end_sessions(db.session(), user_id=current_user.id, session_id=login)
    db.after_commit(partial(tokens.remember_ended, ended))
    return bool(ended)


@blueprint.post("/login")
@rate_limit(limits=from_setting("RATE_LIMIT_LOGIN"))
@validate_request(LoginRequest)
@validate_response(TokenPair)
@validate_response(ErrorBody, 401)
async def login(data: LoginRequest) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Exchange email and password for an access and a refresh token (a new login)."""
    session = db.session()
    user = await find_user_by_email(session, data.email)
    # Nothing is written yet: the commit gives the connection back to the pool while the
    # password hashes (under a login flood, requests waiting for one ran out of time).
    await session.commit()
    user = await authenticate_user(session, user, password=data.password)
    # Opportunistic clean-up: this user's expired logins (`service purge-sessions` does all).
    await sessions.purge_expired_sessions(session, user_id=user.id)
    body, refresh = tokens.issue(user, session_id=sessions.new_session_id())
    await sessions.start_session(session, refresh=refresh, user_agent=request.user_agent.string)
    return body, 200, NO_STORE


@blueprint.post("/refresh")
@refresh_required
@validate_response(TokenPair)
async def refresh() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Trade a refresh token for a new pair; the used one is revoked.

    A refresh token presented twice was stolen or replayed: every token of its login is
    revoked.
    """
    body, claims = tokens.issue(current_user, session_id=current_claims.session_id)
    if await sessions.rotate_refresh(db.session(), presented=current_claims.jti, refresh=claims):
        return body, 200, NO_STORE
    await _end_logins(current_claims.session_id)
    # Returned, not raised: the revocation must commit with this answer.
    error = RefreshTokenReused()
    return error.to_dict(), error.status_code, error.headers


@blueprint.post("/logout")
@auth_required
@optional_json_body
@document_request(LogoutRequest)
@document_response(NoContent, 204)
async def logout() -> tuple[str, int]:
    """End this access token's login, and the login of the refresh token in the body."""
    refresh_login = await _refresh_login_in_body()
    await _end_logins(current_claims.session_id)
    if refresh_login not in (None, current_claims.session_id):
        await _end_logins(refresh_login)
    return "", 204


async def _refresh_login_in_body() -> str | None:
    """The login of the refresh token in the body, if any; 400 for another user's or none."""
    document = await request.get_json() if await request.get_data() else {}
    body = model_load(document, LogoutRequest, RequestSchemaValidationError)
    if body.refresh_token is None:
        return None
    with suppress(*INVALID_TOKEN):
        claims = TokenClaims.model_validate(decode_token(body.refresh_token))
        if claims.kind == "refresh" and claims.user_id == current_user.id:
            return claims.session_id
    raise InvalidInput.for_fields({"refresh_token": ["Not a valid refresh token of this user"]})


@blueprint.get("/sessions/")
@auth_required
@validate_response(list[SessionRead])
async def list_sessions() -> list[SessionRead]:
    """The caller's live logins; `current` marks this token's."""
    return [
        SessionRead(
            id=login.id,
            created_at=login.created_at,
            last_used_at=login.last_used_at,
            expires_at=login.expires_at,
            user_agent=login.user_agent,
            current=login.id == current_claims.session_id,
        )
        for login in await sessions.list_sessions(db.session(), user_id=current_user.id)
    ]


@blueprint.delete("/sessions/")
@auth_required
@document_response(NoContent, 204)
async def end_all_sessions() -> tuple[str, int]:
    """End every login of the caller, this one included."""
    await _end_logins()
    return "", 204


@blueprint.delete("/sessions/<session_id>")
@auth_required
@document_response(NoContent, 204)
@validate_response(ErrorBody, 404)
async def end_session(session_id: str) -> tuple[str, int]:
    """End one login of the caller: its tokens are refused from now on, everywhere."""
    if not SESSION_ID.fullmatch(session_id) or not await _end_logins(session_id):
        raise SessionNotFound()
    return "", 204
