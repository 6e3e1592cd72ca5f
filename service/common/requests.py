"""Reading requests, the same way for every route: JSON bodies, query parameters, guards.

Every JSON body goes through `ServiceRequest.get_json` (quart-schema's `validate_request`
calls it too), so decoding, nesting depth and text checks live in this one place.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, TypeVar

from quart import Request, current_app
from quart.globals import request_ctx
from quart_schema.validation import QUART_SCHEMA_REQUEST_ATTRIBUTE

from service.errors import BadRequest, InvalidInput, UnsupportedMediaType

OPTIONAL_BODY_ATTRIBUTE = "_service_optional_json_body"
T = TypeVar("T")

# No body of this API nests more than two levels; a bound keeps parsing and validation cheap
# and answers a deliberately deep document with a clear 400 rather than a RecursionError.
MAX_JSON_DEPTH = 32
TOO_DEEP = f"The request body nests deeper than {MAX_JSON_DEPTH} levels"

# PostgreSQL cannot store U+0000 in text, and a lone surrogate cannot be encoded as UTF-8
# at all; both are refused on every backend alike, naming the field.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
NUL_MESSAGE = "must not contain a NUL character (U+0000)"
SURROGATE_MESSAGE = "must not contain an unpaired surrogate (\\ud800-\\udfff)"


class ServiceRequest(Request):
    """Quart's request with a strict JSON reader."""

    @property
    def blueprints(self) -> list[str]:
        """The matched endpoint's blueprint, then each one enclosing it (as Quart's).

        Quart works this out from the endpoint's name three times a request (before,
        after and teardown hooks); here once per endpoint.
        """
        rule = self.url_rule
        return blueprint_chain(rule.endpoint) if rule is not None else []

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        """The body as JSON: strict UTF-8, standard JSON only, bounded depth, storable text.

        Raises `BadRequest` for a body that is not such JSON (`silent` returns None instead)
        and `InvalidInput` naming each field whose text cannot be stored.
        """
        try:
            if force or self.is_json:
                return parse_json(await self.get_data(cache, False, False))
        except BadRequest:
            if not silent:
                raise
        return None


@lru_cache(maxsize=1024)  # endpoints are a fixed few
def blueprint_chain(endpoint: str) -> list[str]:
    """`"api_v1.users.detail"` -> `["api_v1.users", "api_v1"]`. Shared: read, never changed."""
    names: list[str] = []
    blueprint = endpoint.rpartition(".")[0]
    while blueprint:
        names.append(blueprint)
        blueprint = blueprint.rpartition(".")[0]
    return names


def parse_json(body: bytes) -> Any:
    """Parse a JSON request body; see `ServiceRequest.get_json`."""
    if not body:
        raise BadRequest("The request body is empty; send a JSON document")
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as error:
        raise BadRequest(
            f"The request body is not valid UTF-8 (byte {error.start}); JSON must be UTF-8"
        ) from None
    except json.JSONDecodeError as error:
        raise BadRequest(
            f"The request body is not valid JSON: {error.msg} "
            f"(line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise BadRequest(TOO_DEEP) from None
    except ValueError:
        # int() refuses numbers of more than sys.get_int_max_str_digits() digits
        raise BadRequest("The request body holds a number too large to read") from None
    if fields := unstorable_text(document):
        raise InvalidInput.for_fields(fields)
    return document


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity; JSON has no such values.
    raise BadRequest(f"The request body is not valid JSON: {name} is not a JSON value")


def unstorable_text(document: Any) -> dict[str, list[str]]:
    """Messages for the text the database cannot store, by dotted field path; raises
    BadRequest past MAX_JSON_DEPTH (so the walk's own recursion stays shallow)."""
    fields: dict[str, list[str]] = {}

    def visit(value: Any, path: tuple[str, ...]) -> None:
        if isinstance(value, str):
            name = ".".join(path) if path else "body"
            for character in _UNSTORABLE.findall(value):
                message = NUL_MESSAGE if character == "\x00" else SURROGATE_MESSAGE
                if message not in fields.setdefault(name, []):
                    fields[name].append(message)
        elif isinstance(value, dict | list):
            if len(path) >= MAX_JSON_DEPTH:
                raise BadRequest(TOO_DEEP)
            for key, item in value.items() if isinstance(value, dict) else enumerate(value):
                visit(str(key), (*path, str(key)))  # a key is named like its value
                visit(item, (*path, str(key)))

    visit(document, ())
    return fields


def header_parameter(name: str, description: str, **schema: Any) -> dict[str, Any]:
    """An optional request header, as OpenAPI documents it."""
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


def optional_json_body(view: T) -> T:
    """Mark a route whose JSON body may be left out entirely."""
    setattr(view, OPTIONAL_BODY_ATTRIBUTE, True)
    return view


async def refuse_unacceptable_input() -> None:
    """Refuse what no route may take: a NUL (or lone surrogate) in any query parameter, even
    one the route ignores (the contract names no exception), and a non-JSON body where a
    route declares a JSON request schema: 415, where Quart itself would answer a plain 400.
    """
    current = request_ctx.request  # one context lookup, not one per use
    if current.routing_exception is not None:
        return
    if current.query_string:
        # Each parameter's values as one text, named by the parameter.
        texts = {key: "".join(values) for key, values in current.args.lists()}
        if fields := unstorable_text(texts):
            raise InvalidInput.for_fields(fields)
    view = current_app.view_functions.get(current.endpoint or "")
    if not hasattr(view, QUART_SCHEMA_REQUEST_ATTRIBUTE) or current.is_json:
        return
    if not getattr(view, OPTIONAL_BODY_ATTRIBUTE, False) or await current.get_data():
        raise UnsupportedMediaType(
            f"Send the body as application/json, not {current.mimetype or 'nothing'}"
        )
