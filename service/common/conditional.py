"""Entity tags on item routes (RFC 9110): `ETag` and `If-None-Match` on reads, `If-Match`
on writes. Users and products both go through these three functions.

A tag is a hash of the item's JSON as served, so it changes whenever anything served
changes (`updated_at` has microseconds: two updates in one second still differ), and a
GET answered from the cache carries the tag of exactly the body it sends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec

from pydantic import BaseModel
from quart import g, request
from werkzeug.http import parse_etags, quote_etag

from service.common.openapi import document_operation
from service.common.requests import header_parameter
from service.errors import PreconditionFailed

P = ParamSpec("P")
View = Callable[P, Awaitable[Any]]


def etag_of(representation: BaseModel) -> str:
    """The strong tag (unquoted) of an item's served JSON."""
    return hashlib.sha256(representation.model_dump_json().encode()).hexdigest()[:32]


def _header_tags(name: str) -> Any:
    # Several header lines mean the same as one comma-joined line.
    return parse_etags(", ".join(request.headers.getlist(name)))


def tagged_read(view: View[P]) -> View[P]:
    """An item GET: send its `ETag`; 304 without a body when `If-None-Match` names it."""
    return _tagged(
        view,
        header_parameter("If-None-Match", "Entity tag(s) the client holds, or `*`"),
        responses={
            304: {
                "description": "Not Modified: If-None-Match names the current tag (no body)",
                "headers": {"ETag": {"schema": {"type": "string"}}},
            }
        },
    )


def tagged_write(view: View[P]) -> View[P]:
    """An item PUT, PATCH or DELETE: accepts `If-Match`; a 200 carries the new `ETag`.

    The view must call `require_if_match` with the current item (read and locked in the
    request's transaction) before changing it; a view that forgets fails rather than
    write past a precondition.
    """
    return _tagged(
        view,
        header_parameter(
            "If-Match", "Change only if the item's current tag is one of these (or `*`)"
        ),
        errors={412: "If-Match names a tag that is no longer current; nothing changed"},
    )


def _tagged(view: View[P], parameter: dict[str, Any], **docs: Any) -> View[P]:
    """`view` answering its item with an `ETag`, under the precondition `parameter` names."""
    read = parameter["name"] == "If-None-Match"

    @wraps(view)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        result = await view(*args, **kwargs)
        if not read and "If-Match" in request.headers and not g.get("if_match_checked", False):
            raise RuntimeError(f"{request.endpoint} ignored If-Match")
        if not isinstance(result, BaseModel):
            return result
        tag = etag_of(result)
        headers = {"ETag": quote_etag(tag)}
        # If-None-Match compares weakly; `*` matches any current item.
        if read and _header_tags("If-None-Match").contains_weak(tag):
            return "", 304, headers
        return result, 200, headers

    etag = {"ETag": "Strong entity tag of the item as sent"}
    document_operation(wrapper, parameters=[parameter], response_headers={200: etag}, **docs)
    return wrapper


def require_if_match(current: BaseModel) -> None:
    """412 PRECONDITION_FAILED unless `If-Match` (when sent) names `current`'s tag.

    Compares strongly, as RFC 9110 asks: a weak tag never matches.
    """
    g.if_match_checked = True
    if "If-Match" in request.headers and not _header_tags("If-Match").contains(etag_of(current)):
        raise PreconditionFailed()
