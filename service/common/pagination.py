"""Pagination: v1 pages (`X-Total-Count`, `Link`) and v2 signed keyset cursors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, Field, StrictInt, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python
from quart import current_app, request
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.common.schemas import QueryInt
from service.common.urls import public_url
from service.errors import InvalidInput

T = TypeVar("T")
M = TypeVar("M")


class PageQuery(BaseModel):
    """v1 list query: `page` from 1 (no upper bound), `per_page` 1-100."""

    page: QueryInt = Field(default=1, ge=1)
    per_page: QueryInt = Field(default=20, ge=1, le=100)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


class CursorQuery(BaseModel):
    """v2 list query: `limit` 1-100 and the opaque `cursor` of the previous page."""

    limit: QueryInt = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=1000)


class CursorPage(BaseModel, Generic[T]):
    """A v2 list page: its items, and the cursor of the next page (null after the last)."""

    data: list[T]
    next_cursor: str | None


async def page_of(
    session: AsyncSession, query: Select[M], *, offset: int, limit: int
) -> tuple[Sequence[M], int]:
    """One v1 page of `query`'s rows, and how many rows it has in all.

    Past the end nothing is read (an offset of any size never reaches SQL), and a page never
    asks for more than the rows left (a limit of any size binds as an integer).
    """
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    total = int(await session.scalar(counted) or 0)
    if offset >= total:
        return [], total
    rows = await session.scalars(query.offset(offset).limit(min(limit, total - offset)))
    return rows.all(), total


def page_headers(query: PageQuery, total: int) -> dict[str, str]:
    """`X-Total-Count` and an RFC 8288 `Link` with next/prev (and first/last) pages."""
    last = max(1, -(-total // query.per_page))
    links = {"first": 1, "last": last}
    if query.page < last:
        links["next"] = query.page + 1
    if query.page > 1:  # past the end, the previous page is the last one
        links["prev"] = min(query.page - 1, last)
    # The request's own query, other parameters kept, page and per_page last.
    kept = {k: v for k, v in request.args.items() if k not in {"page", "per_page"}}
    base = public_url(f"{request.root_path}{request.path}")
    link = ", ".join(
        f'<{base}?{urlencode({**kept, "page": page, "per_page": query.per_page})}>; rel="{rel}"'
        for rel, page in links.items()
    )
    return {"X-Total-Count": str(total), "Link": link}


class Keyset:
    """A v2 list's signed cursor: the (sort value, id) of a page's last row.

    It is valid only with the `scope` (sort and filters) it was issued for, and only from
    this service: the salt tells lists apart, the app's secret signs it.
    """

    def __init__(self, salt: str, value: Any = StrictInt, scope: Any = None) -> None:
        self._serializer = URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)
        self._position = TypeAdapter(tuple[value, StrictInt])
        self.scope = scope

    def after(self, cursor: str | None) -> tuple[Any, int] | None:
        """The (sort value, id) `cursor` points after; 400 when it is not one for this list."""
        if cursor is None:  # an empty cursor is no cursor we issued
            return None
        try:
            position = self._serializer.loads(cursor)
        except BadSignature:
            raise _invalid("This cursor was not issued by this service or was altered") from None
        if not isinstance(position, dict):
            raise _invalid("Malformed cursor")
        if position.get("for") != self.scope:
            raise _invalid("This cursor was issued for another sort or filter")
        try:
            after: tuple[Any, int] = self._position.validate_python(position.get("after"))
        except ValidationError:
            raise _invalid("Malformed cursor") from None
        return after

    def page(
        self, rows: Sequence[T], limit: int, position: Callable[[T], tuple[Any, int]]
    ) -> tuple[Sequence[T], str | None]:
        """The first `limit` of `rows` (fetched `limit + 1`) and the next page's cursor."""
        if len(rows) <= limit:
            return rows, None
        after = to_jsonable_python(position(rows[limit - 1]))
        return rows[:limit], str(self._serializer.dumps({"for": self.scope, "after": after}))


def _invalid(message: str) -> InvalidInput:
    return InvalidInput.for_fields({"cursor": [message]})
