"""The one token shape this service issues, checked strictly (RFC 8725: trust no default).

Every token names its login (`sid`, a row of `auth_session`) and the user's
`token_version` (`ver`, bumped on a password change), inside the library's `user_claims`
claim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AliasPath, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

CLAIMS_KEY = "user_claims"
MAX_USER_ID = 2**63 - 1  # ids are 64-bit at most on every backend
ALGORITHM = "HS256"
# Canonical decimal only: " 1", "01", "+1" and non-ASCII digits name no user.
_USER_ID = re.compile(r"[1-9][0-9]{0,18}")
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")

# A NumericDate as issued here: an integer a 64-bit clock can hold (a bigger one is a
# token that never expires, never one this service wrote).
Time = Annotated[int, Field(ge=0, le=2**63 - 1)]


class InvalidClaims(ValueError):
    """The token's header or claims are not the shape this service issues."""


def _user_id(value: object) -> int:
    if isinstance(value, str) and _USER_ID.fullmatch(value) and int(value) <= MAX_USER_ID:
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


def check_header(header: Mapping[str, Any]) -> None:
    """Only the header issued here (RFC 8725 3.1): HS256, `typ` JWT or absent, nothing else.

    A `kid`, `jku`, `x5u`, `crit` or any other field names a key or a rule this service
    never uses; accepting it silently is how key confusion starts.
    """
    if header.get("alg") != ALGORITHM or set(header) - {"alg", "typ"}:
        raise InvalidClaims("Invalid token header")
    if "typ" in header and header["typ"] != "JWT":
        raise InvalidClaims("Invalid token header")


def parse_claims(raw: Mapping[str, Any]) -> TokenClaims:
    """The typed claims; raises InvalidClaims (and nothing else) for any other shape."""
    try:
        return TokenClaims.model_validate(raw)
    except ValidationError as error:
        names = ", ".join(".".join(map(str, item["loc"])) for item in error.errors())
        raise InvalidClaims(f"Invalid claims: {names}") from None
