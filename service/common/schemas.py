"""Schemas every domain shares: strict request bodies and the error body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictBody(BaseModel):
    """A JSON request body: exact JSON types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class ErrorBody(BaseModel):
    """The contract's one error shape (every 4xx and 5xx but `/ready`'s 503)."""

    error: str
    message: str
    status_code: int
    request_id: str
    details: dict[str, Any] | None = None
