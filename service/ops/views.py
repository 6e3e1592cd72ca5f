"""Operational routes: liveness, readiness, metrics and the self-hosted docs assets."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Response
from quart_schema import hide, tag_blueprint

from service.common.files import send_named_file
from service.common.validation import validate_response
from service.metrics import current_metrics
from service.ops.checks import readiness
from service.ops.schemas import HealthResponse, ReadinessResponse
from service.rate_limit import rate_exempt

blueprint = Blueprint("ops", __name__)
tag_blueprint(blueprint, ["operations"])

# Swagger UI 5 (the first to render OpenAPI 3.1), shipped in the swagger-ui-py wheel.
SWAGGER_UI_STATIC = Path(swagger_ui.__file__).resolve().parent / "static"


@blueprint.get("/health")
@rate_exempt
@validate_response(HealthResponse)
async def health() -> HealthResponse:
    """Liveness: the process answers; touches no backend."""
    return HealthResponse(status="ok")


@blueprint.get("/ready")
@rate_exempt
@validate_response(ReadinessResponse, 200)
@validate_response(ReadinessResponse, 503)
async def ready() -> tuple[ReadinessResponse, int]:
    """Readiness: the database and Redis answer (503 naming the failing check)."""
    checks = await readiness()
    if "error" in (checks.database, checks.redis):
        return ReadinessResponse(status="error", checks=checks), 503
    return ReadinessResponse(status="ok", checks=checks), 200


@blueprint.get("/metrics")
@rate_exempt
@hide
async def metrics() -> Response:
    """Prometheus text exposition of the app's registry."""
    return Response(generate_latest(current_metrics().registry), content_type=CONTENT_TYPE_LATEST)


@blueprint.get("/docs/static/<path:filename>")
@rate_exempt
@hide
async def docs_static(filename: str) -> Response:
    """Swagger UI's scripts and styles, served here so /docs works offline."""
    return await send_named_file(SWAGGER_UI_STATIC, filename)
