"""The application factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from inspect import CO_COROUTINE
from typing import Any, NoReturn

from pydantic import BaseModel
from quart import Quart, Response, current_app
from quart.typing import ResponseTypes
from quart.wrappers import BaseRequestWebsocket
from werkzeug.routing import RequestRedirect

from service.common.converters import IdConverter
from service.common.cors import init_cors
from service.common.files import send_named_file
from service.common.json import JSONProvider
from service.common.requests import ServiceRequest
from service.common.sessions import NoSessions
from service.common.urls import public_url
from service.config import Settings, get_settings
from service.error_handlers import register_error_handlers
from service.extensions import (
    cache,
    db,
    jwt,
    limiter,
    metrics,
    passwords,
    redis_client,
    schema,
    tokens,
    tracing,
)
from service.hooks import init_request_hooks
from service.http_connection import ServiceConnection
from service.instance import with_instance_secrets
from service.logs import configure_logging


class ServiceApp(Quart):
    """Quart whose request transaction commits after the view returns, and whose requests
    are served in the server's task (`ServiceConnection`).

    Committing here, before the response is made, means a failed commit goes through the
    error handlers (a 409 or 500), never a false 201. The view and the commit share the
    request's database deadline (a 503 when the database stays silent past it).
    """

    asgi_http_class = ServiceConnection

    async def dispatch_request(self, request_context: Any = None) -> Any:
        async with db.request_deadline():
            result = await super().dispatch_request(request_context)
            await db.commit_request()
        return result

    async def make_response(self, result: Any) -> ResponseTypes:
        """A response model becomes JSON bytes in one step (lists of them in the provider).

        It replaces quart-schema's wrapper of this method (removed in `create_app`), which
        dumped each model to a dict first and built a pydantic TypeAdapter per response.
        """
        value, *rest = result if isinstance(result, tuple) else (result,)
        if isinstance(value, BaseModel):
            body = self.json.response(value)
            result = (body, *rest) if rest else body
        return await super().make_response(result)

    def ensure_async(self, func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        """Quart's, with a fast path for a plain `async def`: Quart asks this of every
        hook and view, on every request, and its general check (it unwraps partials and
        looks for markers) is most of what calling a hook costs.
        """
        code = getattr(func, "__code__", None)  # a function's, or a bound method's
        if code is not None and code.co_flags & CO_COROUTINE:
            return func
        return super().ensure_async(func)

    async def send_static_file(self, filename: str) -> Response:
        if self.static_folder is None:
            raise RuntimeError("No static folder for this object")
        return await send_named_file(self.static_folder, filename)

    def raise_routing_exception(self, request: BaseRequestWebsocket) -> NoReturn:
        # Werkzeug builds the trailing-slash redirect as an absolute URL from the Host
        # header; a shared cache would keep serving a forged Host back. Every such redirect
        # passes here, so this one place makes it relative (or PUBLIC_URL-based).
        error = request.routing_exception
        if isinstance(error, RequestRedirect):
            raise RequestRedirect(public_url(error.new_url)) from None
        super().raise_routing_exception(request)


def create_app(settings: Settings | None = None) -> ServiceApp:
    """Build the app: settings -> config, extensions, blueprints, error handlers, CLI."""
    from service.api import api_v1, api_v2
    from service.cli import commands
    from service.ops.views import blueprint as ops

    settings = with_instance_secrets(settings or get_settings())
    configure_logging(settings.LOG_LEVEL, settings.log_format)
    app = ServiceApp(__name__)
    app.url_map.converters["id"] = IdConverter
    app.config.from_mapping(settings.quart_config())
    app.extensions["settings"] = settings

    metrics.init_app(app)
    init_request_hooks(app)
    app.request_class = ServiceRequest
    app.session_interface = NoSessions()
    db.init_app(app)
    redis_client.init_app(app)
    cache.init_app(app)
    tracing.init_app(app)  # after db/redis/cache: it instruments what they make
    jwt.init_app(app)
    tokens.init_app(app)
    passwords.init_app(app)
    schema.init_app(app)
    del app.make_response  # quart-schema's wrapper: ServiceApp.make_response does its job
    app.json = JSONProvider(app)
    init_cors(app, settings.CORS_ORIGINS)
    limiter.init_app(app)

    app.register_blueprint(ops)
    app.register_blueprint(api_v1)
    app.register_blueprint(api_v2)
    register_error_handlers(app)
    for command in commands:
        app.cli.add_command(command)
    # quart-schema adds `schema` without a help text.
    app.cli.commands["schema"].help = "Print the OpenAPI document as JSON (-o FILE writes it)."

    @app.context_processor
    async def inject_globals() -> dict[str, Any]:
        return {"app_name": current_app.config["APP_NAME"], "current_year": datetime.now(UTC).year}

    return app
