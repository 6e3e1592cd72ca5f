"""The error tree: every error the service answers on purpose, with its status and body.

A subclass names what it changes as class keywords, e.g.
`class NotFound(APIError, status=404, message="...")`: `error` (the body's code) defaults
to the status's name (`NOT_FOUND`), `headers` are sent unless a raise passes its own.
`status_code`, `error`, `message` and `headers` are plain attributes, so a subclass may
also set them in its body. `service.error_handlers` maps every other failure onto this tree.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

from service.observability import get_request_id


class APIError(Exception):
    """Base of every error the service answers on purpose."""

    status_code = 500
    error = "INTERNAL_ERROR"
    message = "An unexpected error occurred"
    default_headers: ClassVar[dict[str, str]] = {}

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        error: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if status:
            cls.status_code = status
            cls.error = vars(cls).get("error", HTTPStatus(status).name)
        cls.error = error or cls.error
        cls.message = message or cls.message
        cls.default_headers = headers or cls.default_headers

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
        # Headers passed in replace the class's defaults (an empty dict sends none).
        self.headers = dict(self.default_headers if headers is None else headers)

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


# The request itself.
class BadRequest(APIError, status=400, message="The request could not be read"):
    """The body or a parameter cannot be read at all."""


class InvalidInput(APIError, status=400, error="VALIDATION_ERROR"):
    """Readable input that breaks a rule; `details.fields` names each field and why."""

    message = "The request is not valid"

    @classmethod
    def for_fields(cls, fields: dict[str, list[str]], message: str | None = None) -> InvalidInput:
        return cls(message, details={"fields": fields})


class PayloadTooLarge(APIError, status=413, error="PAYLOAD_TOO_LARGE"):
    """A body over MAX_CONTENT_LENGTH."""

    message = "The request body is too large"


class UnsupportedMediaType(APIError, status=415):
    """A body that does not say it is JSON."""

    message = "The request body must be application/json"


# Who asks, and what they ask about.
class Unauthorized(APIError, status=401, headers={"WWW-Authenticate": "Bearer"}):
    """No token, or one that is not (or no longer) valid."""

    message = "A valid access token is required"


class Forbidden(APIError, status=403, message="You are not allowed to do this"):
    """A valid caller asking for what is not theirs to do."""


class NotFound(APIError, status=404, message="The requested resource was not found"):
    """No such route, or no such row."""


class ResourceNotFound(NotFound):
    """Raised with the id its message names: `message="User {} not found"`."""

    def __init__(self, ident: int) -> None:
        super().__init__(self.message.format(ident))


class DuplicateEntry(APIError, status=409, error="DUPLICATE_ENTRY"):
    """A unique value taken by another row."""

    message = "A record with these values already exists"


class PreconditionFailed(APIError, status=412):
    """A conditional write that lost the race."""

    message = "If-Match names a version that is no longer current"


# Limits and failures.
class RateLimited(APIError, status=429, error="RATE_LIMITED", message="Too many requests"):
    """A limit spent; the handler adds Retry-After."""


class DatabaseError(APIError, error="DATABASE_ERROR", message="A database error occurred"):
    """A database failure that is not an outage: a 500 that names no SQL."""


class ServiceUnavailable(APIError, status=503, headers={"Retry-After": "5"}):
    """A backend down, silent or busy: the caller may retry after a while."""

    message = "The service is temporarily unavailable"


class DatabaseTimeout(ServiceUnavailable):
    """The request's database deadline passed."""

    message = "The database did not answer in time; try again shortly"


class CacheUnavailable(ServiceUnavailable):
    """A write whose invalidation Redis refused to record."""

    message = "The change cannot be published to the shared cache; try again shortly"


# The answer to an HTTPException of each status (Werkzeug's own, as routing's 404): the
# first class above that names the status; other statuses keep Werkzeug's name as code.
FOR_STATUS = {
    cls.status_code: cls
    for cls in reversed(APIError.__subclasses__())
    if "status_code" in vars(cls)
}
