"""Tokens: the one shape this service issues, issuing them, and the cache of ended logins.

Tokens are checked strictly (RFC 8725: trust no default): every token names its login
(`sid`, a row of `auth_session`) and the user's `token_version` (`ver`, bumped on a
password change), inside the library's `user_claims` claim; any other header or claims
fail validation. quart-jwt-extended signs and verifies.

The login row is the truth about revocation; Redis (shared by every instance) only
caches "this login has ended", so that instances refuse a revoked token without the
database. Losing an entry loses nothing (the row still refuses; without Redis the row
alone does), and keys live exactly as long as the tokens they refuse could be presented.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple, cast

from jwt.exceptions import PyJWTError
from pydantic import AliasPath, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from quart import Quart
from quart_jwt_extended import create_access_token, create_refresh_token, decode_token
from quart_jwt_extended.default_callbacks import default_decode_key_callback
from quart_jwt_extended.exceptions import JWTDecodeError, JWTExtendedException
from redis.exceptions import RedisError

from service.auth.recent import RecentLogins, VerifiedTokens
from service.cache import GENERATION_TTL
from service.config import Settings
from service.database import utcnow
from service.database.deadline import deadline_paused
from service.metrics import current_metrics
from service.redis_client import RedisClient
from service.users.models import User

logger = logging.getLogger(__name__)

CLAIMS_KEY = "user_claims"
INT64_MAX = 2**63 - 1  # ids are 64-bit at most on every backend, and so are clocks
# Canonical decimal only: " 1", "01", "+1" and non-ASCII digits name no user.
_USER_ID = re.compile(r"[1-9][0-9]{0,18}")
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Only the header issued here (RFC 8725 3.1): HS256, `typ` JWT or absent, nothing else. A
# `kid`, `jku`, `x5u`, `crit` or any other field names a key or a rule this service never
# uses; accepting it silently is how key confusion starts.
HEADERS = ({"alg": "HS256"}, {"alg": "HS256", "typ": "JWT"})
# What decoding and reading a token that is not a valid one of ours raises.
INVALID_TOKEN = (JWTExtendedException, PyJWTError, ValidationError)

# A NumericDate as issued here: an integer a 64-bit clock can hold (a bigger one is a
# token that never expires, never one this service wrote).
Time = Annotated[int, Field(ge=0, le=INT64_MAX)]


def _user_id(value: object) -> int:
    if isinstance(value, str) and _USER_ID.fullmatch(value) and int(value) <= INT64_MAX:
        return int(value)
    raise ValueError("not a user id")


class TokenClaims(BaseModel):
    """The claims of a token this service issued, typed.

    `sub`, `exp`, `iat`, `jti` and `type` are required; strict: numbers must be JSON
    integers (no strings, floats or booleans), `sub` a positive 64-bit id.
    """

    model_config = ConfigDict(strict=True, frozen=True)

    user_id: Annotated[int, BeforeValidator(_user_id)] = Field(alias="sub")
    expires: Time = Field(alias="exp")
    issued_at: Time = Field(alias="iat")
    not_before: Time = Field(0, alias="nbf")
    jti: str = Field(min_length=1, max_length=64)
    kind: Literal["access", "refresh"] = Field(alias="type")
    session_id: str = Field(
        validation_alias=AliasPath(CLAIMS_KEY, "sid"), pattern=f"^{SESSION_ID.pattern}$"
    )
    version: int = Field(validation_alias=AliasPath(CLAIMS_KEY, "ver"))

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires, UTC)


def _decode_key(unverified_claims: dict[str, Any], unverified_headers: dict[str, Any]) -> Any:
    # The library fills in defaults for a missing `type` ("access") and `jti` (None)
    # after decoding; this loader is its one public hook that sees the claims as sent,
    # so the strict shape is enforced here, for every token it decodes.
    if unverified_headers not in HEADERS:
        raise JWTDecodeError("Invalid token header")
    try:
        TokenClaims.model_validate(unverified_claims)
    except ValidationError:
        raise JWTDecodeError("Invalid token claims") from None
    return default_decode_key_callback(unverified_claims, unverified_headers)


class LoginState(NamedTuple):
    """What Redis holds about a login: whether it ended, and its user's cache generation."""

    ended: bool
    generation: bytes | None


class Tokens:
    """The token extension: issue pairs; cache and look up ended logins."""

    access_ttl: int
    key_prefix: str
    redis: RedisClient  # the app's: its `client` is None without Redis
    recent: RecentLogins
    verified: VerifiedTokens

    def init_app(self, app: Quart) -> None:
        settings: Settings = app.extensions["settings"]
        self.access_ttl = settings.JWT_ACCESS_TOKEN_EXPIRES
        self.key_prefix = f"{settings.REDIS_KEY_PREFIX}revoked:sid:"
        self.redis = app.extensions["redis_client"]
        self.recent = RecentLogins(settings.LOGIN_CACHE_SECONDS)
        self.verified = VerifiedTokens()
        app.config.update(JWT_USER_CLAIMS=CLAIMS_KEY, JWT_CLAIMS_IN_REFRESH_TOKEN=True)
        app.extensions["quart-jwt-extended"].decode_key_loader(_decode_key)

    def issue(self, user: User, *, session_id: str) -> tuple[dict[str, Any], TokenClaims]:
        """A new access and refresh token pair for this login, and the refresh token's claims."""
        claims = {"ver": user.token_version, "sid": session_id}
        refresh = create_refresh_token(identity=str(user.id), user_claims=claims)
        body = {
            "access_token": create_access_token(identity=str(user.id), user_claims=claims),
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.access_ttl,
        }
        return body, TokenClaims.model_validate(decode_token(refresh))

    def revocation_key(self, session_id: str) -> str:
        return self.key_prefix + session_id

    async def login_state(
        self, session_id: str, generation_key: str, read: Mapping[str, bytes | None]
    ) -> LoginState | None:
        """The login's state: from `read` when this request's limiter read its keys, else
        in one round trip; None without Redis or when it cannot answer.

        None is never "allowed": the caller asks the database.
        """
        revocation_key = self.revocation_key(session_id)
        if revocation_key in read and generation_key in read:
            return LoginState(read[revocation_key] is not None, read[generation_key])
        client = self.redis.client
        if client is None:
            return None
        try:
            ended, generation = await client.mget(revocation_key, generation_key)
        except (RedisError, OSError, TimeoutError):
            _count_failure("revocation cache unavailable; asking the database")
            return None
        return LoginState(ended is not None, cast(bytes | None, generation))

    async def start_generation(self, generation_key: str) -> bytes | None:
        """The generation under `generation_key`, created (0) when there is none yet.

        A confirmation needs one that exists: after Redis loses its keys, none matches.
        """
        client = self.redis.client
        try:
            if client is not None:
                old = await client.set(generation_key, 0, nx=True, get=True, ex=GENERATION_TTL)
                return cast(bytes | None, old) or b"0"
        except (RedisError, OSError, TimeoutError):
            _count_failure("revocation cache unavailable; nothing confirmed")
        return None

    async def remember_ended(
        self, ended: Iterable[tuple[str, datetime]], *, settle: bool = True
    ) -> None:
        """Cache that these logins (id, expiry) ended, so every instance refuses them now.

        Best effort: the rows are the truth. When Redis cannot take it, other instances may
        still reuse a confirmation of one of them (`recent`), so with `settle` this waits
        until every such confirmation has lapsed: once the caller answers, none accepts it.
        """
        client = self.redis.client
        try:
            for session_id, expires_at in ended:
                self.recent.forget(session_id)
                if client is not None and expires_at > utcnow():
                    await client.set(self.revocation_key(session_id), "1", pxat=expires_at)
        except (RedisError, OSError, TimeoutError):
            _count_failure("revocation cache unavailable; the database alone refuses")
            if settle:
                with deadline_paused():
                    await asyncio.sleep(self.recent.seconds)


def _count_failure(message: str) -> None:
    logger.warning(message, exc_info=True)
    current_metrics().redis_errors.labels("revocation").inc()
