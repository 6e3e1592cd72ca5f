"""Helpers for click commands that need the app's resources."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from quart import Quart

T = TypeVar("T")


def run_with_app(app: Quart, work: Callable[[], Awaitable[T]]) -> T:
    """Run async work inside the app's context with its serving resources started."""

    async def runner() -> T:
        async with app.app_context():
            await app.startup()
            try:
                return await work()
            finally:
                await app.shutdown()

    return asyncio.run(runner())
