"""The shared async Redis client (revocations, rate limits, readiness)."""

from __future__ import annotations

from quart import Quart
from redis.asyncio import Redis

from service.config import Settings

# Short timeouts: with Redis down or silent, requests fall back quickly instead of hanging.
# redis-py retries no command unless told to, so one command costs at most this long.
SOCKET_TIMEOUT_SECONDS = 0.5
HEALTH_CHECK_SECONDS = 30


class RedisClient:
    """Owns one connection pool per serving app; `client` is None without REDIS_URL."""

    def __init__(self) -> None:
        self.client: Redis | None = None

    def init_app(self, app: Quart, settings: Settings) -> None:
        app.extensions["redis_client"] = self

        async def connect() -> None:
            if settings.REDIS_URL:
                self.client = Redis.from_url(
                    settings.REDIS_URL,
                    socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                    socket_timeout=SOCKET_TIMEOUT_SECONDS,
                    socket_keepalive=True,
                    health_check_interval=HEALTH_CHECK_SECONDS,
                )

        async def disconnect() -> None:
            if self.client is not None:
                await self.client.aclose()
            self.client = None

        app.before_serving(connect)
        app.after_serving(disconnect)

    @property
    def enabled(self) -> bool:
        return self.client is not None

    async def ping(self) -> None:
        if self.client is None:
            raise RuntimeError("Redis is not configured")
        await self.client.ping()
