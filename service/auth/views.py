"""`/api/v1/auth`: login, refresh (rotation with reuse detection) and logout."""

from __future__ import annotations

from typing import Any

from jwt.exceptions import PyJWTError
from pydantic import ValidationError as PydanticValidationError
from quart import Blueprint, request
from quart_jwt_extended import decode_token
from quart_jwt_extended.exceptions import JWTExtendedException
from quart_schema import document_request, document_response, validate_request, validate_response

from service.auth.exceptions import RefreshTokenReused
from service.auth.guards import auth_required, current_claims, current_user, refresh_required
from service.auth.schemas import LoginRequest, LogoutRequest, TokenPair
from service.auth.services import authenticate_user
from service.auth.tokens import family_of
from service.common.openapi import NoContent
from service.common.requests import optional_json_body
from service.common.schemas import ErrorBody
from service.errors import ValidationError, validation_fields
from service.extensions import db, tokens
from service.rate_limit import limit_group

blueprint = Blueprint("auth", __name__)

# RFC 6749 section 5.1: responses carrying tokens must not be stored by any cache.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@blueprint.post("/login")
@limit_group("login")
@validate_request(LoginRequest)
@validate_response(TokenPair)
@validate_response(ErrorBody, 401)
async def login(data: LoginRequest) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Exchange email and password for an access and a refresh token."""
    user = await authenticate_user(db.session(), email=data.email, password=data.password)
    return tokens.issue(user), 200, NO_STORE


@blueprint.post("/refresh")
@refresh_required
@validate_response(TokenPair)
@validate_response(ErrorBody, 401)
async def refresh() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Trade a refresh token for a new pair; the used one is revoked.

    A refresh token presented twice was stolen or replayed: every token of its login is
    revoked.
    """
    claims = current_claims()
    if await tokens.is_revoked(claims) or not await tokens.revoke(claims):
        await tokens.revoke_family(claims)
        raise RefreshTokenReused()
    return tokens.issue(current_user, family=family_of(claims)), 200, NO_STORE


@blueprint.post("/logout")
@auth_required
@optional_json_body
@document_request(LogoutRequest)
@document_response(NoContent, 204)
@validate_response(ErrorBody, 400)
@validate_response(ErrorBody, 401)
async def logout() -> tuple[str, int]:
    """Revoke this access token's login, and the refresh token given in the body."""
    refresh_claims = await _refresh_claims_from_body()
    claims = current_claims()
    await tokens.revoke(claims)
    await tokens.revoke_family(claims)
    if refresh_claims is not None:
        await tokens.revoke(refresh_claims)
        await tokens.revoke_family(refresh_claims)
    return "", 204


async def _refresh_claims_from_body() -> dict[str, Any] | None:
    if not await request.get_data():
        return None
    payload = await request.get_json()
    try:
        body = LogoutRequest.model_validate(payload)
    except PydanticValidationError as error:
        raise ValidationError.for_fields(validation_fields(error)) from None
    if body.refresh_token is None:
        return None
    try:
        claims: dict[str, Any] = decode_token(body.refresh_token)
    except (JWTExtendedException, PyJWTError):
        claims = {}
    if claims.get("type") != "refresh" or claims.get("sub") != str(current_user.id):
        raise ValidationError.for_fields(
            {"refresh_token": ["Not a valid refresh token of this user"]}
        )
    return claims
