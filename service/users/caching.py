"""Cached user reads (item and memoized stats) and their invalidation.

Authorization is checked by the views before these are called; the entries hold data,
never a response meant for one caller.
"""

from __future__ import annotations

from typing import Any

from service.extensions import cache, db
from service.users import services
from service.users.schemas import UserRead

JSONDict = dict[str, Any]


def item_namespace(user_id: int) -> str:
    return f"user:{user_id}"


async def user_json(user_id: int) -> JSONDict:
    """One user as JSON data; raises UserNotFound (never cached)."""

    async def load() -> JSONDict:
        user = await services.get_user(db.session(), user_id)
        return UserRead.model_validate(user).model_dump(mode="json")

    return await cache.get_or_compute(item_namespace(user_id), "item", load)


@cache.memoize("stats:{user_id}")
async def stats_json(user_id: int) -> JSONDict:
    """A user's product count and value; product writes invalidate `stats:<owner>`."""
    stats = await services.user_stats(db.session(), user_id)
    return stats.model_dump(mode="json")


def invalidate_after_commit(user_id: int) -> None:
    """Drop the user's cached item with the write's commit (recorded before it too)."""
    cache.invalidate_with_commit(db, item_namespace(user_id))
