"""Unbound extension singletons; `create_app` binds them with `init_app`.

State (engines, pools, stores) lives on these objects and is made in `before_serving`,
so one process serves one app at a time; several instances are several processes.
"""

from __future__ import annotations

from importlib.metadata import version

from quart_jwt_extended import JWTManager
from quart_schema import QuartSchema

from service.auth.passwords import Passwords
from service.auth.tokens import Tokens
from service.cache import Cache
from service.common.openapi import ServiceOpenAPIProvider
from service.database import Database
from service.metrics import Metrics
from service.rate_limit import Limiter
from service.redis_client import RedisClient
from service.tracing import Tracing

metrics = Metrics()
db = Database()
redis_client = RedisClient()
cache = Cache()
jwt = JWTManager()
tokens = Tokens()
passwords = Passwords()
limiter = Limiter()
tracing = Tracing()
schema = QuartSchema(
    openapi_path="/openapi.json",
    swagger_ui_path="/docs",
    redoc_ui_path=None,
    scalar_ui_path=None,
    info={"title": "Quart Service API", "version": version("service")},
    security_schemes={"bearerAuth": {"type": "http", "scheme": "bearer", "bearer_format": "JWT"}},
    conversion_preference="pydantic",
    openapi_provider_class=ServiceOpenAPIProvider,
)
