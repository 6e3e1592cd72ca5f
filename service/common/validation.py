"""`validate_request` and `validate_response`: quart-schema's, with one pydantic
TypeAdapter per declared model.

quart-schema 0.25 builds a TypeAdapter on every body it checks (tens of microseconds, more
than the validation itself). These record the same markers, so the OpenAPI document is
unchanged, and raise the same errors, which the error handlers answer as before. A view
that returns the declared model itself is not checked again; anything else (a list of
models, a dict) is validated against the declaration. Request bodies are JSON only here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from pydantic import TypeAdapter, ValidationError
from quart import Response, request
from quart_schema import DataSource
from quart_schema.validation import (
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
    QUART_SCHEMA_RESPONSE_ATTRIBUTE,
    RequestSchemaValidationError,
    ResponseSchemaValidationError,
)

View = Callable[..., Awaitable[Any]]


def validate_request(model_class: Any) -> Callable[[View], View]:
    adapter: TypeAdapter[Any] = TypeAdapter(model_class)

    def decorator(view: View) -> View:
        setattr(view, QUART_SCHEMA_REQUEST_ATTRIBUTE, (model_class, DataSource.JSON))

        @wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                data = adapter.validate_python(await request.get_json())
            except (TypeError, ValueError) as error:  # pydantic's ValidationError included
                raise RequestSchemaValidationError(error) from error
            return await view(*args, data=data, **kwargs)

        return wrapper

    return decorator


def validate_response(model_class: Any, status_code: int = 200) -> Callable[[View], View]:
    adapter: TypeAdapter[Any] = TypeAdapter(model_class)

    def decorator(view: View) -> View:
        schemas = getattr(view, QUART_SCHEMA_RESPONSE_ATTRIBUTE, {})
        schemas[status_code] = (model_class, None)
        setattr(view, QUART_SCHEMA_RESPONSE_ATTRIBUTE, schemas)

        @wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = await view(*args, **kwargs)
            value, *rest = result if isinstance(result, tuple) else (result,)
            status = rest[0] if rest and isinstance(rest[0], int) else 200
            if status != status_code or type(value) is model_class or isinstance(value, Response):
                return result
            try:
                value = adapter.validate_python(value)
            except ValidationError as error:
                raise ResponseSchemaValidationError(error) from error
            return (value, *rest) if rest else value

        return wrapper

    return decorator
