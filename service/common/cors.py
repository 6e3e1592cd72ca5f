"""CORS (quart-cors), on only with CORS_ORIGINS: what cross-origin browsers may send and read."""

from __future__ import annotations

from quart import Quart
from quart_cors import cors

ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-Request-ID",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
]
ALLOW_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
EXPOSE_HEADERS = [
    "X-Request-ID",
    "X-Response-Time",
    "X-Total-Count",
    "Link",
    "Location",
    "ETag",
    "Idempotent-Replayed",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
]


def init_cors(app: Quart, origins: list[str]) -> None:
    if origins:
        cors(
            app,
            allow_origin=origins,
            allow_headers=ALLOW_HEADERS,
            allow_methods=ALLOW_METHODS,
            expose_headers=EXPOSE_HEADERS,
        )
