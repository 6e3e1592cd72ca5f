"""URL converters."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # the id columns are 32-bit integers


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive integer that fits an id column; anything else is a 404."""

    def __init__(self, map: object) -> None:
        super().__init__(map, min=1, max=MAX_ID)  # type: ignore[arg-type]
