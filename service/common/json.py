"""JSON out through pydantic-core: models, timestamps and plain data in one pass."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticSerializationError, to_json
from quart import Response
from quart.json.provider import DefaultJSONProvider


class JSONProvider(DefaultJSONProvider):
    """Quart's provider with pydantic-core's encoder (compiled, and it serialises models
    itself, so a response model is never dumped to a dict first)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs.keys() - {"indent"}:  # options only the standard library knows
            return super().dumps(obj, **kwargs)
        return self._encode(obj, indent=kwargs.get("indent")).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = self._encode(self._prepare_response_obj(args, kwargs))
        return Response(body, mimetype=self.mimetype)

    def _encode(self, obj: Any, indent: int | None = None) -> bytes:
        try:
            return to_json(obj, indent=indent)
        except PydanticSerializationError:
            # A lone surrogate (echoed from a client's field name) is no UTF-8: the standard
            # library writes it as a \ud800 escape instead.
            return super().dumps(obj, indent=indent).encode()
