"""Tokens verified once per process (auth.recent.VerifiedTokens), rechecked for expiry."""

from __future__ import annotations

import time
from typing import Any

import pytest

from service.auth import guards
from service.auth.claims import TokenClaims
from service.auth.recent import VerifiedTokens
from service.config import JWT_LEEWAY_SECONDS
from tests.factories import bearer, user_with_token


def claims(kind: str, expires: int) -> TokenClaims:
    now = int(time.time())
    return TokenClaims.model_validate(
        {
            "sub": "7",
            "exp": expires,
            "iat": now - 10,
            "jti": "j",
            "type": kind,
            "user_claims": {"sid": "s", "ver": 0},
        }
    )


def test_a_remembered_token_is_served_only_for_its_kind_and_until_it_expires() -> None:
    verified = VerifiedTokens()
    live = claims("access", int(time.time()) + 60)
    lapsed = claims("access", int(time.time()) - JWT_LEEWAY_SECONDS - 1)
    verified.remember("Bearer live", live)
    verified.remember("Bearer lapsed", lapsed)
    assert verified.get("Bearer live", "access") is live
    assert verified.get("Bearer live", "refresh") is None
    assert verified.get("Bearer lapsed", "access") is None
    assert verified.get("Bearer other", "access") is None


async def test_a_token_seen_again_is_not_decoded_again(
    client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, token = await user_with_token(client, settings)
    decoded: list[str] = []
    real_verify = guards.VERIFY["access"]

    async def counted() -> None:
        decoded.append("access")
        await real_verify()

    monkeypatch.setitem(guards.VERIFY, "access", counted)
    for _ in range(3):
        assert (await client.get("/api/v1/users/me", headers=bearer(token))).status_code == 200
    assert decoded == ["access"]
    # Another header is another token: decoded (and refused) on its own.
    assert (await client.get("/api/v1/users/me", headers=bearer(token + "x"))).status_code == 401
    assert decoded == ["access", "access"]
