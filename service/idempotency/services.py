"""Idempotency-key services: claim a key, store the answer, release, purge; never commit."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import and_, delete, or_, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from service.database import utcnow
from service.idempotency.exceptions import IdempotencyKeyReused, RequestInProgress
from service.idempotency.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)  # the contract's replay window


class Claim(NamedTuple):
    """This request holds the key; `token` proves it when the answer is stored."""

    scope: str
    key: str
    token: str


async def claim_key(
    session: AsyncSession, *, scope: str, key: str, fingerprint: str, lease: timedelta
) -> Claim | IdempotencyKey:
    """Claim `key` for this request, or find the answer of an earlier identical one (the
    stored key, its `status_code` set).

    Raises IdempotencyKeyReused (another body) or RequestInProgress (the first request
    still holds the key). An expired key, or a claim whose lease ran out (its request
    died), is taken over in the same statement that would insert the key.
    """
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    claim = Claim(scope, key, uuid.uuid4().hex)
    inserting = insert(IdempotencyKey).values(
        scope=scope,
        key=key,
        fingerprint=fingerprint,
        claim_token=claim.token,
        locked_until=now + lease,
        expires_at=now + KEY_LIFETIME,
    )
    # On PostgreSQL a concurrent claim of the same key waits here for the other's
    # commit, then sees its row.
    claimed = await session.scalar(
        inserting.on_conflict_do_update(
            index_elements=[IdempotencyKey.scope, IdempotencyKey.key],
            set_=dict(inserting.excluded.items()),  # all afresh: an old answer goes too
            where=or_(
                IdempotencyKey.expires_at <= now,
                and_(IdempotencyKey.status_code.is_(None), IdempotencyKey.locked_until <= now),
            ),
        ).returning(IdempotencyKey.key)
    )
    if claimed is not None:
        # Opportunistic: the caller's own expired keys go now (the primary key's index
        # serves the scope); `service purge-idempotency-keys` does the rest.
        await purge_expired(session, scope=scope)
        return claim
    row = await session.get(IdempotencyKey, (scope, key), populate_existing=True)
    if row is not None and row.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if row is not None and row.status_code is not None:
        return row
    raise RequestInProgress()  # (also if just released: the next retry runs afresh)


def _unanswered(claim: Claim) -> ColumnElement[bool]:
    """This request's own claim, as long as no answer is stored in it."""
    row = tuple_(IdempotencyKey.scope, IdempotencyKey.key, IdempotencyKey.claim_token)
    return and_(row == tuple(claim), IdempotencyKey.status_code.is_(None))


async def record_response(
    session: AsyncSession, claim: Claim, *, status_code: int, body: str, location: str | None
) -> None:
    """Store the answer with the request's write; raises RequestInProgress if the claim
    was lost (its lease ran out and another request took the key over)."""
    stored = await session.scalar(
        update(IdempotencyKey)
        .where(_unanswered(claim))
        .values(status_code=status_code, response_body=body, location=location)
        .returning(IdempotencyKey.key)
    )
    if stored is None:
        raise RequestInProgress()


async def release_claim(session: AsyncSession, claim: Claim) -> None:
    """Drop this request's claim if no answer was stored, so a retry runs afresh.

    The answer's presence decides: after an ambiguous commit that did store it, the
    claim stays and a retry gets the answer.
    """
    await session.execute(delete(IdempotencyKey).where(_unanswered(claim)))


async def purge_expired(session: AsyncSession, *, scope: str | None = None) -> int:
    """Delete the keys past their 24 hours (only `scope`'s if given); returns how many."""
    expired = delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow())
    if scope is not None:
        expired = expired.where(IdempotencyKey.scope == scope)
    return len((await session.scalars(expired.returning(IdempotencyKey.key))).all())
