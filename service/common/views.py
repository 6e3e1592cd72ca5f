"""Registering class-based views so schemas and limits are not lost.

quart-schema and quart-rate-limiter read their markers from
`app.view_functions[endpoint]`; a `MethodView.as_view()` function carries none of the
markers put on its methods (quart-schema issue 98). `register_class_view` adds one
endpoint per HTTP method instead, each a small function that carries its method's
markers and docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from quart import Blueprint
from quart.typing import ResponseReturnValue
from quart.views import MethodView

# Which class method answers which HTTP method, on the collection and on the item rule.
COLLECTION_METHODS = {"GET": "list", "POST": "post"}
ITEM_METHODS = {"GET": "get", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}


def register_class_view(
    blueprint: Blueprint,
    view_class: type[MethodView],
    *,
    name: str,
    collection_rule: str = "/",
    item_rule: str = "/<id:id>",
) -> None:
    """Add `view_class`'s methods to `blueprint`: `list`/`post` on the collection rule,
    `get`/`put`/`patch`/`delete` on the item rule; methods the class lacks are skipped."""
    for rule, methods in ((collection_rule, COLLECTION_METHODS), (item_rule, ITEM_METHODS)):
        for http_method, attribute in methods.items():
            method = getattr(view_class, attribute, None)
            if method is None:
                continue
            endpoint = f"{name}_{attribute}"
            blueprint.add_url_rule(
                rule,
                endpoint=endpoint,
                view_func=_endpoint_for(view_class, attribute, method, endpoint),
                methods=[http_method],
            )


def _endpoint_for(
    view_class: type[MethodView], attribute: str, method: Callable[..., Any], endpoint: str
) -> Callable[..., Any]:
    async def view(**kwargs: Any) -> ResponseReturnValue:
        result: ResponseReturnValue = await getattr(view_class(), attribute)(**kwargs)
        return result

    # Copies __doc__ (the OpenAPI summary) and __dict__ (schema and limit markers).
    update_wrapper(view, method)
    view.__name__ = endpoint
    view.__qualname__ = f"{view_class.__name__}.{attribute}"
    del view.__wrapped__  # type: ignore[attr-defined]
    return view
