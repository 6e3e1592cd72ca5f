"""One error tree, and the handlers that turn every failure into the contract's error body."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from quart import Quart, current_app, render_template, request
from quart.typing import ResponseReturnValue
from quart_rate_limiter import RateLimitExceeded
from quart_schema import RequestSchemaValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from service.observability import get_request_id

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class APIError(Exception):
    """Base of every error the service answers on purpose."""

    status_code = 500
    error = "INTERNAL_ERROR"
    message = "An unexpected error occurred"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "error": self.error,
            "message": self.message,
            "status_code": self.status_code,
            "request_id": get_request_id(),
        }
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(APIError):
    status_code = 400
    error = "BAD_REQUEST"
    message = "The request could not be read"


class ValidationError(APIError):
    status_code = 400
    error = "VALIDATION_ERROR"
    message = "The request is not valid"

    @classmethod
    def for_fields(
        cls, fields: dict[str, list[str]], message: str | None = None
    ) -> ValidationError:
        return cls(message, details={"fields": fields})


class Unauthorized(APIError):
    status_code = 401
    error = "UNAUTHORIZED"
    message = "A valid access token is required"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class InvalidCredentials(Unauthorized):
    error = "INVALID_CREDENTIALS"
    message = "Invalid email or password"


class Forbidden(APIError):
    status_code = 403
    error = "FORBIDDEN"
    message = "You are not allowed to do this"


class NotFound(APIError):
    status_code = 404
    error = "NOT_FOUND"
    message = "The requested resource was not found"


class MethodNotAllowedError(APIError):
    status_code = 405
    error = "METHOD_NOT_ALLOWED"
    message = "The method is not allowed for this resource"


class DuplicateEntry(APIError):
    status_code = 409
    error = "DUPLICATE_ENTRY"
    message = "A record with these values already exists"


class PreconditionFailed(APIError):
    status_code = 412
    error = "PRECONDITION_FAILED"
    message = "If-Match names a version that is no longer current"


class PayloadTooLarge(APIError):
    status_code = 413
    error = "PAYLOAD_TOO_LARGE"
    message = "The request body is too large"


class UnsupportedMediaType(APIError):
    status_code = 415
    error = "UNSUPPORTED_MEDIA_TYPE"
    message = "The request body must be application/json"


class RateLimited(APIError):
    status_code = 429
    error = "RATE_LIMITED"
    message = "Too many requests"


class InternalError(APIError):
    pass


class DatabaseError(APIError):
    error = "DATABASE_ERROR"
    message = "A database error occurred"


class ServiceUnavailable(APIError):
    status_code = 503
    error = "SERVICE_UNAVAILABLE"
    message = "The service is temporarily unavailable"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(RETRY_AFTER_SECONDS)})
        super().__init__(message, **kwargs)


class DatabaseTimeout(ServiceUnavailable):
    message = "The database did not answer in time; try again shortly"


class CacheUnavailable(ServiceUnavailable):
    message = "The change cannot be published to the shared cache; try again shortly"


_HTTP_ERRORS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowedError,
    409: DuplicateEntry,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
    503: ServiceUnavailable,
}


# pydantic's wording for these names our classes ("instance of ProductCreate").
_NOT_AN_OBJECT = {"model_type", "model_attributes_type", "dataclass_type", "dict_type"}


def validation_fields(error: PydanticValidationError) -> dict[str, list[str]]:
    """Map pydantic's errors to `field -> [messages]`, the contract's `details.fields`."""
    fields: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "body"
        fields.setdefault(location, []).append(_client_message(item))
    return fields


def _client_message(item: Any) -> str:
    if item["type"] in _NOT_AN_OBJECT:
        return "Input should be a JSON object"
    if item["type"] == "value_error":
        # Our validators' own words, without pydantic's "Value error, " prefix.
        return str(item.get("ctx", {}).get("error") or item["msg"])
    return str(item["msg"])


def is_unique_violation(error: IntegrityError) -> bool:
    original = error.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if code is None and original is not None and original.__cause__ is not None:
        code = getattr(original.__cause__, "sqlstate", None)
    return code == "23505" or "unique constraint" in str(original).lower()


def is_connection_lost(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, PoolTimeoutError | ConnectionError | TimeoutError):
        return True
    # asyncpg and aiosqlite connect failures surface as OSError, sometimes wrapped
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError | ConnectionError):
            return True
        cause = cause.__cause__
    return False


def is_database_locked(error: OperationalError) -> bool:
    """SQLite gave up waiting for another process's lock (its busy_timeout passed)."""
    return "database is locked" in str(error.orig)


def api_error_for(error: BaseException) -> APIError:
    """Translate any exception into the APIError the client sees."""
    if isinstance(error, InternalServerError) and error.original_exception is not None:
        error = error.original_exception
    if isinstance(error, APIError):
        return error
    if isinstance(error, RequestSchemaValidationError):
        cause = error.validation_error
        if isinstance(cause, PydanticValidationError):
            return ValidationError.for_fields(validation_fields(cause))
        return ValidationError.for_fields({"body": ["The input could not be read"]})
    if isinstance(error, RateLimitExceeded):
        return RateLimited(
            f"Too many requests; retry in {error.retry_after} seconds",
            headers={"Retry-After": str(error.retry_after)},
        )
    if isinstance(error, HTTPException):
        return _from_http_exception(error)
    if isinstance(error, IntegrityError):
        if is_unique_violation(error):
            return DuplicateEntry()
        return ValidationError("The request conflicts with the stored data")
    if isinstance(error, RedisError):
        return ServiceUnavailable("A backing service is unreachable; try again shortly")
    if isinstance(error, SQLAlchemyError | OSError) and is_connection_lost(error):
        return ServiceUnavailable("The database is unreachable; try again shortly")
    if isinstance(error, OperationalError) and is_database_locked(error):
        return DatabaseTimeout()
    if isinstance(error, SQLAlchemyError):
        return DatabaseError()
    return InternalError()


def _from_http_exception(error: HTTPException) -> APIError:
    code = error.code or 500
    api_class = _HTTP_ERRORS.get(code, InternalError)
    headers: dict[str, str] = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    message = {
        404: "No such route or resource",
        405: f"Method {request.method} is not allowed here",
    }.get(code)
    # Werkzeug's stock descriptions ("The browser (or proxy) sent…") are not ours to send.
    stock = error.description == type(error).description
    if message is None and error.description and not stock and code != 500:
        message = error.description
    api_error = api_class(message, headers=headers)
    if api_class is InternalError and code != 500:
        api_error.status_code = code
        api_error.error = (error.name or "ERROR").upper().replace(" ", "_").replace("'", "")
    return api_error


def _wants_html() -> bool:
    if request.path.startswith("/api/"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


async def error_response(error: BaseException) -> ResponseReturnValue:
    """The response for an error: logged, session rolled back, contract body."""
    api_error = api_error_for(error)
    original = error.original_exception if isinstance(error, InternalServerError) else error
    if isinstance(api_error, ServiceUnavailable) and not isinstance(original, APIError):
        # An outage (a lost, silent or busy backend), not a bug: one line, no stack.
        logger.warning("%s; answered 503 (%s)", api_error.message, type(original).__name__)
    elif api_error.status_code >= 500 and not isinstance(original, APIError | HTTPException):
        logger.error("unhandled error: %s", type(original).__name__, exc_info=original)
    database = current_app.extensions.get("database")
    if database is not None:
        try:
            await database.rollback_request()
        except Exception:
            logger.warning("rollback failed while handling an error", exc_info=True)
    if api_error.status_code == 404 and _wants_html():
        page = await render_template(
            "errors/404.html", path=request.path, request_id=get_request_id()
        )
        return page, 404
    return api_error.to_dict(), api_error.status_code, api_error.headers


def register_error_handlers(app: Quart) -> None:
    """Send every error path through `error_response`."""
    for error_class in (
        APIError,
        HTTPException,
        RequestSchemaValidationError,
        RateLimitExceeded,
        SQLAlchemyError,
        OSError,
        Exception,
    ):
        app.register_error_handler(error_class, error_response)

    @app.context_processor
    async def inject_globals() -> dict[str, Any]:
        return {"app_name": current_app.config["APP_NAME"], "current_year": datetime.now(UTC).year}
