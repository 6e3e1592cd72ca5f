"""OpenAPI generation tweaks: bodiless responses, version-unique operation ids, and the
headers and statuses that shared request handling (ETags, idempotency keys) adds."""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel
from quart_schema import OpenAPIProvider

from service.common.schemas import ErrorBody

_VERSION_RE = re.compile(r"^/api/(v\d+)/")
OPERATION_DOCS_ATTRIBUTE = "_service_operation_docs"
V = TypeVar("V", bound=Callable[..., Any])


class NoContent(BaseModel):
    """Marker for a response without a body (204)."""


ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def document_operation(
    view: Any,
    *,
    parameters: list[dict[str, Any]] | None = None,
    errors: dict[int, str] | None = None,
    responses: dict[int, dict[str, Any]] | None = None,
    response_headers: dict[int, dict[str, str]] | None = None,
) -> None:
    """Record extra OpenAPI for a view: header parameters, error responses (the contract's
    error body), other responses, and response headers (`{status: {name: description}}`).

    Decorators that handle headers for many routes call this, so each route's document
    comes from the same place as its behaviour.
    """
    docs = view.__dict__.setdefault(
        OPERATION_DOCS_ATTRIBUTE, {"parameters": [], "errors": {}, "responses": {}, "headers": {}}
    )
    docs["parameters"].extend(parameters or [])
    docs["errors"].update({status: _error(text) for status, text in (errors or {}).items()})
    docs["responses"].update(responses or {})
    for status, headers in (response_headers or {}).items():
        documented = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
        docs["headers"].setdefault(status, {}).update(documented)


def errors(*statuses: int) -> Callable[[V], V]:
    """Document `statuses` as answered with the contract's error body.

    Only what a view itself decides (403, a conflict): the provider adds the statuses every
    route of its kind may give (`_add_common_errors`).
    """

    def decorator(view: V) -> V:
        document_operation(view, errors={status: HTTPStatus(status).phrase for status in statuses})
        return view

    return decorator


class ServiceOpenAPIProvider(OpenAPIProvider):
    """Bodiless 204s, version-unique operation ids, and the errors every route can answer."""

    def build_paths(self, rule: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        # The base class's app: `service schema` builds the document outside an app context.
        docs = getattr(self._app.view_functions[rule.endpoint], OPERATION_DOCS_ATTRIBUTE, None)
        if docs is not None:
            for operations in paths.values():
                for method, operation in operations.items():
                    operations[method] = _with_docs(operation, docs)
        return paths, components

    def schema(self) -> dict[str, Any]:
        document: dict[str, Any] = super().schema()
        document["components"]["schemas"].setdefault(
            "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        for path, operations in document["paths"].items():
            if path.startswith("/api/"):
                for operation in operations.values():
                    _add_common_errors(path, operation)
        return document

    def operation_id(self, method: str, path: str, func: Callable[..., Any]) -> str | None:
        match = _VERSION_RE.match(path)
        version = f"{match.group(1)}_" if match else ""
        return f"{method.lower()}_{version}{func.__name__}"

    def build_response_object(
        self, model: Any, headers_model: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if model is NoContent:
            return {"description": "No Content"}, {}
        return super().build_response_object(model, headers_model)


def _add_common_errors(path: str, operation: dict[str, Any]) -> None:
    """Document the contract's error responses that any route of this kind may give."""
    # int keys, like quart-schema's own: the JSON encoder sorts them together
    errors: dict[int, str] = {
        429: "Rate limited (with Retry-After)",
        500: "Internal or database error",
        503: "Database unreachable (with Retry-After)",
    }
    if "{" in path:
        errors[404] = "No such resource"
    if operation.get("security"):
        errors[401] = "Missing, malformed, expired, revoked or wrong-type token"
    if "requestBody" in operation:
        errors |= {
            400: "Malformed JSON or a body that fails validation",
            413: "Body over MAX_CONTENT_LENGTH",
            415: "Body is not application/json",
        }
    elif any(parameter.get("in") == "query" for parameter in operation.get("parameters", [])):
        errors[400] = "A query parameter fails validation"
    responses = operation.setdefault("responses", {})
    for status, description in errors.items():
        responses.setdefault(status, _error(description))


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _with_docs(operation: dict[str, Any], docs: dict[str, Any]) -> dict[str, Any]:
    # quart-schema shares the parameter list and responses between an operation's
    # methods: build new ones rather than change those in place.
    responses = {**docs["errors"], **operation.get("responses", {}), **docs["responses"]}
    for status, headers in docs["headers"].items():
        if status in responses:
            documented = {**responses[status].get("headers", {}), **headers}
            responses[status] = {**responses[status], "headers": documented}
    parameters = [*operation.get("parameters", []), *docs["parameters"]]
    return {**operation, "parameters": parameters, "responses": responses}
