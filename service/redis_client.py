"""The shared async Redis client (revocations, rate limits, readiness)."""

from __future__ import annotations

from collections.abc import Iterable

from quart import Quart
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError

from service.config import Settings

# Short timeouts: with Redis down or silent, requests fall back quickly instead of hanging.
# redis-py retries no command unless told to, so one command costs at most this long.
SOCKET_TIMEOUT_SECONDS = 0.5


class _Connection(Connection):
    """A connection whose write to a socket the peer has closed is a ConnectionError.

    Why: on uvloop (the server's event loop) that write raises RuntimeError ("the handler
    is closed") where asyncio's own loop drops the data and reports the loss on the next
    read; redis-py turns only OSError into its ConnectionError, which the service handles.
    """

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except RuntimeError as error:
            raise RedisConnectionError(f"Error while writing to socket: {error}") from error


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
                    connection_class=_Connection,
                )

        @app.after_serving
        async def disconnect() -> None:
            if self.client is not None:
                await self.client.aclose()
            self.client = None
