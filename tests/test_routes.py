"""Meta-tests over every route: documented in OpenAPI, and limited or explicitly exempt."""

from __future__ import annotations

import ast
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import service
from service.app import create_app
from service.config import Settings
from service.extensions import limiter

# Operational and documentation routes are exempt by contract.
EXEMPT = {"/health", "/ready", "/metrics", "/docs", "/openapi.json", "/docs/static/<path:filename>"}
# A user's live logins are few: the one collection without pages.
UNPAGED = {"/api/v1/auth/sessions/"}
PUBLIC = {
    "/api/v1/auth/login",
    "/api/v1/users/",
    "/api/v1/products/",
    "/api/v2/users/",
    "/api/v2/products/",
}


@pytest.fixture(name="routes")
def _routes(settings: Settings) -> Any:
    app = create_app(settings)
    return app, [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]


@pytest.fixture(name="openapi")
async def _openapi(settings: Settings) -> dict[str, Any]:
    app = create_app(settings)
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/openapi.json")
        document: dict[str, Any] = await response.get_json()
    return document


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


async def test_every_api_route_is_in_openapi_with_its_schemas(
    routes: Any, openapi: dict[str, Any]
) -> None:
    _, rules = routes
    paths = openapi["paths"]
    checked = 0
    for rule in rules:
        if not rule.rule.startswith("/api/"):
            continue
        path = _openapi_path(rule.rule)
        assert path in paths, f"{rule.rule} missing from OpenAPI"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = paths[path][method.lower()]
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (rule.rule, method)
            if method in {"POST", "PUT", "PATCH"} and not rule.rule.endswith(
                ("/refresh", "/logout")
            ):
                assert "requestBody" in operation, (rule.rule, method)
            if method == "GET" and rule.rule.endswith("/") and rule.rule not in UNPAGED:
                assert operation.get("parameters"), (rule.rule, "query schema")
            checked += 1
    assert checked >= 30


async def test_protected_routes_declare_bearer_security(openapi: dict[str, Any]) -> None:
    assert openapi["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    me = openapi["paths"]["/api/v1/users/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    login = openapi["paths"]["/api/v1/auth/login"]["post"]
    assert "security" not in login


def test_every_route_is_limited_or_explicitly_exempt(routes: Any) -> None:
    app, rules = routes
    for rule in rules:
        limits = limiter.limits_for(app, rule.endpoint)
        if rule.rule in EXEMPT:
            assert limits is None, f"{rule.rule} should be exempt"
        else:
            assert limits, f"{rule.rule} has no limit and is not exempt"


def test_users_routes_carry_users_limit_and_login_its_own(routes: Any) -> None:
    app, rules = routes
    for rule in rules:
        labelled = limiter.limits_for(app, rule.endpoint) or []
        labels = {label for label, _ in labelled}
        if "/users" in rule.rule:
            assert "users" in labels, rule.rule
        if rule.rule == "/api/v1/auth/login":
            assert "login" in labels
        assert "default" in labels or rule.rule in EXEMPT


async def test_every_api_operation_documents_its_error_responses(openapi: dict[str, Any]) -> None:
    for path, operations in openapi["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"429", "500", "503"} <= set(responses), (path, method)
            if operation.get("security"):
                assert "401" in responses, (path, method)
            if "requestBody" in operation:
                assert "400" in responses, (path, method)
            ref = responses["429"]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorBody"
    assert "ErrorBody" in openapi["components"]["schemas"]


def _header_names(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p.get("in") == "header"}


async def test_conditional_and_idempotency_headers_are_documented(openapi: dict[str, Any]) -> None:
    paths = openapi["paths"]
    for version in ("v1", "v2"):
        for resource in ("users", "products"):
            post = paths[f"/api/{version}/{resource}/"]["post"]
            assert "Idempotency-Key" in _header_names(post)
            assert {"409", "422"} <= set(post["responses"])
            assert "Idempotent-Replayed" in post["responses"]["201"]["headers"]
            item = paths[f"/api/{version}/{resource}/{{id}}"]
            assert "If-None-Match" in _header_names(item["get"])
            assert "ETag" in item["get"]["responses"]["200"]["headers"]
            assert "304" in item["get"]["responses"]
            for method in ("put", "patch", "delete"):
                assert "If-Match" in _header_names(item[method]), (resource, method)
                assert "412" in item[method]["responses"], (resource, method)
            for method in ("put", "patch"):
                assert "ETag" in item[method]["responses"]["200"]["headers"]
        me = paths[f"/api/{version}/users/me"]["get"]
        assert "If-None-Match" in _header_names(me)
    # Only the creating POSTs take a key; other bodies do not.
    assert "Idempotency-Key" not in _header_names(paths["/api/v1/auth/login"]["post"])


def test_every_caller_of_idempotent_documents_the_key() -> None:
    """A function that runs a write through `idempotent` is an `@accepts_idempotency_key`
    view (else its OpenAPI would not say the key is honoured)."""
    callers: list[str] = []
    for path in Path(service.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            calls = [call for call in ast.walk(node) if isinstance(call, ast.Call)]
            if any(getattr(call.func, "id", None) == "idempotent" for call in calls):
                callers.append(f"{path.name}:{node.name}")
                decorators = [getattr(d, "id", None) for d in node.decorator_list]
                assert "accepts_idempotency_key" in decorators, callers[-1]
    assert len(callers) >= 2, callers  # sign-up and product creation at least


async def test_openapi_states_the_package_version(openapi: dict[str, Any]) -> None:
    assert openapi["info"]["version"] == metadata.version("service")
