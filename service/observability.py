"""Request hooks: request ids, response times, access logs and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from quart import Quart, Response, current_app, g, has_request_context, request

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

access_logger = logging.getLogger("service.access")

# The methods the service answers; any other label value would be chosen by the client.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"
OTHER_METHOD = "OTHER"


def get_request_id() -> str:
    """The current request's id: the client's when well-formed, else a new uuid4 hex."""
    if not has_request_context():
        return _request_id.get() or "-"
    request_id: str | None = g.get("request_id")
    if request_id is None:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
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


# -- safe log text ------------------------------------------------------------------------
# Nothing secret is logged on purpose (SQL parameters are hidden by the engine, bodies and
# headers are never logged); these patterns are the second line of defence for what a
# library or an exception message might still carry.
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JWTs (their header always starts `{"` -> `eyJ`), bearer credentials of any shape
    (re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}"), "[redacted token]"),
    (re.compile(r"(?i)(bearer\s+)[^\s'\",;]+"), r"\1[redacted]"),
    # argon2 password hashes (PHC string format)
    (re.compile(r"\$argon2[a-z]*\$[A-Za-z0-9$=,+/.-]*"), "[redacted hash]"),
    # a `password` key with its value: JSON, repr, form or keyword style
    (
        re.compile(r"(?i)(password\w*['\"]?\s*[:=]\s*)('[^']*'|\"[^\"]*\"|[^\s,;&)}\]]+)"),
        r"\1[redacted]",
    ),
    # PostgreSQL's DETAIL echoes row values and keys (hashes, emails): keep only the columns
    (re.compile(r"(Failing row contains )\(.*\)"), r"\1(...)"),
    (re.compile(r"(Key \([^)]*\)=)\(.*?\)(?= already exists| is not present|$)"), r"\1(...)"),
)

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: every character
# a terminal or a log collector might take as the end of a line.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_control(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def redact(text: str) -> str:
    """`text` with tokens, password hashes, password values and row data masked."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def safe_text(value: object) -> str:
    """A logged value on one line: redacted, and every control character escaped."""
    return _CONTROL_RE.sub(_escape_control, redact(str(value)))


def format_exception_safely(error: BaseException) -> str:
    """A traceback whose exception messages are redacted and cannot break the line.

    The frames (file, line, source) come from the code and keep their line breaks; each
    exception's own text - where user input, SQL or row data can hide - is made safe.
    """
    parts: list[str] = []
    seen: set[int] = set()

    def walk(current: BaseException) -> None:
        seen.add(id(current))
        cause, context = current.__cause__, current.__context__
        if cause is not None and id(cause) not in seen:
            walk(cause)
            parts.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
            )
        elif context is not None and not current.__suppress_context__ and id(context) not in seen:
            walk(context)
            parts.append(
                "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        if current.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(current.__traceback__))
        summary = "".join(traceback.format_exception_only(type(current), current))
        parts.append(safe_text(summary.rstrip("\n")) + "\n")
        if isinstance(current, BaseExceptionGroup):
            for number, member in enumerate(current.exceptions, 1):
                parts.append(f"\n[{number} of {len(current.exceptions)} in the group]\n")
                walk(member)

    walk(error)
    return "".join(parts).rstrip("\n")


def _exception_of(record: logging.LogRecord) -> BaseException | None:
    exc_info = record.exc_info
    if isinstance(exc_info, tuple) and exc_info[1] is not None:
        return exc_info[1]
    return None


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines for development; every logged value kept on its line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # Format a copy: other handlers (pytest's, a collector's) see the record untouched,
        # and a traceback another formatter cached in `exc_text` is never reused unsafely.
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = safe_text(record.getMessage()), None
        safe.request_id = safe_text(getattr(record, "request_id", "-"))
        safe.exc_info = safe.exc_text = None
        line = super().format(safe)
        error = _exception_of(record)
        if error is not None:
            line += "\n" + format_exception_safely(error)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors in production."""

    _FIELDS = ("request_id", "method", "path", "status", "duration")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": safe_text(record.getMessage()),
        }
        for field in self._FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = safe_text(value) if isinstance(value, str) else value
        error = _exception_of(record)
        if error is not None:
            entry["exception"] = format_exception_safely(error)
        return json.dumps(entry)


def configure_logging(level: str, log_format: str) -> None:
    """Route every logger to stderr in the chosen format, with the request id attached."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_service_handler", False):
            root.removeHandler(existing)
    handler._service_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic narrates every step at INFO; the CLI prints its own one-line outcome.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # aiosqlite logs every call it runs, SQL parameters (password hashes) included, at DEBUG.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))


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
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Label by the matched rule and a known method only: raw paths and invented methods
        # would let any client add series without bound.
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
        method = request.method if request.method in KNOWN_METHODS else OTHER_METHOD
        status = str(response.status_code)
        metrics.requests.labels(route, method, status).inc()
        metrics.latency.labels(route, method, status).observe(duration)
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
