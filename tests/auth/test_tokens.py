"""Strict tokens: only the exact claim shape the service issues authenticates anyone.

Tokens here are signed with the right key, so only the claims decide.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers

from tests.factories import bearer, log_in, sign_up
from tests.plugins.backends import TEST_SECRET

REQUIRED = ("sub", "exp", "iat", "jti", "type")


def mint(claims: Any, key: str = TEST_SECRET, header_fields: Any = None) -> str:
    """Sign any JSON payload with HS256, with no library between us and the bytes."""

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    fields = {"alg": "HS256", "typ": "JWT"} if header_fields is None else header_fields
    header = part(json.dumps(fields).encode())
    payload = part(json.dumps(claims).encode())
    signature = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{part(signature)}"


def claims_of(token: str) -> dict[str, Any]:
    return pyjwt.decode(token, TEST_SECRET, algorithms=["HS256"])


async def real_claims(client: Any) -> dict[str, Any]:
    """The claims of a real access token of a live login."""
    user = await sign_up(client)
    return claims_of((await log_in(client, user["email"]))["access_token"])


async def status_with(client: Any, claims: Any) -> int:
    response = await client.get("/api/v1/users/me", headers=bearer(mint(claims)))
    body = await response.get_json()
    if response.status_code != 200:
        assert body["error"] == "UNAUTHORIZED", body
    status: int = response.status_code
    return status


async def test_reminted_real_claims_are_accepted(client: Any) -> None:
    """The harness is sound: the same claims, signed here, authenticate."""
    assert await status_with(client, await real_claims(client)) == 200


@pytest.mark.parametrize(
    "change",
    [
        *({name: None} for name in REQUIRED),
        {"exp": "9999999999"},
        {"exp": 9999999999.5},
        {"exp": True},
        {"iat": "0"},
        {"exp": 2**63},
        {"exp": 10**400},
        {"iat": 2**70},
        {"exp": -(2**70)},
        {"nbf": 2**63},
        {"nbf": "0"},
        {"sub": " 1"},
        {"sub": "1 "},
        {"sub": "01"},
        {"sub": "+1"},
        {"sub": "0"},
        {"sub": "-1"},
        {"sub": "1" * 40},
        {"sub": str(2**63)},
        {"sub": "\u0661"},
        {"sub": 1},
        {"jti": 5},
        {"jti": ""},
        {"jti": "j" * 65},
        {"type": "id"},
        {"type": "ACCESS"},
        {"user_claims": None},
        {"user_claims": {}},
        {"user_claims": []},
    ],
    ids=lambda change: ",".join(f"{key}={value!r}"[:30] for key, value in change.items()),
)
async def test_token_of_wrong_shape_is_401(client: Any, change: dict[str, Any]) -> None:
    claims = await real_claims(client)
    for name, value in change.items():
        if value is None and name in REQUIRED:
            del claims[name]  # left out entirely
        else:
            claims[name] = value
    assert await status_with(client, claims) == 401


@pytest.mark.parametrize(
    "header_fields",
    [
        {"alg": "HS256", "typ": "JWT", "kid": "../../dev/null"},
        {"alg": "HS256", "kid": "x"},
        {"alg": "HS256", "typ": "JWT", "jku": "http://evil.example/keys"},
        {"alg": "HS256", "typ": "JWT", "crit": ["exp"]},
        {"alg": "HS256", "typ": "at+jwt"},
        {"alg": "HS256", "typ": 1},
        {"alg": "RS256", "typ": "JWT"},
        {"alg": "none", "typ": "JWT"},
        {"typ": "JWT"},
    ],
    ids=lambda fields: ",".join(f"{key}={value!r}" for key, value in fields.items()),
)
async def test_token_with_a_header_the_service_never_writes_is_401(
    client: Any, header_fields: dict[str, Any]
) -> None:
    """RFC 8725 3.1: only the exact header issued here (HS256, optional typ JWT)."""
    claims = await real_claims(client)
    token = mint(claims, header_fields=header_fields)
    response = await client.get("/api/v1/users/me", headers=bearer(token))
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "UNAUTHORIZED"


async def test_several_authorization_headers_are_401(client: Any) -> None:
    """Which of two credentials counts is ambiguous (a proxy may check the other): none."""
    user = await sign_up(client)
    access = (await log_in(client, user["email"]))["access_token"]
    for second in (f"Bearer {access}", "Bearer x"):
        headers = Headers()
        headers.add("Authorization", f"Bearer {access}")
        headers.add("Authorization", second)
        response = await client.get("/api/v1/users/me", headers=headers)
        assert response.status_code == 401
        assert (await response.get_json())["error"] == "UNAUTHORIZED"


async def test_token_with_sub_of_another_user_is_401(client: Any) -> None:
    mine = await real_claims(client)
    other = await sign_up(client)
    assert await status_with(client, {**mine, "sub": str(other["id"])}) == 401


async def test_token_without_exp_never_authenticates(client: Any) -> None:
    claims = await real_claims(client)
    del claims["exp"]
    assert await status_with(client, claims) == 401


# -- property: random claim sets, right key ------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["1", " 1", "01", "1" * 40, "access", "refresh", "\u0661\u0662"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
CLAIM_NAMES = (*REQUIRED, "nbf", "user_claims")
# Per claim: mostly the real value, often left out, sometimes junk in its place; weighted
# so that many sets lack only one or two claims, the sets a lax check would accept.
CHOICE = st.sampled_from(["keep"] * 5 + ["drop"] * 3 + ["junk"] * 2).flatmap(
    lambda choice: JUNK.map(lambda value: ("junk", value)) if choice == "junk" else st.just(choice)
)
CHOICES = st.fixed_dictionaries(
    dict.fromkeys(CLAIM_NAMES, CHOICE),
    optional={"extra": st.dictionaries(st.text(min_size=1, max_size=8), JUNK, max_size=3)},
)


def build(real: dict[str, Any], choices: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for name in CLAIM_NAMES:
        choice = choices[name]
        if choice == "keep":
            claims[name] = real[name]
        elif isinstance(choice, tuple):
            claims[name] = choice[1]
    for name, value in choices.get("extra", {}).items():
        claims.setdefault(name, value)
    return claims


@pytest.fixture(name="real")
async def _real(client: Any) -> dict[str, Any]:
    """One real login per test (per backend), shared by every example."""
    return await real_claims(client)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples every run: deterministic under any load
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(choices=CHOICES)
@example(choices=dict.fromkeys(CLAIM_NAMES, "keep"))
async def test_random_claim_sets_need_all_five_claims_and_never_5xx(
    client: Any, real: dict[str, Any], choices: dict[str, Any]
) -> None:
    claims = build(real, choices)
    status = await status_with(client, claims)
    assert status in {200, 401}
    if status == 200:
        # Any jti or times may pass (the key is right); never a missing claim, another
        # user, or another kind of token.
        assert all(name in claims for name in REQUIRED), claims
        assert (claims["sub"], claims["type"]) == (real["sub"], "access"), claims
    if all(choices[name] == "keep" for name in CLAIM_NAMES) and not choices.get("extra"):
        assert status == 200
