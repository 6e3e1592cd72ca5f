"""Request hooks: request ids, response times, access logs and request metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid

from quart import Quart, Response, g, has_request_context, request

from service.logs import request_id_var
from service.metrics import current_metrics

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")

access_logger = logging.getLogger("service.access")

# The methods the service answers; any other label value would be chosen by the client.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def get_request_id() -> str:
    """The current request's id: the client's when well-formed, else a new uuid4 hex."""
    if not has_request_context():
        return request_id_var.get() or "-"
    request_id: str | None = g.get("request_id")
    if request_id is None:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
        g.request_id = request_id
        request_id_var.set(request_id)
    return request_id


def init_request_hooks(app: Quart) -> None:
    """Time every request, tag it with an id, log it and count it."""

    @app.before_request
    async def start_timer() -> None:
        g.started_at = time.perf_counter()
        get_request_id()

    @app.after_request
    async def finish(response: Response) -> Response:
        duration = time.perf_counter() - (g.get("started_at") or time.perf_counter())
        request_id = get_request_id()
        response.headers["X-Request-ID"] = request_id
        response.headers["X-Response-Time"] = f"{duration:.4f}s"
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Label by the matched rule and a known method only: raw paths and invented methods
        # would let any client add series without bound.
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        method = request.method if request.method in KNOWN_METHODS else "OTHER"
        status = str(response.status_code)
        current_metrics().requests.labels(route, method, status).inc()
        current_metrics().latency.labels(route, method, status).observe(duration)
        fields = {"method": request.method, "path": request.path, "status": response.status_code}
        extra = {"request_id": request_id, **fields, "duration": round(duration, 6)}
        access_logger.info("%(method)s %(path)s %(status)s %(duration).4fs", extra, extra=extra)
        return response
