"""Cached user reads: the item and the stats, memoized per user.

Authorization is checked by the views before these are called; the entries hold data,
never a response meant for one caller. Writes drop them with `cache.delete_memoized`.
"""

from __future__ import annotations

from typing import Any

from service.extensions import cache, db
from service.users import services
from service.users.schemas import UserRead

JSONDict = dict[str, Any]
# A user's namespace: every user write bumps its generation (auth.recent relies on it).
USER_NAMESPACE = "user:{user_id}"
STATS = "stats:{user_id}"


@cache.memoize(USER_NAMESPACE, lock=False)
async def user_json(user_id: int) -> JSONDict:
    """One user as JSON data; raises UserNotFound (never cached)."""
    user = await services.user_row(db.session(), user_id)
    return UserRead.model_validate(user).model_dump(mode="json")


@cache.memoize(STATS)
async def stats_json(user_id: int) -> JSONDict:
    """A user's product count and value; product writes drop it for the owner."""
    stats = await services.user_stats(db.session(), user_id)
    return stats.model_dump(mode="json")
