"""Helpers for click commands that need the app's resources."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from quart import Quart
from sqlalchemy.ext.asyncio import AsyncSession

from service.extensions import db

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


def run_in_transaction(app: Quart, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`work(session)` in one transaction of the app's database, committed when it returns."""

    async def in_transaction() -> T:
        async with db.session_for_task() as session, session.begin():
            return await work(session)

    return run_with_app(app, in_transaction)
