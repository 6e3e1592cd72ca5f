"""Issuing JWTs (quart-jwt-extended signs and verifies) and the cache of ended logins.

The login row is the truth about revocation; Redis (shared by every instance) only
caches "this login has ended", so that instances refuse a revoked token without the
database. Losing an entry loses nothing (the row still refuses; without Redis the row
alone does), and keys live exactly as long as the tokens they refuse could be presented.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from quart import Quart
from quart_jwt_extended import create_access_token, create_refresh_token, decode_token
from quart_jwt_extended.default_callbacks import default_decode_key_callback
from quart_jwt_extended.exceptions import JWTDecodeError
from redis.exceptions import RedisError

from service.auth.claims import (
    CLAIMS_KEY,
    InvalidClaims,
    TokenClaims,
    check_header,
    parse_claims,
)
from service.config import Settings
from service.database import utcnow
from service.metrics import current_metrics
from service.redis_client import RedisClient
from service.users.models import User

logger = logging.getLogger(__name__)


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
        self.access_ttl = 3600
        self.key_prefix = "revoked:sid:"
        self.redis = RedisClient()  # the app's, from init_app: its `client` is None without Redis

    def init_app(self, app: Quart) -> None:
        settings: Settings = app.extensions["settings"]
        self.access_ttl = settings.JWT_ACCESS_TOKEN_EXPIRES
        self.key_prefix = f"{settings.REDIS_KEY_PREFIX}revoked:sid:"
        self.redis = app.extensions["redis_client"]
        app.config.update(JWT_USER_CLAIMS=CLAIMS_KEY, JWT_CLAIMS_IN_REFRESH_TOKEN=True)
        app.extensions["quart-jwt-extended"].decode_key_loader(_decode_key)

    def issue(self, user: User, *, session_id: str) -> tuple[dict[str, Any], TokenClaims]:
        """A new access and refresh token pair for this login, and the refresh token's claims."""
        claims = {"ver": user.token_version, "sid": session_id}
        identity = str(user.id)
        refresh = create_refresh_token(identity=identity, user_claims=claims)
        body = {
            "access_token": create_access_token(identity=identity, user_claims=claims),
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.access_ttl,
        }
        return body, parse_claims(decode_token(refresh))

    async def known_ended(self, session_id: str) -> bool:
        """Whether the cache knows this login has ended; False when it cannot answer.

        False is never "allowed": the caller asks the database next.
        """
        if (client := self.redis.client) is None:
            return False
        try:
            return bool(await client.exists(self.key_prefix + session_id))
        except (RedisError, OSError, TimeoutError):
            _count_failure("revocation cache unavailable; asking the database")
            return False

    async def remember_ended(self, ended: Iterable[tuple[str, datetime]]) -> None:
        """Cache that these logins (id, expiry) ended; best effort, the rows are the truth."""
        now, client = utcnow(), self.redis.client
        try:
            for session_id, expires_at in ended:
                ttl = int((expires_at - now).total_seconds()) + 1
                if client is not None and ttl > 0:
                    await client.set(self.key_prefix + session_id, "1", ex=ttl)
        except (RedisError, OSError, TimeoutError):
            _count_failure("revocation cache unavailable; the database alone refuses")


def _count_failure(message: str) -> None:
    logger.warning(message, exc_info=True)
    current_metrics().redis_errors.labels("revocation").inc()
