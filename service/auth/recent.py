"""What this process checked a moment ago: tokens it verified, and logins it confirmed.

A token is verified by quart-jwt-extended (signature, header, claims) the first time this
process sees its exact Authorization header; after that only its expiry is checked
again: the same bytes verify the same way every time, and decoding costs more than the
rest of a cached read (PyJWT checks every character in Python, several times a token).

A login's confirmation (the login and its user, from the one query that checks them) is reused for
up to LOGIN_CACHE_SECONDS, and only while Redis confirms in the request's one round trip
that nothing changed since: the login is not in the shared cache of ended logins, and the
user's cache generation, which every user write bumps (role, password, deletion) before
its commit, is the one the confirmation was made under. Without Redis, or when it does not
answer, the database decides every time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect

from service.config import JWT_LEEWAY_SECONDS
from service.database import utcnow
from service.users.models import User

if TYPE_CHECKING:
    from service.auth.claims import TokenClaims

CAPACITY = 10_000
_COLUMNS = tuple(attribute.key for attribute in inspect(User).column_attrs)
_USERS = inspect(User).class_manager


@dataclass(frozen=True, slots=True)
class _Confirmed:
    user: dict[str, Any]  # the user's columns: each request gets its own User from them
    login_expires_at: datetime
    generation: bytes
    until: float  # time.monotonic()


class RecentLogins:
    """Per process: login id -> what the database said of it, for `seconds` (0: never)."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self._confirmed: dict[str, _Confirmed] = {}

    def user_for(self, claims: TokenClaims, generation: bytes | None) -> User | None:
        """The user of `claims`' login if a confirmation still holds under `generation`."""
        entry = self._confirmed.get(claims.session_id)
        if (
            entry is None
            or entry.generation != generation
            or entry.until <= time.monotonic()
            or entry.login_expires_at <= utcnow()
            or entry.user["id"] != claims.user_id
            or entry.user["token_version"] != claims.version
        ):
            return None
        # Its own User, filled as a query would fill it (the constructor's per-attribute
        # change events cost ten times as much, for an object that is only read).
        user: User = _USERS.new_instance()
        user.__dict__.update(entry.user)
        return user

    def remember(
        self, session_id: str, user: User, login_expires_at: datetime, generation: bytes
    ) -> None:
        if self.seconds <= 0:
            return
        if len(self._confirmed) >= CAPACITY:
            del self._confirmed[next(iter(self._confirmed))]  # the oldest
        columns = {name: getattr(user, name) for name in _COLUMNS}
        until = time.monotonic() + self.seconds
        self._confirmed[session_id] = _Confirmed(columns, login_expires_at, generation, until)

    def forget(self, session_id: str) -> None:
        self._confirmed.pop(session_id, None)


class VerifiedTokens:
    """Per process: exact Authorization header -> the claims its token verified to."""

    def __init__(self) -> None:
        self._claims: dict[str, TokenClaims] = {}

    def get(self, header: str, kind: str) -> TokenClaims | None:
        claims = self._claims.get(header)
        if (
            claims is None
            or claims.kind != kind
            or claims.expires + JWT_LEEWAY_SECONDS < time.time()
        ):
            return None
        return claims

    def remember(self, header: str, claims: TokenClaims) -> None:
        if len(self._claims) >= CAPACITY:
            del self._claims[next(iter(self._claims))]  # the oldest
        self._claims[header] = claims
