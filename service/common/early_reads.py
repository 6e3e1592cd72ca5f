"""Redis reads a request is going to make, made early, in a round trip it makes anyway.

A view declares the keys it will read (`@reads_early(keys)`, from its URL's arguments).
The request's first Redis round trip (the limiter's call, else the auth guard's read of
the login's state) fetches them along with its own, and `early_values` hands them to the
code that asks later in the same request (the cache), which then needs no round trip of
its own. The values are read before the view runs, which is no earlier than a read at the
start of the view would be: nothing the request itself writes can come in between.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from quart import current_app, g, has_app_context, request

View = TypeVar("View", bound=Callable[..., Any])
KEYS_ATTRIBUTE = "_reads_early"


def reads_early(keys: Callable[..., list[str]]) -> Callable[[View], View]:
    """Mark a view: `keys(**view_args)` names the Redis keys it is going to read. Put it
    above every other decorator (the marker must sit on what the route calls)."""

    def decorator(view: View) -> View:
        setattr(view, KEYS_ATTRIBUTE, keys)
        return view

    return decorator


def view_keys() -> list[str]:
    """The keys the request's view declared, or none."""
    endpoint = request.endpoint
    if endpoint is None:
        return []
    view = current_app.view_functions[endpoint]
    # A class view's route calls `as_view`'s function; the marker is on the method.
    handler = getattr(getattr(view, "view_class", None), request.method.lower(), view)
    keys: Callable[..., list[str]] | None = getattr(handler, KEYS_ATTRIBUTE, None)
    return keys(**(request.view_args or {})) if keys is not None else []


def keep_early(values: Mapping[str, bytes | None]) -> None:
    """Keep values read early for the rest of the request."""
    if values:
        g.early_reads = {**g.get("early_reads", {}), **values}


def early_values(*keys: str) -> list[bytes | None] | None:
    """The values of `keys` if all of them were read early in this request, else None."""
    known: dict[str, bytes | None] = g.get("early_reads", {}) if has_app_context() else {}
    if not all(key in known for key in keys):
        return None
    return [known[key] for key in keys]
