"""Pagination: v1 pages (`X-Total-Count`, `Link`) and v2 signed keyset cursors."""

from __future__ import annotations

from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, Field
from quart import request

from service.common.schemas import QueryInt
from service.common.urls import public_url
from service.errors import InvalidInput

T = TypeVar("T")


class PageQuery(BaseModel):
    """v1 list query: `page` from 1 (no upper bound), `per_page` 1-100."""

    model_config = ConfigDict(extra="ignore")

    page: QueryInt = Field(default=1, ge=1)
    per_page: QueryInt = Field(default=20, ge=1, le=100)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


class CursorQuery(BaseModel):
    """v2 list query: `limit` 1-100 and the opaque `cursor` of the previous page."""

    model_config = ConfigDict(extra="ignore")

    limit: QueryInt = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=1000)


class CursorPage(BaseModel, Generic[T]):
    """v2 list body."""

    data: list[T]
    next_cursor: str | None


def page_headers(query: PageQuery, total: int) -> dict[str, str]:
    """`X-Total-Count` and an RFC 8288 `Link` with next/prev (and first/last) pages."""
    last = max(1, -(-total // query.per_page))
    links = {"first": 1, "last": last}
    if query.page < last:
        links["next"] = query.page + 1
    if 1 < query.page <= last:
        links["prev"] = query.page - 1
    elif query.page > last:
        links["prev"] = last
    link = ", ".join(
        f'<{_page_url(page, query.per_page)}>; rel="{rel}"' for rel, page in links.items()
    )
    return {"X-Total-Count": str(total), "Link": link}


def _page_url(page: int, per_page: int) -> str:
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k not in {"page", "per_page"}}
    args.update(page=page, per_page=per_page)
    return public_url(f"{request.root_path}{request.path}?{urlencode(args)}")


class CursorCodec:
    """Signs keyset positions so clients can only hand back cursors we issued."""

    def __init__(self, secret: str, *, salt: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=salt)

    def encode(self, position: dict[str, Any]) -> str:
        return str(self._serializer.dumps(position))

    def decode(self, cursor: str) -> dict[str, Any]:
        try:
            position = self._serializer.loads(cursor)
        except BadSignature:
            raise InvalidInput.for_fields(
                {"cursor": ["This cursor was not issued by this service or was altered"]}
            ) from None
        if not isinstance(position, dict):
            raise InvalidInput.for_fields({"cursor": ["Malformed cursor"]})
        return position
