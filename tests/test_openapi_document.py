"""The OpenAPI document as a client generator reads it: named schemas, JSON Schema only,
stable operation ids, real descriptions, and the headers each response carries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, create_model
from quart import Quart
from quart_schema import QuartSchema, validate_response

from service.common.openapi import ServiceOpenAPIProvider
from service.common.openapi_tables import OPERATION_IDS
from tests.test_cli import service

# Keywords pydantic knows and JSON Schema does not (`Field(ge=0)` leaking through).
NOT_JSON_SCHEMA = {"ge", "gt", "le", "lt", "multiple_of", "min_items", "max_items"}


def schema_document(folder: Path) -> dict[str, Any]:
    """What `service schema` prints: what `make client` generates from."""
    shown = service(folder, "schema", database_url="sqlite://")
    assert shown.returncode == 0, shown.stderr
    document: dict[str, Any] = json.loads(shown.stdout)
    return document


@pytest.fixture(name="document", scope="module")
def _document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return schema_document(tmp_path_factory.mktemp("schema"))


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            yield from _walk(child)


def test_every_body_is_a_component_and_every_schema_json_schema(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["operationId"], (path, method)
            bodies = [operation.get("requestBody", {}), *operation["responses"].values()]
            for body in bodies:
                for media in body.get("content", {}).values():
                    schema = media["schema"]
                    assert "$ref" in schema or schema["items"].keys() == {"$ref"}, (path, method)
            for response in operation["responses"].values():
                assert response["description"], (path, method)
                assert "Built-in" not in response["description"], (path, method)
                assert "X-Request-ID" in response["headers"], (path, method)
    for node in _walk(document):
        assert not NOT_JSON_SCHEMA & node.keys(), node
    schemas = document["components"]["schemas"]
    for model in ("UserRead", "ProductRead", "SessionRead"):
        timestamps = [name for name in schemas[model]["properties"] if name.endswith("_at")]
        assert timestamps, model
        for name in timestamps:
            assert schemas[model]["properties"][name]["format"] == "date-time", (model, name)


def test_operation_ids_come_from_the_table_and_headers_are_where_they_are_sent(
    document: dict[str, Any],
) -> None:
    paths = document["paths"]
    ids = [op["operationId"] for operations in paths.values() for op in operations.values()]
    named = {f"{name}_{version}" for name in OPERATION_IDS.values() for version in ("v1", "v2")}
    assert {i for i in ids if i.endswith(("_v1", "_v2"))} <= named
    assert {"list_users_v1", "create_product_v1", "get_health"} <= set(ids)
    for version in ("v1", "v2"):
        for resource in ("users", "products"):
            created = paths[f"/api/{version}/{resource}/"]["post"]["responses"]
            assert "Location" in created["201"]["headers"]
            item = paths[f"/api/{version}/{resource}/{{id}}"]
            assert "ETag" in item["get"]["responses"]["304"]["headers"]
            limited = item["get"]["responses"]["429"]["headers"]
            assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(limited)
            assert "Retry-After" in limited
            assert "Retry-After" in item["get"]["responses"]["503"]["headers"]
    for resource in ("users", "products"):
        listed = paths[f"/api/v1/{resource}/"]["get"]["responses"]["200"]["headers"]
        assert {"X-Total-Count", "Link"} <= set(listed)
    headers = document["components"]["headers"]
    assert headers["X-Total-Count"]["schema"] == {"type": "integer"}


def test_two_different_schemas_of_one_name_are_refused() -> None:
    app = Quart(__name__)
    extension = QuartSchema(app, openapi_provider_class=ServiceOpenAPIProvider)
    for field in ("a", "b"):
        thing: type[BaseModel] = create_model("Thing", **{field: (int, ...)})

        async def view() -> dict[str, int]:
            return {}

        app.add_url_rule(f"/{field}", f"view_{field}", validate_response(thing)(view))
    with pytest.raises(ValueError, match="Thing"):
        extension.openapi_provider.schema()
