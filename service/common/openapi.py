"""OpenAPI generation tweaks for client generators: every body a `$ref` component,
stable operation ids, bodiless responses, integer ids, real descriptions, and the
headers and statuses that shared request handling (ETags, idempotency keys, limits) adds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel
from quart_schema import OpenAPIProvider
from quart_schema.validation import QUART_SCHEMA_QUERYSTRING_ATTRIBUTE
from werkzeug.routing import BaseConverter

from service.common.converters import MAX_ID, IdConverter
from service.common.openapi_tables import (
    HEADERS,
    PAGE_HEADERS,
    add_common_errors,
    add_headers,
    operation_id,
)
from service.common.pagination import PageQuery
from service.common.requests import OPTIONAL_BODY_ATTRIBUTE
from service.common.schemas import ErrorBody

OPERATION_DOCS_ATTRIBUTE = "_service_operation_docs"
V = TypeVar("V", bound=Callable[..., Any])
_NOT_A_COMPONENT_NAME = re.compile(r"[^A-Za-z0-9._-]")


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
    error body), other responses, and response headers (`{status: {name: description}}`;
    a name in `openapi_tables.HEADERS` is described there, once for the whole document).

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
    route of its kind may give (`add_common_errors`).
    """

    def decorator(view: V) -> V:
        document_operation(view, errors={status: HTTPStatus(status).phrase for status in statuses})
        return view

    return decorator


class ServiceOpenAPIProvider(OpenAPIProvider):
    """The document a client generator makes one typed model per schema from."""

    _components: dict[str, Any]

    def build_paths(self, rule: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        for name, component in components.items():
            # The base class keeps the last of two schemas of one name: say so instead.
            if self._components.setdefault(name, component) != component:
                raise ValueError(f"two different schemas are named {name} in the OpenAPI")
        # The base class's app: `service schema` builds the document outside an app context.
        view = self._app.view_functions[rule.endpoint]
        docs = getattr(view, OPERATION_DOCS_ATTRIBUTE, None)
        query = getattr(view, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, None)
        for operations in paths.values():
            for method, operation in operations.items():
                operation = _with_docs(operation, docs) if docs is not None else dict(operation)
                operation["operationId"] = operation_id(rule.endpoint, method)
                if not operation.get("description"):
                    operation.pop("description", None)
                if "requestBody" in operation:  # else a generator makes every body optional
                    required = not getattr(view, OPTIONAL_BODY_ATTRIBUTE, False)
                    operation["requestBody"] = {**operation["requestBody"], "required": required}
                if isinstance(query, type) and issubclass(query, PageQuery):
                    _add_response_headers(operation, 200, PAGE_HEADERS)
                operations[method] = operation
        return paths, components

    def schema(self) -> dict[str, Any]:
        self._components = {}
        document: dict[str, Any] = super().schema()
        document["components"]["schemas"].setdefault(
            "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        document["components"]["headers"] = HEADERS
        for path, operations in document["paths"].items():
            for operation in operations.values():
                if path.startswith("/api/"):
                    add_common_errors(path, operation, _error)
                add_headers(path, operation)
        return document

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        parameter = super().build_path_parameter(name, converter)
        if isinstance(converter, IdConverter):  # anything else in its place is a 404
            parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        return parameter

    def build_request_body(self, model: Any, source: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        body, components = super().build_request_body(model, source)
        for media in body["content"].values():
            media["schema"] = _as_component(media["schema"], components)
        return body, components

    def build_response_object(
        self, model: Any, headers_model: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if model is NoContent:
            return {"description": "No Content"}, {}
        response, components = super().build_response_object(model, headers_model)
        media = response["content"]["application/json"]
        media["schema"] = _as_component(media["schema"], components)
        response["description"] = _describe(model)
        return response, components


def _as_component(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """A model's schema moved to `components` (so a generator makes one class of it), and
    the reference to it; other schemas (arrays of references) stay as they are."""
    if schema.get("type") != "object" or "title" not in schema:
        return schema
    name = _NOT_A_COMPONENT_NAME.sub("", schema["title"])  # CursorPage[UserRead]
    components[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def _describe(model: Any) -> str:
    """A response's description: its model's own docstring (quart-schema would take the
    docstring of `list` for a `list[X]`)."""
    if get_origin(model) is list:
        (item,) = get_args(model)
        return f"An array of {item.__name__}"
    for cls in model.__mro__:  # CursorPage[UserRead] is a subclass without a docstring
        if cls is BaseModel:  # whose docstring is about pydantic, not this response
            break
        doc = (cls.__dict__.get("__doc__") or "").strip()
        if doc:
            return doc.split("\n\n")[0]
    return f"The {model.__name__}"


def _add_response_headers(operation: dict[str, Any], status: int, names: Any) -> None:
    response = operation["responses"][status]
    operation["responses"][status] = {
        **response,
        "headers": {**response.get("headers", {}), **{name: HEADERS[name] for name in names}},
    }


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
