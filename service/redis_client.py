"""The shared async Redis client (revocations, rate limits, readiness)."""

from __future__ import annotations

from quart import Quart
from redis.asyncio import Redis

from service.config import Settings

# Short timeouts: with Redis down or silent, requests fall back quickly instead of hanging.
# redis-py retries no command unless told to, so one command costs at most this long.
SOCKET_TIMEOUT_SECONDS = 0.5


class RedisClient:
    """Owns one connection pool per serving app; `client` is None without REDIS_URL.

    Registered as `app.extensions["redis_client"]`; other extensions read `.client` when
    they need it, since it is made in `before_serving`.
    """

    client: Redis | None = None

    def init_app(self, app: Quart) -> None:
        settings: Settings = app.extensions["settings"]
        app.extensions["redis_client"] = self

        @app.before_serving
        async def connect() -> None:
            if settings.REDIS_URL:
                self.client = Redis.from_url(
                    settings.REDIS_URL,
                    socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                    socket_timeout=SOCKET_TIMEOUT_SECONDS,
                    socket_keepalive=True,
                    health_check_interval=30,
                )

        @app.after_serving
        async def disconnect() -> None:
            if self.client is not None:
                await self.client.aclose()
            self.client = None
