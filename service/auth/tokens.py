"""Tokens: issuing them (in the shape of `claims`), and the cache of ended logins.

The login row is the truth about revocation; Redis (shared by every instance) only
caches "this login has ended", so that instances refuse a revoked token without the
database. Losing an entry loses nothing (the row still refuses; without Redis the row
alone does), and keys live exactly as long as the tokens they refuse could be presented.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from quart import Quart
from quart_jwt_extended import create_access_token, create_refresh_token, decode_token
from redis.exceptions import RedisError

from service.auth.claims import CLAIMS_KEY, TokenClaims, decode_key
from service.auth.recent import RecentLogins, VerifiedTokens
from service.cache import GENERATION_TTL
from service.common.early_reads import early_values, keep_early
from service.config import Settings
from service.database import utcnow
from service.database.deadline import deadline_paused
from service.metrics import current_metrics
from service.redis_client import RedisClient
from service.users.models import User

logger = logging.getLogger(__name__)


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
        app.extensions["quart-jwt-extended"].decode_key_loader(decode_key)

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
        self,
        session_id: str,
        generation_key: str,
        also_read: Callable[[], Sequence[str]] = tuple,
    ) -> LoginState | None:
        """The login's state, read early in this request (`early_reads`) or now, in one
        round trip with `also_read`; None without Redis or when it cannot answer.

        None is never "allowed": the caller asks the database.
        """
        revocation_key = self.revocation_key(session_id)
        known = early_values(revocation_key, generation_key)
        if known is not None:
            return LoginState(known[0] is not None, known[1])
        client = self.redis.client
        if client is None:
            return None
        more_keys = also_read()
        try:
            ended, generation, *more = await client.mget(revocation_key, generation_key, *more_keys)
        except (RedisError, OSError, TimeoutError):
            _count_failure("revocation cache unavailable; asking the database")
            return None
        keep_early(dict(zip(more_keys, cast(list[bytes | None], more), strict=True)))
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
