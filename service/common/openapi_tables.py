"""What the OpenAPI document says about every route that no decorator says: stable
operation ids, the response headers shared request handling adds, and the error
responses every route of a kind may give."""

from __future__ import annotations

import re
from typing import Any

# Endpoint (without its `api_vN.` prefix) -> operation id; the version is appended, so
# `api_v1.users.users_list` is `list_users_v1`. Generated clients name their functions
# after these: renaming one is a breaking change for them.
OPERATION_IDS = {
    "ops.health": "get_health",
    "ops.ready": "get_readiness",
    "auth.login": "login",
    "auth.refresh": "refresh_tokens",
    "auth.logout": "logout",
    "auth.list_sessions": "list_sessions",
    "auth.end_all_sessions": "end_all_sessions",
    "auth.end_session": "end_session",
    "users.me": "get_current_user",
    "users.users_stats": "get_user_stats",
    "users.users_list": "list_users",
    "users.users_post": "create_user",
    "users.users_get": "get_user",
    "users.users_put": "replace_user",
    "users.users_patch": "update_user",
    "users.users_delete": "delete_user",
    "products.products_list": "list_products",
    "products.products_post": "create_product",
    "products.products_get": "get_product",
    "products.products_put": "replace_product",
    "products.products_patch": "update_product",
    "products.products_delete": "delete_product",
}
_VERSIONED_ENDPOINT = re.compile(r"^api_(v\d+)\.(.+)$")


def operation_id(endpoint: str, method: str) -> str:
    """The table's id for `endpoint`, else one built from it (unique, if not pretty)."""
    match = _VERSIONED_ENDPOINT.match(endpoint)
    name, suffix = (match.group(2), f"_{match.group(1)}") if match else (endpoint, "")
    if name in OPERATION_IDS:
        return OPERATION_IDS[name] + suffix
    return f"{method.lower()}_{endpoint.replace('.', '_')}"


def _header(description: str, type_: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": type_}}


HEADERS = {
    "X-Request-ID": _header(
        "The request's id: the client's own `X-Request-ID` when it is 1-128 characters of "
        "`[A-Za-z0-9._-]`, else a new one. The service's log lines of the request carry it."
    ),
    "X-Response-Time": _header("Seconds spent in the service, like `0.0042s`"),
    "RateLimit-Limit": _header(
        "Requests allowed in the window of the limit closest to running out", "integer"
    ),
    "RateLimit-Remaining": _header("Requests left in that window", "integer"),
    "RateLimit-Reset": _header("Whole seconds until that window has room again", "integer"),
    "Retry-After": _header("Whole seconds to wait before retrying", "integer"),
    "X-Total-Count": _header("How many items the whole list has, across all pages", "integer"),
    "Link": _header(
        'RFC 8288 links to the `first`, `last`, `next` and `prev` pages (`rel="next"`...)'
    ),
    "Location": _header("The new item's URL"),
    "ETag": _header("Strong entity tag of the item as sent: send it in If-Match/If-None-Match"),
    "Idempotent-Replayed": _header("`true` when this is the stored answer to an earlier request"),
}
HEADER_REFS = {name: {"$ref": f"#/components/headers/{name}"} for name in HEADERS}
PAGE_HEADERS = ("X-Total-Count", "Link")
_RATE_LIMIT = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def add_headers(path: str, operation: dict[str, Any]) -> None:
    """The shared headers added to every response; those `HEADERS` describes as references."""
    for status, response in operation.get("responses", {}).items():
        documented = response.get("headers", {})
        names = ["X-Request-ID", "X-Response-Time", *documented]
        if path.startswith("/api/"):  # every /api route is rate limited
            names += _RATE_LIMIT
            if int(status) in {429, 503}:
                names.append("Retry-After")
        if int(status) == 201:
            names.append("Location")
        response["headers"] = {
            name: HEADER_REFS.get(name) or documented[name] for name in dict.fromkeys(names)
        }


def add_common_errors(path: str, operation: dict[str, Any], error: Any) -> None:
    """Document the contract's error responses that any route of this kind may give.

    `error(description)` builds one error response.
    """
    # int keys, like quart-schema's own: the JSON encoder sorts them together
    errors: dict[int, str] = {
        429: "Rate limited: wait Retry-After seconds",
        500: "Internal or database error",
        503: "Database unreachable or too slow: retry after Retry-After seconds",
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
        if status not in responses and str(status) not in responses:
            responses[status] = error(description)
