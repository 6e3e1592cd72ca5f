"""Login services: every login is a row; tokens live only as long as their row does.

Ending a login sets `revoked_at` in the caller's transaction, so the revocation is as
durable as the data. A user's rows go with the user (ON DELETE CASCADE), so a token of a
deleted user names no login at all, whichever user later gets the same id.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.claims import TokenClaims
from service.auth.models import AuthSession
from service.database import utcnow
from service.users.models import User

# `last_used_at` is written at most this often per login, so reads stay reads.
TOUCH_INTERVAL = timedelta(minutes=1)
USER_AGENT_LENGTH = 255


def new_session_id() -> str:
    """A random, unguessable login id (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def _clean_user_agent(value: str | None) -> str | None:
    printable = "".join(char for char in value or "" if char.isprintable())
    return printable[:USER_AGENT_LENGTH] or None


async def start_session(
    session: AsyncSession, *, refresh: TokenClaims, user_agent: str | None
) -> None:
    """Record the new login that `refresh`, its first refresh token, names."""
    login = AuthSession(
        id=refresh.session_id,
        user_id=refresh.user_id,
        expires_at=refresh.expires_at,
        user_agent=_clean_user_agent(user_agent),
        refresh_jti=refresh.jti,
    )
    session.add(login)
    await session.flush()


async def find_login(session: AsyncSession, session_id: str) -> tuple[AuthSession, User] | None:
    """The login with this id and its user, in one query, or None."""
    query = select(AuthSession, User).join(User).where(AuthSession.id == session_id)
    return (await session.execute(query)).first()


async def touch_session(session: AsyncSession, login: AuthSession) -> None:
    """Note that the login was used, unless that was noted less than a minute ago."""
    now = utcnow()
    if now - login.last_used_at >= TOUCH_INTERVAL:
        login.last_used_at = now
        await session.flush()


async def rotate_refresh(session: AsyncSession, *, presented: str, refresh: TokenClaims) -> bool:
    """Make `refresh` its login's refresh token if the `presented` jti still is; else False.

    One conditional UPDATE: of two requests presenting the same refresh token, the
    database lets exactly one through, on every instance.
    """
    rotated = await session.scalar(
        update(AuthSession)
        .filter_by(id=refresh.session_id, refresh_jti=presented, revoked_at=None)
        .values(refresh_jti=refresh.jti, expires_at=refresh.expires_at, last_used_at=utcnow())
        .returning(AuthSession.id)
        .execution_options(synchronize_session=False)
    )
    return rotated is not None


def _live(user_id: int) -> tuple[ColumnElement[bool], ...]:
    return (
        AuthSession.user_id == user_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > utcnow(),
    )


async def end_sessions(
    session: AsyncSession, *, user_id: int, session_id: str | None = None
) -> list[tuple[str, datetime]]:
    """End the user's live logins (or only `session_id`); returns those ended (id, expiry)."""
    statement = update(AuthSession).where(*_live(user_id)).values(revoked_at=utcnow())
    if session_id is not None:
        statement = statement.where(AuthSession.id == session_id)
    returning = statement.returning(AuthSession.id, AuthSession.expires_at)
    return list(await session.execute(returning.execution_options(synchronize_session="fetch")))


async def list_sessions(session: AsyncSession, *, user_id: int) -> Sequence[AuthSession]:
    """The user's live logins, oldest first."""
    query = select(AuthSession).where(*_live(user_id))
    return (await session.scalars(query.order_by(AuthSession.created_at, AuthSession.id))).all()


async def purge_expired_sessions(session: AsyncSession, *, user_id: int | None = None) -> int:
    """Delete expired logins (of one user, or all); returns how many.

    A revoked login is kept until it expires, as the record of when it ended; tokens
    naming a login with no row are refused just the same.
    """
    statement = delete(AuthSession).where(AuthSession.expires_at <= utcnow())
    if user_id is not None:
        statement = statement.where(AuthSession.user_id == user_id)
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return int(cast(CursorResult[Any], result).rowcount)
