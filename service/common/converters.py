"""URL converters."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter

MAX_ID = 2**31 - 1  # the id columns are 32-bit integers


def positive_integers_up_to(limit: int) -> str:
    """A regular expression for the decimal numbers 1..limit, written without leading zeros."""
    digits = str(limit)
    width = len(digits)
    choices = [f"[1-9][0-9]{{0,{width - 2}}}"] if width > 1 else []
    # Same width as `limit`: equal to it up to position i, smaller at i, anything after.
    for i, digit in enumerate(digits):
        lowest = 1 if i == 0 else 0
        if int(digit) > lowest:
            rest = f"[0-9]{{{width - i - 1}}}" if i < width - 1 else ""
            choices.append(f"{digits[:i]}[{lowest}-{int(digit) - 1}]{rest}")
    choices.append(digits)
    return "(?:" + "|".join(choices) + ")"


class IdConverter(BaseConverter):
    """`<id:name>`: a positive integer that fits an id column; anything else is a 404.

    The range lives in the pattern, so `to_python` never refuses a value. Werkzeug's matcher
    turns a converter's ValidationError into a 405 when a rule for another method on the
    same path came first (PUT /products/0 was a 405), where the contract wants a 404.
    """

    regex = positive_integers_up_to(MAX_ID)
    weight = 50

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))
