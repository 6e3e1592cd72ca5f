"""Idempotency-key services on a session of each backend: claims, leases, purging."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings
from service.database import utcnow
from service.idempotency import services
from service.idempotency.exceptions import IdempotencyKeyReused, RequestInProgress
from service.idempotency.models import IdempotencyKey
from service.idempotency.services import Claim
from tests.idempotency.conftest import key_rows, set_key_times
from tests.test_cli import service

LEASE = timedelta(seconds=60)


async def claim(
    session: AsyncSession, key: str = "k", fingerprint: str = "f", scope: str = "user:1"
) -> Any:
    outcome = await services.claim_key(
        session, scope=scope, key=key, fingerprint=fingerprint, lease=LEASE
    )
    await session.commit()
    return outcome


async def test_claim_then_answer_then_replay(session: AsyncSession) -> None:
    first = await claim(session)
    assert isinstance(first, Claim)
    with pytest.raises(RequestInProgress):
        await claim(session)
    with pytest.raises(IdempotencyKeyReused):
        await claim(session, fingerprint="other")
    await session.rollback()
    await services.record_response(session, first, status_code=201, body="{}", location="/x")
    await session.commit()
    replay = await claim(session)
    assert isinstance(replay, IdempotencyKey)
    assert (replay.status_code, replay.response_body, replay.location) == (201, "{}", "/x")


async def test_new_claim_purges_the_callers_own_expired_keys(
    session: AsyncSession, settings: Settings
) -> None:
    await claim(session, key="old")
    await claim(session, key="other-caller", scope="client:192.0.2.1")
    await set_key_times(settings, expires_at=utcnow() - timedelta(seconds=1))
    await claim(session, key="new")
    assert sorted(row.key for row in await key_rows(settings)) == ["new", "other-caller"]


async def test_answer_of_a_claim_taken_over_after_its_lease_is_refused(
    session: AsyncSession, settings: Settings
) -> None:
    slow = await claim(session)
    await set_key_times(settings, locked_until=utcnow() - timedelta(seconds=1))
    taker = await claim(session)
    assert isinstance(taker, Claim)
    assert taker.token != slow.token
    with pytest.raises(RequestInProgress):
        await services.record_response(session, slow, status_code=201, body="{}", location=None)
    await session.rollback()
    # The slow request's failure must not release the key its successor holds.
    await services.release_claim(session, slow)
    await session.commit()
    assert len(await key_rows(settings)) == 1


async def test_release_keeps_a_stored_answer(session: AsyncSession, settings: Settings) -> None:
    answered = await claim(session)
    await services.record_response(session, answered, status_code=201, body="{}", location=None)
    await session.commit()
    await services.release_claim(session, answered)
    await session.commit()
    assert [row.status_code for row in await key_rows(settings)] == [201]


async def test_purge_deletes_only_expired_keys(session: AsyncSession, settings: Settings) -> None:
    await claim(session, key="old")
    await set_key_times(settings, expires_at=utcnow() - timedelta(seconds=1))
    await claim(session, key="new", scope="user:2")
    assert await services.purge_expired(session) == 1
    await session.commit()
    assert [row.key for row in await key_rows(settings)] == ["new"]


async def test_purge_command_deletes_expired_keys(
    session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    await claim(session, key="old")
    await set_key_times(settings, expires_at=utcnow() - timedelta(seconds=1))
    await claim(session, key="new", scope="user:2")
    result = await asyncio.to_thread(
        service, tmp_path, "purge-idempotency-keys", database_url=settings.database_url
    )
    assert result.returncode == 0, result.stderr
    assert "Purged 1 expired" in result.stdout
    assert [row.key for row in await key_rows(settings)] == ["new"]
