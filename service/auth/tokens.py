"""Issuing JWTs and holding them to one strict shape; quart-jwt-extended signs and verifies.

Every token names its login (`sid`, a row of `auth_session`) and the user's
`token_version` (`ver`, bumped on a password change), inside the library's `user_claims`
claim. The login row is the truth about revocation; the revocation store only caches
"this login has ended" so that instances can refuse a revoked token without the database.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard, cast

import jwt as pyjwt
from quart import Quart
from quart_jwt_extended import JWTManager, create_access_token, create_refresh_token
from quart_jwt_extended.default_callbacks import default_decode_key_callback
from quart_jwt_extended.exceptions import JWTDecodeError
from redis.exceptions import RedisError

from service.auth.revocation import (
    MemoryRevocationStore,
    RedisRevocationStore,
    RevocationStore,
)
from service.config import Settings
from service.database import utcnow
from service.metrics import current_metrics
from service.redis_client import RedisClient
from service.users.models import User

logger = logging.getLogger(__name__)

CLAIMS_KEY = "user_claims"
REQUIRED_CLAIMS = ("sub", "exp", "iat", "jti", "type")
MAX_USER_ID = 2**63 - 1  # ids are 64-bit at most on every backend
MAX_TIMESTAMP = 2**63 - 1
MAX_JTI_LENGTH = 64
ALGORITHM = "HS256"
# Canonical decimal only: " 1", "01", "+1" and non-ASCII digits name no user.
_USER_ID = re.compile(r"[1-9][0-9]{0,18}")
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")

TokenKind = Literal["access", "refresh"]


class InvalidClaims(ValueError):
    """The token's claims are not the shape this service issues."""


@dataclass(frozen=True)
class TokenClaims:
    """The claims of a token this service issued, typed."""

    user_id: int
    session_id: str
    version: int
    jti: str
    kind: TokenKind
    expires: int


@dataclass(frozen=True)
class IssuedTokens:
    """A new pair (the response body) and what the login row must remember of it."""

    body: dict[str, Any]
    refresh_jti: str
    refresh_expires_at: datetime


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_time(value: object) -> TypeGuard[int]:
    # A NumericDate as issued here: an integer a 64-bit clock can hold (a bigger one is a
    # token that never expires, never one this service wrote).
    return _is_int(value) and 0 <= value <= MAX_TIMESTAMP


def check_header(header: Mapping[str, Any]) -> None:
    """Only the header issued here (RFC 8725 3.1): HS256, `typ` JWT or absent, nothing else.

    A `kid`, `jku`, `x5u`, `crit` or any other field names a key or a rule this service
    never uses; accepting it silently is how key confusion starts.
    """
    if header.get("alg") != ALGORITHM or set(header) - {"alg", "typ"}:
        raise InvalidClaims("Invalid token header")
    if "typ" in header and header["typ"] != "JWT":
        raise InvalidClaims("Invalid token header")


def parse_claims(raw: Mapping[str, Any]) -> TokenClaims:
    """The typed claims; raises InvalidClaims for anything but the shape issued here.

    `sub`, `exp`, `iat`, `jti` and `type` are required (RFC 8725: never trust a default
    for a missing claim), numbers must be JSON integers, `sub` a positive 64-bit id.
    Written so that no input raises anything but InvalidClaims.
    """
    missing = [name for name in REQUIRED_CLAIMS if name not in raw]
    if missing:
        raise InvalidClaims(f"Missing claim: {', '.join(missing)}")
    sub = raw["sub"]
    if not isinstance(sub, str) or not _USER_ID.fullmatch(sub) or int(sub) > MAX_USER_ID:
        raise InvalidClaims("Invalid claim: sub")
    for name in ("exp", "iat"):
        if not _is_time(raw[name]):
            raise InvalidClaims(f"Invalid claim: {name}")
    if "nbf" in raw and not _is_time(raw["nbf"]):
        raise InvalidClaims("Invalid claim: nbf")
    jti = raw["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise InvalidClaims("Invalid claim: jti")
    kind = raw["type"]
    if kind != "access" and kind != "refresh":
        raise InvalidClaims("Invalid claim: type")
    extra = raw.get(CLAIMS_KEY)
    session_id = extra.get("sid") if isinstance(extra, dict) else None
    version = extra.get("ver") if isinstance(extra, dict) else None
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        raise InvalidClaims("Invalid claim: sid")
    if not _is_int(version):
        raise InvalidClaims("Invalid claim: ver")
    return TokenClaims(
        user_id=int(sub),
        session_id=session_id,
        version=version,
        jti=jti,
        kind=cast(TokenKind, kind),
        expires=raw["exp"],
    )


def _decode_key(unverified_claims: dict[str, Any], unverified_headers: dict[str, Any]) -> Any:
    # The library fills in defaults for a missing `type` ("access") and `jti` (None)
    # after decoding; this loader is its one public hook that sees the claims as sent,
    # so the strict shape is enforced here, for every token it decodes.
    try:
        check_header(unverified_headers)
        parse_claims(unverified_claims)
    except InvalidClaims as error:
        raise JWTDecodeError(str(error)) from None
    return default_decode_key_callback(unverified_claims, unverified_headers)


class Tokens:
    """The token extension: issue pairs; cache and look up ended logins."""

    def __init__(self) -> None:
        self.store: RevocationStore = MemoryRevocationStore()
        self.access_ttl = 3600
        self.refresh_ttl = 30 * 24 * 3600

    def init_app(self, app: Quart) -> None:
        settings: Settings = app.extensions["settings"]
        redis_client: RedisClient = app.extensions["redis_client"]
        jwt: JWTManager = app.extensions["quart-jwt-extended"]
        self.access_ttl = settings.JWT_ACCESS_TOKEN_EXPIRES
        self.refresh_ttl = settings.JWT_REFRESH_TOKEN_EXPIRES
        if settings.REDIS_URL:
            self.store = RedisRevocationStore(
                lambda: redis_client.client, settings.REDIS_KEY_PREFIX
            )
        else:
            self.store = MemoryRevocationStore()
        app.config["JWT_USER_CLAIMS"] = CLAIMS_KEY
        app.config["JWT_CLAIMS_IN_REFRESH_TOKEN"] = True
        jwt.decode_key_loader(_decode_key)

    def issue(self, user: User, *, session_id: str) -> IssuedTokens:
        """A new access and refresh token pair for this login."""
        claims = {"ver": user.token_version, "sid": session_id}
        identity = str(user.id)
        refresh = create_refresh_token(identity=identity, user_claims=claims)
        # Our own token, just signed: read back the jti and expiry the library chose.
        minted = pyjwt.decode(refresh, options={"verify_signature": False})
        return IssuedTokens(
            body={
                "access_token": create_access_token(identity=identity, user_claims=claims),
                "refresh_token": refresh,
                "token_type": "bearer",
                "expires_in": self.access_ttl,
            },
            refresh_jti=str(minted["jti"]),
            refresh_expires_at=datetime.fromtimestamp(int(minted["exp"]), UTC),
        )

    async def known_ended(self, session_id: str) -> bool:
        """Whether the cache knows this login has ended; False when it cannot answer.

        False is never "allowed": the caller asks the database next.
        """
        try:
            return await self.store.any_revoked([("sid", session_id)])
        except (RedisError, OSError, TimeoutError):
            _count_failure("revocation cache unavailable; asking the database")
            return False

    async def remember_ended(self, ended: Iterable[tuple[str, datetime]]) -> None:
        """Cache that these logins (id, expiry) ended; best effort, the rows are the truth."""
        now = utcnow()
        try:
            for session_id, expires_at in ended:
                ttl = int((expires_at - now).total_seconds()) + 1
                if ttl > 0:
                    await self.store.revoke("sid", session_id, ttl)
        except (RedisError, OSError, TimeoutError):
            _count_failure("revocation cache unavailable; the database alone refuses")


def _count_failure(message: str) -> None:
    logger.warning(message, exc_info=True)
    current_metrics().redis_errors.labels("revocation").inc()
