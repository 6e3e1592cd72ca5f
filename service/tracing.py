"""OpenTelemetry tracing: a span per request with its SQL and Redis calls as children.

Off unless the standard OTEL_* variables ask for it (`tracing_requested`); then the ASGI app
is wrapped in OpenTelemetry's middleware, the engine and Redis are instrumented once the
app serves, and everything is undone when it stops. Off, nothing of it is even imported:
no middleware, no hook, no per-request work.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from quart import Quart, Response, request

from service.observability import get_request_id

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)

# Any of these set turns tracing on (the SDK's exporter reads them itself).
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
REQUEST_ID_ATTRIBUTE = "request_id"


def tracing_requested(environ: Mapping[str, str]) -> bool:
    """Whether the standard variables ask for traces: an OTLP endpoint or a traces exporter.

    OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none switch it off whatever else is set.
    """
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" or exporter == "none":
        return False
    return bool(exporter) or any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


class Tracing:
    """The tracing extension; `exporter`, when set before `init_app`, replaces OTLP (tests)."""

    exporter: SpanExporter | None = None
    provider: TracerProvider | None = None

    def init_app(self, app: Quart) -> None:
        if self.exporter is None and not tracing_requested(os.environ):
            return
        provider = self.provider = self._make_provider(app)
        # Imported here: a service that does not trace never loads OpenTelemetry at all.
        from opentelemetry import trace
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # The per-message send/receive spans would outnumber the ones that matter. The
        # middleware types ASGI messages as plain mappings, hence the ignore.
        app.asgi_app = OpenTelemetryMiddleware(  # type: ignore[method-assign,assignment]
            app.asgi_app, tracer_provider=provider, exclude_spans=["receive", "send"]
        )

        @app.after_request
        async def name_request_span(response: Response) -> Response:
            span = trace.get_current_span()
            span.set_attribute(REQUEST_ID_ATTRIBUTE, get_request_id())
            if request.url_rule is not None:  # low-cardinality name: the rule, not the path
                span.update_name(f"{request.method} {request.url_rule.rule}")
                span.set_attribute("http.route", request.url_rule.rule)
            return response

        # Registered after the database's and Redis' own before_serving hooks (create_app
        # calls init_app after theirs), so the engine exists here. The instrumentors patch
        # process-wide (one app serves per process), hence the undoing at after_serving.
        @app.before_serving
        async def instrument() -> None:
            engine = app.extensions["database"].engine
            # The async engine runs its statements on the sync engine, whose events the
            # instrumentation listens to. Its declared range stops short of SQLAlchemy 2.1,
            # whose engine events are unchanged (tests/test_tracing.py checks the spans).
            SQLAlchemyInstrumentor().instrument(
                engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True
            )
            # Patches redis-py's asyncio client class: the shared client and cashews' both.
            RedisInstrumentor().instrument(tracer_provider=provider)

        @app.after_serving
        async def uninstrument() -> None:
            SQLAlchemyInstrumentor().uninstrument()
            RedisInstrumentor().uninstrument()
            # Flushes the spans still batched: blocking I/O (a silent collector takes up to
            # the exporter's timeout), so off the event loop.
            await asyncio.to_thread(provider.shutdown)

    def _make_provider(self, app: Quart) -> TracerProvider:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the app's own name.
        name = app.config.get("APP_NAME") or "service"
        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: name}
        provider = TracerProvider(resource=Resource.create(attributes))
        if self.exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        else:
            provider.add_span_processor(BatchSpanProcessor(_configured_exporter()))
        return provider


def _configured_exporter() -> SpanExporter:
    """OTLP over HTTP (endpoint, headers and timeout from the OTEL_* variables), or console."""
    name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        logger.warning("OTEL_TRACES_EXPORTER=%s is not supported here; using otlp", name)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
