"""OpenAPI generation tweaks: bodiless responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from quart_schema import OpenAPIProvider


class NoContent(BaseModel):
    """Marker for a response without a body (204)."""


class ServiceOpenAPIProvider(OpenAPIProvider):
    """Renders `document_response(NoContent, 204)` as a response with no content."""

    def build_response_object(
        self, model: Any, headers_model: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if model is NoContent:
            return {"description": "No Content"}, {}
        return super().build_response_object(model, headers_model)
