"""OpenAPI generation tweaks: bodiless responses and version-unique operation ids."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from quart_schema import OpenAPIProvider
from quart_schema.openapi import QUART_SCHEMA_OPERATION_ID_ATTRIBUTE

_VERSION_RE = re.compile(r"^/api/(v\d+)/")


class NoContent(BaseModel):
    """Marker for a response without a body (204)."""


class ServiceOpenAPIProvider(OpenAPIProvider):
    """Bodiless 204s, and operation ids that stay unique when v1 and v2 share views."""

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
