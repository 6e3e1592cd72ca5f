"""Idempotency-key services: claim a key, store the answer, release, purge; never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from service.database import utcnow
from service.idempotency.exceptions import IdempotencyKeyReused, RequestInProgress
from service.idempotency.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)  # the contract's replay window
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class Claim:
    """This request holds the key; `token` proves it when the answer is stored."""

    scope: str
    key: str
    token: str


@dataclass(frozen=True)
class StoredResponse:
    """The first request's answer, to be sent again."""

    status_code: int
    body: str
    location: str | None


async def claim_key(
    session: AsyncSession, *, scope: str, key: str, fingerprint: str, lease: timedelta
) -> Claim | StoredResponse:
    """Claim `key` for this request, or the stored answer of an earlier identical one.

    Raises IdempotencyKeyReused (another body) or RequestInProgress (the first request
    still holds the key). An expired key, or a claim whose lease ran out (its request
    died), is taken over.
    """
    for _ in range(_CLAIM_ATTEMPTS):
        now = utcnow()
        token = uuid.uuid4().hex
        claim = Claim(scope, key, token)
        fresh = {
            "fingerprint": fingerprint,
            "claim_token": token,
            "locked_until": now + lease,
            "status_code": None,
            "response_body": None,
            "location": None,
            "created_at": now,
            "expires_at": now + KEY_LIFETIME,
        }
        insert = (
            postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        # On PostgreSQL a concurrent claim of the same key waits here for the other's
        # commit, then finds its row.
        inserted = await session.execute(
            insert(IdempotencyKey)
            .values(scope=scope, key=key, **fresh)
            .on_conflict_do_nothing(index_elements=["scope", "key"])
            .returning(IdempotencyKey.key)
        )
        if inserted.first() is not None:
            await _purge_scope(session, scope, now)
            return claim
        row = await _find(session, scope, key)
        if row is None:
            continue  # released or purged in between: claim again
        if row.expires_at > now:
            if row.fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            if row.status_code is not None:
                return StoredResponse(row.status_code, row.response_body or "", row.location)
            if row.locked_until > now:
                raise RequestInProgress()
        # Expired, or a dead request's claim: take it over unless someone else just did.
        takeover = await session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.scope == scope,
                IdempotencyKey.key == key,
                IdempotencyKey.claim_token == row.claim_token,
                or_(
                    IdempotencyKey.expires_at <= now,
                    and_(
                        IdempotencyKey.status_code.is_(None),
                        IdempotencyKey.locked_until <= now,
                    ),
                ),
            )
            .values(**fresh)
            .returning(IdempotencyKey.key)
            .execution_options(synchronize_session=False)
        )
        if takeover.first() is not None:
            return claim
    raise RequestInProgress()


def _unanswered(claim: Claim) -> tuple[ColumnElement[bool], ...]:
    """This request's own claim, as long as no answer is stored in it."""
    return (
        IdempotencyKey.scope == claim.scope,
        IdempotencyKey.key == claim.key,
        IdempotencyKey.claim_token == claim.token,
        IdempotencyKey.status_code.is_(None),
    )


async def record_response(
    session: AsyncSession, claim: Claim, *, status_code: int, body: str, location: str | None
) -> None:
    """Store the answer with the request's write; raises RequestInProgress if the claim
    was lost (its lease ran out and another request took the key over)."""
    stored = await session.execute(
        update(IdempotencyKey)
        .where(*_unanswered(claim))
        .values(status_code=status_code, response_body=body, location=location)
        .returning(IdempotencyKey.key)
        .execution_options(synchronize_session=False)
    )
    if stored.first() is None:
        raise RequestInProgress()


async def release_claim(session: AsyncSession, claim: Claim) -> None:
    """Drop this request's claim if no answer was stored, so a retry runs afresh.

    The answer's presence decides: after an ambiguous commit that did store it, the
    claim stays and a retry gets the answer.
    """
    await session.execute(
        delete(IdempotencyKey)
        .where(*_unanswered(claim))
        .execution_options(synchronize_session=False)
    )


async def purge_expired(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Delete every key past its 24 hours; returns how many."""
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.expires_at <= (now or utcnow()))
        .returning(IdempotencyKey.key)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


async def _purge_scope(session: AsyncSession, scope: str, now: datetime) -> None:
    # Opportunistic: a caller's own expired keys go when it claims a new one (the
    # primary key's index serves the scope); `service purge-idempotency-keys` does the rest.
    await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.expires_at <= now)
        .execution_options(synchronize_session=False)
    )


async def _find(session: AsyncSession, scope: str, key: str) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    )
