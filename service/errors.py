"""The error tree: every error the service answers on purpose, with its status and body.

`service.error_handlers` maps every other failure onto it.
"""

from __future__ import annotations

from typing import Any

from service.observability import get_request_id

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

    def __init_subclass__(
        cls, *, status_code: int = 0, error: str = "", message: str = "", **kwargs: Any
    ) -> None:
        """`class EmailTaken(DuplicateEntry, message="..."): ...` sets what it names."""
        super().__init_subclass__(**kwargs)
        cls.status_code = status_code or cls.status_code
        cls.error = error or cls.error
        cls.message = message or cls.message

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


class InvalidInput(APIError):
    status_code = 400
    error = "VALIDATION_ERROR"
    message = "The request is not valid"

    @classmethod
    def for_fields(cls, fields: dict[str, list[str]], message: str | None = None) -> InvalidInput:
        return cls(message, details={"fields": fields})


class Unauthorized(APIError):
    status_code = 401
    error = "UNAUTHORIZED"
    message = "A valid access token is required"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(APIError):
    status_code = 403
    error = "FORBIDDEN"
    message = "You are not allowed to do this"


class NotFound(APIError):
    status_code = 404
    error = "NOT_FOUND"
    message = "The requested resource was not found"


class ResourceNotFound(NotFound):
    """Raised with the id its message names: `message="User {} not found"`."""

    def __init__(self, ident: int) -> None:
        super().__init__(self.message.format(ident))


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
