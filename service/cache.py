"""The cache extension: cashews over Redis, or in-process without REDIS_URL."""

from __future__ import annotations

from cashews import Cache as CashewsCache
from quart import Quart

from service.config import Settings


class Cache:
    """Owns a cashews cache; set up in `before_serving`, closed in `after_serving`."""

    def __init__(self) -> None:
        self.backend = CashewsCache(name="service")

    def init_app(self, app: Quart, settings: Settings) -> None:
        async def connect() -> None:
            if settings.REDIS_URL:
                self.backend.setup(settings.REDIS_URL, suppress=False, client_side=False)
            else:
                self.backend.setup("mem://", size=100_000)
            await self.backend.init()

        async def disconnect() -> None:
            await self.backend.close()

        app.before_serving(connect)
        app.after_serving(disconnect)
