"""Request hooks: request ids, response times, access logs and request metrics."""

from __future__ import annotations

import logging
import os
import re
import time

from quart import Response, g, has_request_context, request
from quart.globals import request_ctx

from service.common.clients import request_client
from service.logs import request_id_var
from service.metrics import current_metrics

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")

access_logger = logging.getLogger("service.access")

# The methods the service answers; any other label value would be chosen by the client.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ACCESS_MESSAGE = "%(method)s %(path)s %(status)s %(duration).4fs client=%(client)s user=%(user_id)s"


def get_request_id() -> str:
    """The current request's id: the client's when well-formed, else a new uuid4 hex."""
    if not has_request_context():
        return request_id_var.get() or "-"
    state = g._get_current_object()  # one context lookup, not one per use
    request_id: str | None = getattr(state, "request_id", None)
    if request_id is None:
        # From the raw ASGI headers (names lower-case): werkzeug's `headers.get` raises
        # and catches an exception for a header that is absent, as this one mostly is.
        raw = next(
            (value for name, value in request.scope["headers"] if name == b"x-request-id"), b""
        )
        incoming = raw.decode("latin-1")
        request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else new_request_id()
        state.request_id = request_id
        request_id_var.set(request_id)
    return request_id


def new_request_id() -> str:
    """A random uuid4 as 32 hex digits: uuid.uuid4().hex, without building a UUID object."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    return raw.hex()


def start_timing() -> None:
    """Start the request's clock and fix its id."""
    g.started_at = time.perf_counter()
    get_request_id()


def record_response(response: Response) -> Response:
    """Tag the answer with its id and time, count it, and log it."""
    state = g._get_current_object()
    now = time.perf_counter()
    duration = now - getattr(state, "started_at", now)
    request_id = get_request_id()
    headers = response.headers
    headers["X-Request-ID"] = request_id
    headers["X-Response-Time"] = f"{duration:.4f}s"
    headers["X-Content-Type-Options"] = "nosniff"
    # Label by the matched rule and a known method only: raw paths and invented methods
    # would let any client add series without bound.
    current = request_ctx.request
    rule, method = current.url_rule, current.method
    route = rule.rule if rule is not None else "<unmatched>"
    method = method if method in KNOWN_METHODS else "OTHER"
    current_metrics().observe_request(route, method, str(response.status_code), duration)
    if access_logger.isEnabledFor(logging.INFO):  # the fields cost nothing when it is off
        log_access(request_id, response.status_code, duration)
    return response


def log_access(request_id: str, status: int, duration: float) -> None:
    """One access-log line: the request, its answer, the client and the user (if known)."""
    # Set by the auth guards once a token checks out; absent on anonymous requests.
    user = g.get("current_user")
    extra = {
        "request_id": request_id,
        "method": request.method,
        "path": request.path,
        "status": status,
        "duration": round(duration, 6),
        "client": request_client(),  # as the rate limits see it (TRUSTED_PROXIES)
        "user_id": user.id if user is not None else None,
    }
    # The message shows "-" for an anonymous user; the record's field stays None (no key in JSON).
    shown = extra if user is not None else {**extra, "user_id": "-"}
    access_logger.info(ACCESS_MESSAGE, shown, extra=extra)
