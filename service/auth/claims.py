"""The one token shape this service issues, checked strictly (RFC 8725: trust no default).

Every token names its login (`sid`, a row of `auth_session`) and the user's
`token_version` (`ver`, bumped on a password change), inside the library's `user_claims`
claim; any other header or claims fail validation. quart-jwt-extended signs and verifies;
`decode_key` is the hook through which it applies this shape to every token it decodes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from jwt.exceptions import PyJWTError
from pydantic import AliasPath, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from quart_jwt_extended.default_callbacks import default_decode_key_callback
from quart_jwt_extended.exceptions import JWTDecodeError, JWTExtendedException

CLAIMS_KEY = "user_claims"
INT64_MAX = 2**63 - 1  # ids are 64-bit at most on every backend, and so are clocks
# Canonical decimal only: " 1", "01", "+1" and non-ASCII digits name no user.
_USER_ID = re.compile(r"[1-9][0-9]{0,18}")
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Only the header issued here (RFC 8725 3.1): HS256, `typ` JWT or absent, nothing else. A
# `kid`, `jku`, `x5u`, `crit` or any other field names a key or a rule this service never
# uses; accepting it silently is how key confusion starts.
HEADERS = ({"alg": "HS256"}, {"alg": "HS256", "typ": "JWT"})
# What decoding and reading a token that is not a valid one of ours raises.
INVALID_TOKEN = (JWTExtendedException, PyJWTError, ValidationError)

# A NumericDate as issued here: an integer a 64-bit clock can hold (a bigger one is a
# token that never expires, never one this service wrote).
Time = Annotated[int, Field(ge=0, le=INT64_MAX)]


def _user_id(value: object) -> int:
    if isinstance(value, str) and _USER_ID.fullmatch(value) and int(value) <= INT64_MAX:
        return int(value)
    raise ValueError("not a user id")


class TokenClaims(BaseModel):
    """The claims of a token this service issued, typed.

    `sub`, `exp`, `iat`, `jti` and `type` are required; strict: numbers must be JSON
    integers (no strings, floats or booleans), `sub` a positive 64-bit id.
    """

    model_config = ConfigDict(strict=True, frozen=True)

    user_id: Annotated[int, BeforeValidator(_user_id)] = Field(alias="sub")
    expires: Time = Field(alias="exp")
    issued_at: Time = Field(alias="iat")
    not_before: Time = Field(0, alias="nbf")
    jti: str = Field(min_length=1, max_length=64)
    kind: Literal["access", "refresh"] = Field(alias="type")
    session_id: str = Field(
        validation_alias=AliasPath(CLAIMS_KEY, "sid"), pattern=f"^{SESSION_ID.pattern}$"
    )
    version: int = Field(validation_alias=AliasPath(CLAIMS_KEY, "ver"))

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires, UTC)


def decode_key(unverified_claims: dict[str, Any], unverified_headers: dict[str, Any]) -> Any:
    # The library fills in defaults for a missing `type` ("access") and `jti` (None)
    # after decoding; this loader is its one public hook that sees the claims as sent,
    # so the strict shape is enforced here, for every token it decodes.
    if unverified_headers not in HEADERS:
        raise JWTDecodeError("Invalid token header")
    try:
        TokenClaims.model_validate(unverified_claims)
    except ValidationError:
        raise JWTDecodeError("Invalid token claims") from None
    return default_decode_key_callback(unverified_claims, unverified_headers)
