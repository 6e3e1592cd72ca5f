"""OpenTelemetry tracing: off by default, and a request span with its SQL and Redis children."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from service import extensions
from service.app import create_app
from service.config import Settings
from service.tracing import tracing_requested

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_SDK_DISABLED",
)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, False),
    ],
)
def test_tracing_requested_by_the_standard_variables(
    environ: dict[str, str], expected: bool
) -> None:
    assert tracing_requested(environ) is expected


@pytest.fixture(name="no_otel_environment")
def _no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_otel_environment")
async def test_tracing_off_adds_no_middleware_and_no_hook(settings: Settings) -> None:
    plain = create_app(settings)
    assert plain.asgi_app.__func__ is type(plain).asgi_app  # type: ignore[attr-defined]
    hooks = [f.__name__ for f in plain.after_request_funcs[None]]
    assert "name_request_span" not in hooks


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that keeps what it is sent."""

    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(name="collector")
def _collector() -> Iterator[ThreadingHTTPServer]:
    Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.mark.usefixtures("no_otel_environment")
async def test_tracing_on_by_an_endpoint_sends_the_spans_there_by_otlp(
    settings: Settings, collector: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = collector.server_address[:2]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{host!s}:{port}")
    app = create_app(settings)
    assert type(app.asgi_app).__name__ == "OpenTelemetryMiddleware"
    async with app.test_app() as test_app:
        await test_app.test_client().get("/health", headers={"X-Request-ID": "otlp-1"})
    # Stopping the app flushed the batch: one export, in OTLP's protobuf.
    assert [path for path, _ in Collector.received] == ["/v1/traces"]
    export = ExportTraceServiceRequest.FromString(Collector.received[0][1])
    (resource,) = export.resource_spans
    names = [span.name for scope in resource.scope_spans for span in scope.spans]
    assert names == ["GET /health"]
    (request_span,) = [span for scope in resource.scope_spans for span in scope.spans]
    attributes = {a.key: a.value.string_value for a in request_span.attributes}
    assert attributes["request_id"] == "otlp-1"


@pytest.fixture(name="spans")
async def _spans(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    monkeypatch.setattr(extensions.tracing, "exporter", exporter)
    yield exporter
    exporter.clear()


def children_of(span: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    assert span.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == span.context.span_id]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_request_span_has_sql_and_redis_children_and_the_request_id(
    settings: Settings, spans: InMemorySpanExporter
) -> None:
    app = create_app(settings)
    async with app.test_app() as test_app:
        response = await test_app.test_client().get(
            "/api/v1/products/", headers={"X-Request-ID": "traced-1", "traceparent": CALLER}
        )
        assert response.status_code == 200
    finished = list(spans.get_finished_spans())
    requests = [s for s in finished if s.kind is SpanKind.SERVER]
    assert len(requests) == 1
    (request_span,) = requests
    assert request_span.attributes is not None
    assert request_span.attributes["request_id"] == "traced-1"
    assert request_span.name == "GET /api/v1/products/"
    # The caller's trace goes on: W3C trace context from the incoming header.
    assert request_span.parent is not None
    assert f"{request_span.context.trace_id:032x}" == CALLER.split("-")[1]
    assert f"{request_span.parent.span_id:016x}" == CALLER.split("-")[2]
    children = children_of(request_span, finished)
    # A cache miss: Redis is asked, the database answers, Redis keeps the result.
    systems = {(child.attributes or {}).get("db.system") for child in children}
    assert {"postgresql", "redis"} <= systems
    sql = [c for c in children if (c.attributes or {}).get("db.system") == "postgresql"]
    assert any("SELECT" in str((c.attributes or {}).get("db.statement")) for c in sql)
    assert all(child.context.trace_id == request_span.context.trace_id for child in children)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.usefixtures("spans")
async def test_instrumentation_is_undone_when_the_app_stops(settings: Settings) -> None:
    # The instrumentors patch process-wide: a traced app must leave none of it behind.
    async with create_app(settings).test_app():
        assert SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry
        assert RedisInstrumentor().is_instrumented_by_opentelemetry
    assert not SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry
    assert not RedisInstrumentor().is_instrumented_by_opentelemetry
