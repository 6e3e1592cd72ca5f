"""Issuing and revoking JWTs: quart-jwt-extended signs, this module keeps the state.

Every token carries the user's `token_version` (`ver`, bumped on a password change) and
its login's family id (`fam`), inside the library's `user_claims` claim.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from quart import Quart
from quart_jwt_extended import create_access_token, create_refresh_token
from redis.asyncio import Redis

from service.auth.revocation import (
    MemoryRevocationStore,
    RedisRevocationStore,
    RevocationStore,
)
from service.config import Settings
from service.users.models import User

logger = logging.getLogger(__name__)

CLAIMS_KEY = "user_claims"


class Tokens:
    """The token extension: issue pairs, revoke tokens and families, check revocation."""

    def __init__(self) -> None:
        self.store: RevocationStore = MemoryRevocationStore()
        self.access_ttl = 3600
        self.refresh_ttl = 30 * 24 * 3600

    def init_app(
        self, app: Quart, settings: Settings, *, redis: Callable[[], Redis | None]
    ) -> None:
        self.access_ttl = settings.JWT_ACCESS_TOKEN_EXPIRES
        self.refresh_ttl = settings.JWT_REFRESH_TOKEN_EXPIRES
        if settings.REDIS_URL:
            self.store = RedisRevocationStore(redis, settings.REDIS_KEY_PREFIX)
        else:
            self.store = MemoryRevocationStore()
        app.config["JWT_USER_CLAIMS"] = CLAIMS_KEY
        app.config["JWT_CLAIMS_IN_REFRESH_TOKEN"] = True

    def issue(self, user: User, *, family: str | None = None) -> dict[str, Any]:
        """A new access and refresh token pair; a login starts a new family."""
        claims = {"ver": user.token_version, "fam": family or uuid.uuid4().hex}
        identity = str(user.id)
        return {
            "access_token": create_access_token(identity=identity, user_claims=claims),
            "refresh_token": create_refresh_token(identity=identity, user_claims=claims),
            "token_type": "bearer",
            "expires_in": self.access_ttl,
        }

    async def revoke(self, claims: dict[str, Any]) -> bool:
        """Revoke one token until it would expire; False if it was revoked already."""
        return await self.store.revoke("jti", str(claims["jti"]), _remaining(claims))

    async def revoke_family(self, claims: dict[str, Any]) -> None:
        """Refuse every token of this login from now on."""
        family = family_of(claims)
        if family:
            await self.store.revoke("fam", family, self.refresh_ttl)

    async def is_revoked(self, claims: dict[str, Any]) -> bool:
        items = [("jti", str(claims.get("jti")))]
        family = family_of(claims)
        if family:
            items.append(("fam", family))
        return await self.store.any_revoked(items)


def family_of(claims: dict[str, Any]) -> str | None:
    extra = claims.get(CLAIMS_KEY)
    family = extra.get("fam") if isinstance(extra, dict) else None
    return family if isinstance(family, str) else None


def version_of(claims: dict[str, Any]) -> int | None:
    extra = claims.get(CLAIMS_KEY)
    version = extra.get("ver") if isinstance(extra, dict) else None
    return version if isinstance(version, int) else None


def _remaining(claims: dict[str, Any]) -> int:
    expires = claims.get("exp")
    if not isinstance(expires, int | float):
        return 1
    return max(1, int(expires - time.time()) + 1)
