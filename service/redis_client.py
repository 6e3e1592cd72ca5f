"""The shared async Redis client (revocations, rate limits, readiness)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from quart import Quart
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection, Connection
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.config import Settings

# Short timeouts: with Redis down or silent, requests fall back quickly instead of hanging.
# redis-py retries no command unless told to, so one command costs at most this long.
SOCKET_TIMEOUT_SECONDS = 0.5


class _Connection(Connection):
    """redis-py's connection, lighter per command (every request sends one or more).

    - Commands are packed by hiredis (redis-py's own serializer for its sync client; the
      async one packs in Python).
    - A write is bounded by a timer: redis-py bounds it with `asyncio.wait_for`, which on
      Python 3.11 starts a task per command. Reads keep redis-py's own bound.
    - A write to a socket the peer has closed is a ConnectionError: on uvloop (the server's
      event loop) it raises RuntimeError ("the handler is closed") where asyncio's own loop
      drops the data and reports the loss on the next read; redis-py turns only OSError
      into its ConnectionError, which the service handles.
    """

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._packer.pack(*args)
        return packed

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        timeout, self.socket_timeout = self.socket_timeout, None  # no wait_for in there
        try:
            async with asyncio.timeout(timeout):
                await super().send_packed_command(command, check_health)
        except TimeoutError:
            raise RedisTimeoutError("Timeout writing to socket") from None
        except RuntimeError as error:
            raise RedisConnectionError(f"Error while writing to socket: {error}") from error
        finally:
            self.socket_timeout = timeout


class _Pool(ConnectionPool):
    """redis-py's pool without its bookkeeping around every command.

    redis-py takes an asyncio lock twice per command, records pool metrics for its own
    OpenTelemetry exporter (not used here), dispatches a release event (for credential
    providers, not used here) and polls the socket for unread data on every checkout. In
    one event loop taking and returning a connection cannot interleave, so no lock is
    needed; and a connection is never returned with unread data, since redis-py closes
    one whose command was interrupted (the next checkout connects it again).
    """

    async def get_connection(self, *_: Any, **__: Any) -> AbstractConnection:
        try:
            connection = self._available_connections.pop()
        except IndexError:
            connection = self.make_connection()  # type: ignore[no-untyped-call]
        self._in_use_connections.add(connection)
        try:
            await connection.connect()  # type: ignore[no-untyped-call]  # at once when connected
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        self._in_use_connections.discard(connection)
        if connection.should_reconnect():  # type: ignore[no-untyped-call]
            await connection.disconnect()
        self._available_connections.append(connection)


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
                pool = _Pool.from_url(
                    settings.REDIS_URL,
                    socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                    socket_timeout=SOCKET_TIMEOUT_SECONDS,
                    socket_keepalive=True,
                    health_check_interval=30,
                    connection_class=_Connection,
                )
                self.client = Redis.from_pool(pool)  # closing the client closes the pool

        @app.after_serving
        async def disconnect() -> None:
            if self.client is not None:
                await self.client.aclose()
            self.client = None
