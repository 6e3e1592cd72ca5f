"""Schemas every domain shares: strict request bodies and the error body."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic import ValidationError as PydanticValidationError

# ISO 8601 with an explicit offset (`2026-11-25T03:08:47.078271+00:00`), always UTC.
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: value.astimezone(UTC).isoformat(), return_type=str),
    # The serializer's `str` would hide the format: clients want a datetime, not a string.
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


_PLAIN_INTEGER = re.compile(r"-?[0-9]+")


def _plain_integer(value: Any) -> Any:
    # Lax pydantic would take "12.0", "1_000" or " 12 " from a query string.
    if isinstance(value, str) and not _PLAIN_INTEGER.fullmatch(value):
        raise ValueError("must be a plain integer")
    return value


QueryInt = Annotated[int, BeforeValidator(_plain_integer)]
"""An integer query parameter: digits only (query strings arrive as text)."""

# The bound first: put on a QueryInt (`Annotated[QueryInt, Field(ge=0)]`), pydantic checks
# it but writes a raw `ge` into the JSON Schema instead of `minimum`.
NonNegativeQueryInt = Annotated[int, Field(ge=0), BeforeValidator(_plain_integer)]


class StrictBody(BaseModel):
    """A JSON request body: exact JSON types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class PartialBody(StrictBody):
    """A partial update: fields may be left out, but only those in `nullable` may be null."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    # A field validator (not a model one), so the error names the field that was null.
    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may be left out but not null")
        return value


class ErrorBody(BaseModel):
    """The contract's one error shape (every 4xx and 5xx but `/ready`'s 503)."""

    error: str
    message: str
    status_code: int
    request_id: str
    details: dict[str, Any] | None = None


# pydantic's wording for these names our classes ("instance of ProductCreate").
_NOT_AN_OBJECT = {"model_type", "model_attributes_type", "dataclass_type", "dict_type"}


def validation_fields(error: PydanticValidationError) -> dict[str, list[str]]:
    """Map pydantic's errors to `field -> [messages]`, the contract's `details.fields`."""
    fields: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "body"
        fields.setdefault(location, []).append(_client_message(item))
    return fields


def _client_message(item: Any) -> str:
    if item["type"] in _NOT_AN_OBJECT:
        return "Input should be a JSON object"
    if item["type"] == "value_error":
        # Our validators' own words, without pydantic's "Value error, " prefix.
        return str(item.get("ctx", {}).get("error") or item["msg"])
    return str(item["msg"])
