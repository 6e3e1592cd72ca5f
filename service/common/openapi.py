"""OpenAPI generation tweaks: bodiless responses and version-unique operation ids."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from quart_schema import OpenAPIProvider
from quart_schema.openapi import QUART_SCHEMA_OPERATION_ID_ATTRIBUTE

from service.common.schemas import ErrorBody

_VERSION_RE = re.compile(r"^/api/(v\d+)/")


class NoContent(BaseModel):
    """Marker for a response without a body (204)."""


ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_BODY_METHODS = {"post", "put", "patch"}


class ServiceOpenAPIProvider(OpenAPIProvider):
    """Bodiless 204s, version-unique operation ids, and the errors every route can answer."""

    def schema(self) -> dict[str, Any]:
        document: dict[str, Any] = super().schema()
        document["components"]["schemas"].setdefault(
            "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        for path, operations in document["paths"].items():
            if path.startswith("/api/"):
                for method, operation in operations.items():
                    _add_common_errors(method, operation)
        return document

    def operation_id(self, method: str, path: str, func: Callable[..., Any]) -> str | None:
        explicit: str | None = getattr(func, QUART_SCHEMA_OPERATION_ID_ATTRIBUTE, None)
        if explicit is not None:
            return f"{method.lower()}_{explicit}"
        match = _VERSION_RE.match(path)
        version = f"{match.group(1)}_" if match else ""
        return f"{method.lower()}_{version}{func.__name__}"

    def build_response_object(
        self, model: Any, headers_model: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if model is NoContent:
            return {"description": "No Content"}, {}
        return super().build_response_object(model, headers_model)


def _add_common_errors(method: str, operation: dict[str, Any]) -> None:
    """Document the contract's error responses that any route of this kind may give."""
    # int keys, like quart-schema's own: the JSON encoder sorts them together
    errors: dict[int, str] = {
        429: "Rate limited (with Retry-After)",
        500: "Internal or database error",
        503: "Database unreachable (with Retry-After)",
    }
    if operation.get("security"):
        errors[401] = "Missing, malformed, expired, revoked or wrong-type token"
    if method in _BODY_METHODS and "requestBody" in operation:
        errors |= {
            400: "Malformed JSON or a body that fails validation",
            413: "Body over MAX_CONTENT_LENGTH",
            415: "Body is not application/json",
        }
    elif any(parameter.get("in") == "query" for parameter in operation.get("parameters", [])):
        errors[400] = "A query parameter fails validation"
    responses = operation.setdefault("responses", {})
    for status, description in errors.items():
        responses.setdefault(
            status,
            {"description": description, "content": {"application/json": {"schema": ERROR_REF}}},
        )
