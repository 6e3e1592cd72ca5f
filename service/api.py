"""Versioned API: resource blueprints nested under `/api/v1` and `/api/v2`."""

from __future__ import annotations

from quart import Blueprint

api_v1 = Blueprint("api_v1", __name__, url_prefix="/api/v1")
api_v2 = Blueprint("api_v2", __name__, url_prefix="/api/v2")
