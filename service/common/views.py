"""Registering class-based views so schemas and limits are not lost.

quart-schema and quart-rate-limiter read their markers from
`app.view_functions[endpoint]`; a `MethodView.as_view()` function carries none of the
markers put on its methods (quart-schema issue 98). `add_class_view` is the seed's
`add_url_rule(rule, view_func=View.as_view(name))` with one endpoint per HTTP method, each
carrying its method's markers and docstring, and each dispatching through the view itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from pydantic import BaseModel
from quart import Blueprint
from quart.typing import ResponseReturnValue, RouteCallable
from quart.views import MethodView
from quart_schema import document_response

from service.auth.guards import auth_required
from service.common.conditional import tagged_write
from service.common.openapi import NoContent, errors
from service.common.validation import validate_request, validate_response

Headers = dict[str, str]


def add_class_view(blueprint: Blueprint, rule: str, view: RouteCallable) -> None:
    """Add `view` (a `MethodView.as_view(name)`) to `blueprint` at `rule`, one endpoint per
    method: `<name>_<method>`, and `<name>_list` for GET on a rule without variables."""
    view_class: type[MethodView] = view.view_class  # type: ignore[union-attr]
    for http_method in sorted(view_class.methods or ()):
        attribute = http_method.lower()
        suffix = "list" if attribute == "get" and "<" not in rule else attribute

        async def dispatch(**kwargs: Any) -> ResponseReturnValue:
            result: ResponseReturnValue = await view(**kwargs)  # type: ignore[misc]
            return result

        # Copies __doc__ (the OpenAPI summary) and __dict__ (schema and limit markers).
        update_wrapper(dispatch, getattr(view_class, attribute))
        dispatch.__name__ = f"{view.__name__}_{suffix}"  # the OpenAPI operation id uses it
        del dispatch.__wrapped__  # type: ignore[attr-defined]
        blueprint.add_url_rule(
            rule, endpoint=dispatch.__name__, view_func=dispatch, methods=[http_method]
        )


def item_write(body: type[BaseModel], read: type[BaseModel]) -> Callable[[Any], Any]:
    """An item view's `put` or `patch`: a token, `body` in, `read` out.

    The caller may be refused (403) or conflict with another item (409); `If-Match` is
    honoured and the answer carries the new `ETag`.
    """

    def decorate(method: Any) -> Any:
        for decorator in (
            tagged_write,
            errors(403, 409),
            validate_response(read),
            validate_request(body),
            auth_required,
        ):
            method = decorator(method)
        return method

    return decorate


def item_removal(method: Any) -> Any:
    """An item view's `delete`: a token, then `method` (which answers 204 without a body).

    The caller may be refused (403); `If-Match` is honoured.
    """
    for decorator in (tagged_write, errors(403), document_response(NoContent, 204), auth_required):
        method = decorator(method)
    return method
