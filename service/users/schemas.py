"""User request and response bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    StringConstraints,
)

from service.auth.passwords import Passwords
from service.common.schemas import PartialBody, StrictBody, Timestamp

MAX_EMAIL_LENGTH = 254


def _normalise_email(value: str) -> str:
    if len(value) > MAX_EMAIL_LENGTH:
        raise ValueError(f"must be at most {MAX_EMAIL_LENGTH} characters")
    return value.lower()


Email = Annotated[EmailStr, AfterValidator(_normalise_email)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]


class UserCreate(StrictBody):
    """Sign-up: `is_admin: true` needs an admin's token."""

    email: Email
    name: Name
    password: Password
    is_admin: bool = False


def _argon2id_hash(value: str) -> str:
    if not Passwords.is_argon2id_hash(value):
        raise ValueError("must be an argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")
    return value


class UserImportHashed(StrictBody):
    """An imported user whose password arrives already hashed (migrations from elsewhere)."""

    email: Email
    name: Name
    password_hash: Annotated[str, StringConstraints(max_length=255), AfterValidator(_argon2id_hash)]
    is_admin: bool = False


class UserUpdate(PartialBody):
    """Any of the fields; `is_admin` only by an admin. A new password revokes old tokens.

    Users changing their own password also send `current_password`.
    """

    email: Email | None = None
    name: Name | None = None
    password: Password | None = None
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    is_admin: bool | None = None


class UserRead(BaseModel):
    """A user as clients see it (never a password or its hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    is_admin: bool
    created_at: Timestamp
    updated_at: Timestamp


class UserStats(BaseModel):
    """How many products a user owns and their summed price."""

    user_id: int
    product_count: int
    total_value_cents: int
