from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from service.common.schemas import StrictBody, Timestamp


class LoginRequest(StrictBody):
    email: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class LogoutRequest(StrictBody):
    """Optional body: the refresh token of the same login, revoked too."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None


class TokenPair(BaseModel):
    """A new access token and refresh token; `expires_in` is the access token's seconds."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int


class SessionRead(BaseModel):
    """One live login of the caller; `current` marks the one the request's token is of."""

    id: str
    created_at: Timestamp
    last_used_at: Timestamp
    expires_at: Timestamp
    user_agent: str | None
    current: bool
