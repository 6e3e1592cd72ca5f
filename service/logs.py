"""Log lines: the request id on every record, secrets masked, one event per line."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from traceback import TracebackException
from typing import Any

# The request being served, for records logged outside a request context's `g`.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def _with_request_id(record: logging.LogRecord) -> bool:
    if not hasattr(record, "request_id"):
        record.request_id = request_id_var.get() or "-"
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


def safe_text(value: object) -> str:
    """A logged value on one line: tokens, password hashes, password values and row data
    masked, and every control character escaped (as JSON would: `\\n`, `\\u0085`)."""
    text = str(value)
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return _CONTROL_RE.sub(lambda match: json.dumps(match.group())[1:-1], text)


def format_exception_safely(error: BaseException) -> str:
    """A traceback whose exception messages are redacted and cannot break the line.

    The frames (file, line, source) come from the code and keep their line breaks; each
    exception's own text - where user input, SQL or row data can hide - is made safe.
    """
    return "".join(_safe_traceback(TracebackException.from_exception(error))).rstrip("\n")


def _safe_traceback(current: TracebackException) -> Iterator[str]:
    # TracebackException has followed the chain and the groups, each exception once.
    if current.__cause__ is not None:
        yield from _safe_traceback(current.__cause__)
        yield "\nThe above exception was the direct cause of the following exception:\n\n"
    elif current.__context__ is not None and not current.__suppress_context__:
        yield from _safe_traceback(current.__context__)
        yield "\nDuring handling of the above exception, another exception occurred:\n\n"
    if current.stack:
        yield "Traceback (most recent call last):\n"
        yield from current.stack.format()
    yield safe_text("".join(current.format_exception_only()).rstrip("\n")) + "\n"
    for number, member in enumerate(current.exceptions or [], 1):
        yield f"\n[{number} of {len(current.exceptions or [])} in the group]\n"
        yield from _safe_traceback(member)


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
        safe.exc_text = None
        return super().format(safe)

    def formatException(self, ei: Any) -> str:
        return format_exception_safely(ei[1]) if ei[1] is not None else ""


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors in production."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": safe_text(record.getMessage()),
        }
        for field in ("request_id", "method", "path", "status", "duration", "client", "user_id"):
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = safe_text(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = format_exception_safely(record.exc_info[1])
        return json.dumps(entry)


def configure_logging(level: str, log_format: str) -> None:
    """Route every logger to stderr in the chosen format, with the request id attached."""
    handler = logging.StreamHandler(sys.stderr)
    handler.name = "service"  # the one handler this owns, and replaces when called again
    handler.addFilter(_with_request_id)
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers = [*(h for h in root.handlers if h.name != "service"), handler]
    root.setLevel(level)
    # Alembic narrates every step at INFO; the CLI prints its own one-line outcome.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # aiosqlite logs every call it runs, SQL parameters (password hashes) included, at DEBUG.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
