"""Request hooks: request ids, response times, access logs and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from quart import Quart, Response, current_app, g, has_request_context, request

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

access_logger = logging.getLogger("service.access")


def get_request_id() -> str:
    """The current request's id: the client's when well-formed, else a new uuid4 hex."""
    if not has_request_context():
        return _request_id.get() or "-"
    request_id: str | None = g.get("request_id")
    if request_id is None:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        g.request_id = request_id
        _request_id.set(request_id)
    return request_id


class Metrics:
    """The app's Prometheus registry; one per app so test apps do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time spent answering HTTP requests.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.cache_requests = Counter(
            "cache_requests_total",
            "Cache look-ups by result (hit or miss).",
            ["result"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "rate_limit_rejections_total",
            "Requests refused by a rate limit.",
            ["route"],
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "redis_errors_total",
            "Redis operations that failed and were worked around.",
            ["component"],
            registry=self.registry,
        )


def current_metrics() -> Metrics:
    """The serving app's metrics."""
    metrics: Metrics = current_app.extensions["metrics"]
    return metrics


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors in production."""

    _FIELDS = ("request_id", "method", "path", "status", "duration")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in self._FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, log_format: str) -> None:
    """Route every logger to stderr in the chosen format, with the request id attached."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_service_handler", False):
            root.removeHandler(existing)
    handler._service_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic narrates every step at INFO; the CLI prints its own one-line outcome.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))


def init_request_hooks(app: Quart, metrics: Metrics) -> None:
    """Time every request, tag it with an id, log it and count it."""

    @app.before_request
    async def start_timer() -> None:
        g.started_at = time.perf_counter()
        get_request_id()

    @app.after_request
    async def finish(response: Response) -> Response:
        started = g.get("started_at") or time.perf_counter()
        duration = time.perf_counter() - started
        response.headers["X-Request-ID"] = get_request_id()
        response.headers["X-Response-Time"] = f"{duration:.4f}s"
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        status = str(response.status_code)
        metrics.requests.labels(route, request.method, status).inc()
        metrics.latency.labels(route, request.method, status).observe(duration)
        access_logger.info(
            "%s %s %s %.4fs",
            request.method,
            request.path,
            status,
            duration,
            extra={
                "request_id": get_request_id(),
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration": round(duration, 6),
            },
        )
        return response
