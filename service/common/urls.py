"""URLs the service hands out (`Link`, `Location`), never built from the Host header."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from quart import current_app, request

from service.config import Settings


def public_url(target: str) -> str:
    """`target` as a relative reference, or under `PUBLIC_URL` when it is set.

    `target` may be a path (`/api/v1/users/7?x=1`) or an absolute URL that Quart or Werkzeug
    built from the request's Host header; either way only its path and query are kept, so a
    forged Host cannot reach a client (or a shared cache) through a header we send.
    """
    parts = urlsplit(target)
    # One leading slash: `//host/...` would be a scheme-relative URL naming another host.
    relative = urlunsplit(("", "", "/" + parts.path.lstrip("/"), parts.query, ""))
    settings: Settings = current_app.extensions["settings"]
    return f"{settings.PUBLIC_URL}{relative}" if settings.PUBLIC_URL else relative


def created_url(item_id: int) -> str:
    """The public URL of a new item under the collection this request was posted to.

    Built from the request's own path rather than an item endpoint's name, so a view works
    under whatever name it was registered (`View.as_view(name)`), and without building a
    URL through the route map.
    """
    return public_url(f"{request.root_path}{request.path.rstrip('/')}/{item_id}")
