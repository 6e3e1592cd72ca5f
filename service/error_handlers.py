"""`register_error_handlers`: one handler per source of failure, each into `respond`."""

from __future__ import annotations

import logging
from typing import cast

from pydantic import ValidationError as PydanticValidationError
from quart import Quart, current_app, render_template, request
from quart.typing import ResponseReturnValue
from quart_schema import RequestSchemaValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from service import errors
from service.common.schemas import validation_fields
from service.database import is_connection_lost, is_unique_violation
from service.observability import get_request_id

# The name these lines had before the handlers had their own module; log filters use it.
logger = logging.getLogger("service.errors")
UNREACHABLE = "The database is unreachable; try again shortly"


def register_error_handlers(app: Quart) -> None:
    """One handler per source of failure, each turning its error into an errors.APIError."""

    @app.errorhandler(errors.APIError)
    async def api_error(error: errors.APIError) -> ResponseReturnValue:
        return await respond(error, error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> ResponseReturnValue:
        original = error.original_exception if isinstance(error, InternalServerError) else None
        if isinstance(original, Exception):
            # Raised outside the view, so Quart wrapped it: answer as its own handler would.
            return cast(ResponseReturnValue, await app.handle_user_exception(original))
        return await respond(_from_http_exception(error), original or error)

    @app.errorhandler(RequestSchemaValidationError)
    async def schema_error(error: RequestSchemaValidationError) -> ResponseReturnValue:
        cause = error.validation_error
        fields = {"body": ["The input could not be read"]}
        if isinstance(cause, PydanticValidationError):
            fields = validation_fields(cause)
        return await respond(errors.InvalidInput.for_fields(fields), error)

    @app.errorhandler(IntegrityError)
    async def integrity_error(error: IntegrityError) -> ResponseReturnValue:
        conflict = errors.InvalidInput("The request conflicts with the stored data")
        return await respond(
            errors.DuplicateEntry() if is_unique_violation(error) else conflict, error
        )

    @app.errorhandler(SQLAlchemyError)
    async def database_error(error: SQLAlchemyError) -> ResponseReturnValue:
        if is_connection_lost(error):
            return await respond(errors.ServiceUnavailable(UNREACHABLE), error)
        # SQLite gave up waiting for another process's lock (its busy timeout passed).
        if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
            return await respond(errors.DatabaseTimeout(), error)
        return await respond(errors.DatabaseError(), error)

    @app.errorhandler(OSError)  # asyncpg and aiosqlite report a failed connect as OSError
    @app.errorhandler(RedisError)
    async def connection_error(error: OSError | RedisError) -> ResponseReturnValue:
        redis = "A backing service is unreachable; try again shortly"
        message = redis if isinstance(error, RedisError) else UNREACHABLE
        return await respond(errors.ServiceUnavailable(message), error)

    @app.errorhandler(Exception)
    async def unexpected_error(error: Exception) -> ResponseReturnValue:
        return await respond(errors.APIError(), error)


async def respond(api_error: errors.APIError, cause: BaseException) -> ResponseReturnValue:
    """The response for an error: logged, session rolled back, contract body."""
    if isinstance(api_error, errors.ServiceUnavailable) and not isinstance(cause, errors.APIError):
        # An outage (a lost, silent or busy backend), not a bug: one line, no stack.
        logger.warning("%s; answered 503 (%s)", api_error.message, type(cause).__name__)
    elif api_error.status_code >= 500 and not isinstance(cause, errors.APIError | HTTPException):
        logger.error("unhandled error: %s", type(cause).__name__, exc_info=cause)
    try:
        await current_app.extensions["database"].rollback_request()
    except Exception:
        logger.warning("rollback failed while handling an error", exc_info=True)
    html = request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    if api_error.status_code == 404 and html and not request.path.startswith("/api/"):
        page = await render_template(
            "errors/404.html", path=request.path, request_id=get_request_id()
        )
        return page, 404
    return api_error.to_dict(), api_error.status_code, api_error.headers


def _from_http_exception(error: HTTPException) -> errors.APIError:
    code = error.code or 500
    # Werkzeug's stock descriptions ("The browser (or proxy) sent…") are not ours to send.
    stock = error.description == type(error).description
    own = None if stock or code == 500 else error.description
    messages = {
        404: "No such route or resource",
        405: f"Method {request.method} is not allowed here",
    }
    message = messages.get(code, own)
    headers = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    api_error = errors.FOR_STATUS.get(code, errors.APIError)(message, headers=headers)
    if api_error.status_code != code:  # a status the tree does not name: Werkzeug's name
        api_error.status_code = code
        api_error.error = (error.name or "ERROR").upper().replace(" ", "_").replace("'", "")
    return api_error
