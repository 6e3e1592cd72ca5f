"""The production ASGI server, chosen in this one place (Hypercorn, Quart's own)."""

from __future__ import annotations

import asyncio
import logging
import signal

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from service.config import Settings


def serve_forever(app: Quart, settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT; in-flight requests get a grace period to finish."""
    config = Config()
    config.bind = [f"{settings.HOST}:{settings.PORT}"]
    config.graceful_timeout = settings.SHUTDOWN_GRACE_SECONDS
    config.accesslog = None  # the app logs each request itself, with its request id
    config.errorlog = logging.getLogger("hypercorn.error")
    asyncio.run(_serve(app, config))


async def _serve(app: Quart, config: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)
