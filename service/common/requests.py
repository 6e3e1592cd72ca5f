"""Request guards shared by every route."""

from __future__ import annotations

from typing import TypeVar

from quart import Quart, current_app, request
from quart_schema.validation import QUART_SCHEMA_REQUEST_ATTRIBUTE

from service.errors import UnsupportedMediaType

OPTIONAL_BODY_ATTRIBUTE = "_service_optional_json_body"
T = TypeVar("T")


def optional_json_body(view: T) -> T:
    """Mark a route whose JSON body may be left out entirely."""
    setattr(view, OPTIONAL_BODY_ATTRIBUTE, True)
    return view


def init_json_guard(app: Quart) -> None:
    """Refuse a non-JSON body with 415 where a route declares a JSON request schema.

    Quart itself answers a wrong Content-Type with a plain 400; the contract wants 415.
    """

    @app.before_request
    async def require_json_body() -> None:
        view = current_app.view_functions.get(request.endpoint or "")
        if view is None or not hasattr(view, QUART_SCHEMA_REQUEST_ATTRIBUTE):
            return
        if getattr(view, OPTIONAL_BODY_ATTRIBUTE, False) and not await request.get_data():
            return
        if not request.is_json:
            raise UnsupportedMediaType(
                f"Send the body as application/json, not {request.mimetype or 'nothing'}"
            )
