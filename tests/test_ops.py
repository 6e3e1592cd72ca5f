"""Operational routes: health, readiness, metrics, OpenAPI and the self-hosted docs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from prometheus_client.parser import text_string_to_metric_families
from quart import Blueprint

from service.app import create_app
from service.config import Settings
from service.extensions import limiter
from tests.plugins.backends import Backend

CLOSED_REDIS = "redis://127.0.0.1:1/0"
CLOSED_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
DOCS_ASSETS = {
    "/docs/static/swagger-ui-bundle.js": "javascript",
    "/docs/static/swagger-ui.css": "text/css",
}
EXEMPT_PATHS = ["/health", "/ready", "/metrics", "/openapi.json", "/docs", *DOCS_ASSETS]

limited_probe = Blueprint("ops_probe", __name__, url_prefix="/_ops")


@limited_probe.get("/limited")
async def limited() -> dict[str, str]:
    return {"status": "ok"}


async def ready_of(settings: Settings) -> tuple[int, Any]:
    """GET /ready on an app built from these settings."""
    async with create_app(settings).test_app() as test_app:
        response = await test_app.test_client().get("/ready")
        return response.status_code, await response.get_json()


async def test_health_is_200_ok(client: Any) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}


async def test_health_with_database_down_is_still_200(postgres_backend: Backend) -> None:
    app = create_app(postgres_backend.settings(DATABASE_URL=CLOSED_POSTGRES, REDIS_URL=None))
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/health")
    assert response.status_code == 200


async def test_ready_with_backends_up_is_200(client: Any, backend: Backend) -> None:
    response = await client.get("/ready")
    expected_redis = "ok" if backend.redis_url else "disabled"
    assert response.status_code == 200
    assert await response.get_json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": expected_redis},
    }


async def test_ready_with_redis_on_closed_port_is_503(settings: Settings) -> None:
    status, body = await ready_of(settings.model_copy(update={"REDIS_URL": CLOSED_REDIS}))
    assert status == 503
    assert body == {"status": "error", "checks": {"database": "ok", "redis": "error"}}


async def test_ready_with_postgres_on_closed_port_is_503(postgres_backend: Backend) -> None:
    status, body = await ready_of(postgres_backend.settings(DATABASE_URL=CLOSED_POSTGRES))
    assert status == 503
    assert body == {"status": "error", "checks": {"database": "error", "redis": "ok"}}


async def test_ready_with_everything_down_names_both(postgres_backend: Backend) -> None:
    settings = postgres_backend.settings(DATABASE_URL=CLOSED_POSTGRES, REDIS_URL=CLOSED_REDIS)
    status, body = await ready_of(settings)
    assert status == 503
    assert body == {"status": "error", "checks": {"database": "error", "redis": "error"}}


async def test_ready_with_unreadable_sqlite_file_is_503(sqlite_backend: Backend) -> None:
    # A directory where the database file should be: SQLite cannot open it.
    settings = sqlite_backend.settings(DATABASE_URL="sqlite+aiosqlite:////")
    status, body = await ready_of(settings)
    assert status == 503
    assert body["checks"]["database"] == "error"


async def test_metrics_after_requests_counts_by_route_and_status(client: Any) -> None:
    for _ in range(3):
        await client.get("/health")
    await client.get("/nope")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(await response.get_data(as_text=True))
        for sample in family.samples
    }

    def value(name: str, route: str, status: str) -> float:
        labels = (("method", "GET"), ("route", route), ("status", status))
        return samples.get((name, labels), 0.0)

    assert value("http_requests_total", "/health", "200") == 3
    assert value("http_requests_total", "<unmatched>", "404") == 1
    assert value("http_request_duration_seconds_count", "/health", "200") == 3


async def test_metrics_route_label_is_the_rule_not_the_path(client: Any) -> None:
    await client.get("/docs/static/swagger-ui.css")
    text = await (await client.get("/metrics")).get_data(as_text=True)
    assert 'route="/docs/static/<path:filename>"' in text
    assert 'route="/docs/static/swagger-ui.css"' not in text


async def test_openapi_is_valid_openapi_3_1(client: Any) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec = await response.get_json()
    assert spec["openapi"].startswith("3.1")
    validate(spec, cls=OpenAPIV31SpecValidator)
    assert {"/health", "/ready"} <= spec["paths"].keys()
    assert "/metrics" not in spec["paths"]


async def test_docs_page_uses_only_local_assets(client: Any) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    page = await response.get_data(as_text=True)
    references = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert set(references) == set(DOCS_ASSETS)
    assert "//" not in "".join(references)
    assert "/openapi.json" in page


@pytest.mark.parametrize(("path", "kind"), DOCS_ASSETS.items())
async def test_docs_asset_is_served_with_its_content_type(
    client: Any, path: str, kind: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert kind in response.content_type
    assert len(await response.get_data()) > 1000


async def test_docs_bundle_is_swagger_ui_5_which_renders_openapi_3_1(client: Any) -> None:
    """Swagger UI 4 shows "Unable to render this definition" for an OpenAPI 3.1 document."""
    bundle = await (await client.get("/docs/static/swagger-ui-bundle.js")).get_data(as_text=True)
    match = re.search(r'PACKAGE_VERSION:"(\d+)\.\d+\.\d+"', bundle)
    assert match is not None
    assert int(match.group(1)) >= 5


async def test_docs_asset_missing_is_404(client: Any) -> None:
    response = await client.get("/docs/static/nothing-here.js")
    assert response.status_code == 404


async def test_health_hit_past_the_default_limit_is_never_429(settings: Settings) -> None:
    limited_settings = {"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_DEFAULT": "100/hour"}
    app = create_app(settings.model_copy(update=limited_settings))
    app.register_blueprint(limited_probe)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        health = [await client.get("/health") for _ in range(150)]
        # The control: an ordinary route is refused after its 100 under the same setting.
        ordinary = [(await client.get("/_ops/limited")).status_code for _ in range(101)]
    assert {response.status_code for response in health} == {200}
    assert not any("RateLimit-Limit" in response.headers for response in health)
    assert ordinary[-1] == 429
    assert set(ordinary[:100]) == {200}


async def test_ops_routes_past_a_tiny_limit_are_never_429(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_DEFAULT": "2/hour"})
    )
    app.register_blueprint(limited_probe)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        for path in EXEMPT_PATHS:
            statuses = {(await client.get(path)).status_code for _ in range(4)}
            assert statuses == {200}, path
        # The control: an ordinary route is limited under the same setting.
        statuses_limited = [(await client.get("/_ops/limited")).status_code for _ in range(4)]
    assert statuses_limited[:2] == [200, 200]
    assert 429 in statuses_limited


async def test_ops_and_docs_endpoints_are_all_exempt(settings: Settings) -> None:
    app = create_app(settings)
    endpoints = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if not rule.endpoint.startswith(("api_v1.", "api_v2."))
    }
    assert {"ops.health", "ops.ready", "ops.metrics", "ops.docs_static", "openapi"} <= endpoints
    for endpoint in endpoints:
        assert limiter.limits_for(app, endpoint) is None, endpoint


async def test_openapi_operation_ids_are_unique_across_versions(client: Any) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    ids = [
        operation["operationId"]
        for item in spec["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(ids) == len(set(ids))
    assert spec["paths"]["/health"]["get"]["operationId"] == "get_health"
