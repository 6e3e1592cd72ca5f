"""Registering class-based views so schemas and limits are not lost.

quart-schema and quart-rate-limiter read their markers from
`app.view_functions[endpoint]`; a `MethodView.as_view()` function carries none of the
markers put on its methods (quart-schema issue 98). `add_class_view` is the seed's
`add_url_rule(rule, view_func=View.as_view(name))` with one endpoint per HTTP method, each
carrying its method's markers and docstring, and each dispatching through the view itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import update_wrapper
from typing import Any

from pydantic import BaseModel
from quart import Blueprint
from quart.typing import ResponseReturnValue, RouteCallable
from quart.views import MethodView
from quart_schema import document_response, validate_request, validate_response

from service.auth.guards import auth_required
from service.common.conditional import tagged_write
from service.common.openapi import NoContent, errors


def add_class_view(blueprint: Blueprint, rule: str, view: RouteCallable) -> None:
    """Add `view` (a `MethodView.as_view(name)`) to `blueprint` at `rule`, one endpoint per
    method: `<name>_<method>`, and `<name>_list` for GET on a rule without variables."""
    view_class: type[MethodView] = view.view_class  # type: ignore[union-attr]
    name = view.__name__
    for http_method in sorted(view_class.methods or ()):
        attribute = http_method.lower()
        suffix = "list" if attribute == "get" and "<" not in rule else attribute
        blueprint.add_url_rule(
            rule,
            endpoint=f"{name}_{suffix}",
            view_func=_endpoint_for(view, getattr(view_class, attribute), f"{name}_{suffix}"),
            methods=[http_method],
        )


def _endpoint_for(view: RouteCallable, method: Any, endpoint: str) -> RouteCallable:
    async def dispatch(**kwargs: Any) -> ResponseReturnValue:
        result: ResponseReturnValue = await view(**kwargs)  # type: ignore[misc]
        return result

    # Copies __doc__ (the OpenAPI summary) and __dict__ (schema and limit markers).
    update_wrapper(dispatch, method)
    dispatch.__name__ = endpoint  # the OpenAPI operation id is built from it
    del dispatch.__wrapped__  # type: ignore[attr-defined]
    return dispatch


def item_update(
    body: type[BaseModel],
    read: type[BaseModel],
    update: Callable[[int, Any], Awaitable[BaseModel]],
    summary: str | None = None,
) -> Any:
    """An item view's `put` or `patch`: a token, `body` in, `update(id, data)`, `read` out.

    Its summary is `summary`, or else `update`'s docstring.

    The caller may be refused (403) or conflict with another item (409); `If-Match` is
    honoured and the answer carries the new `ETag`.
    """

    @auth_required
    @validate_request(body)
    @validate_response(read)
    @errors(403, 409)
    @tagged_write
    async def method(self: MethodView, id: int, data: Any) -> BaseModel:
        return await update(id, data)

    method.__doc__ = summary or update.__doc__
    return method


def item_delete(delete: Callable[[int], Awaitable[None]], summary: str) -> Any:
    """An item view's `delete`: a token, `delete(id)`, 204 without a body.

    The caller may be refused (403); `If-Match` is honoured.
    """

    @auth_required
    @document_response(NoContent, 204)
    @errors(403)
    @tagged_write
    async def method(self: MethodView, id: int) -> tuple[str, int]:
        await delete(id)
        return "", 204

    method.__doc__ = summary
    return method
