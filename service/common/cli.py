"""Helpers for click commands that need the app's resources."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from quart import Quart
from sqlalchemy.ext.asyncio import AsyncSession

from service.extensions import db

T = TypeVar("T")


def run_in_transaction(app: Quart, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`work(session)` with the app's serving resources started, in one transaction of its
    database committed when it returns (a session connects only when first used)."""

    async def runner() -> T:
        async with app.app_context():
            await app.startup()
            try:
                async with db.session_for_task() as session, session.begin():
                    return await work(session)
            finally:
                await app.shutdown()

    return asyncio.run(runner())
