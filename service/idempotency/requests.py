"""`Idempotency-Key` on the POSTs that create: a retry gets the first answer, on any instance.

How a keyed request runs (`idempotent`):
1. The key is claimed in a short transaction of its own (a row with no answer yet and a
   lease), committed before anything is written. A retry that finds the claim gets 409
   REQUEST_IN_PROGRESS; one with another body gets 422; one that finds an answer gets it.
2. The view's write and the answer are stored in one transaction, the one
   `ServiceApp.dispatch_request` commits: after a commit that was cut off, either both
   exist (a retry gets the 201) or neither does (a retry runs afresh).
3. Teardown deletes the claim unless an answer was committed, so after a failure a retry
   runs again at once. If even that fails (database gone), the lease
   (`IDEMPOTENCY_LEASE_SECONDS`) runs out and the next retry takes the key over.

The claim uses the request's own session (it commits only the reads made so far, e.g. the
token's user): a second connection per request could exhaust the pool under load, with
every request holding one connection and waiting for another.

Only successful answers are stored; an error answer leaves nothing behind, and the retry
is executed again (a 409 DUPLICATE_ENTRY stays a 409, a 503 becomes a fresh attempt).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from quart import current_app, g, request

from service.common.openapi import document_operation
from service.common.requests import header_parameter
from service.config import Settings
from service.errors import InvalidInput
from service.extensions import db, limiter
from service.idempotency import services
from service.idempotency.exceptions import IdempotencyKeyReused, RequestInProgress

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = "^[!-~]{1,255}$"  # visible ASCII (RFC 5234 VCHAR)
KEY_ERRORS = (RequestInProgress, IdempotencyKeyReused)

T = TypeVar("T")
Created = tuple[BaseModel, int, dict[str, str]]


def accepts_idempotency_key(view: T) -> T:
    """Document a POST whose view runs its write through `idempotent` (a meta-test in
    tests/test_routes.py checks that every caller of `idempotent` carries it)."""
    key_rules = (
        "1-255 visible ASCII characters, scoped to the caller. A retry with the same key and body "
        "within 24 hours gets the first answer again, on any instance, without a second write."
    )
    document_operation(
        view,
        parameters=[
            header_parameter(HEADER, key_rules, minLength=1, maxLength=255, pattern=KEY_PATTERN)
        ],
        errors={
            400: "Malformed JSON, a body that fails validation, or an invalid Idempotency-Key",
            **{error.status_code: f"{error.error}: {error.message}" for error in KEY_ERRORS},
        },
        response_headers={
            201: {
                "Location": "The new item",
                REPLAYED_HEADER: "`true` when this is the stored answer to an earlier request",
            }
        },
    )
    return view


async def idempotent(create: Callable[[], Awaitable[Created]]) -> tuple[Any, int, dict[str, str]]:
    """Run `create` (the view's write) at most once per caller and Idempotency-Key.

    Call it after authorization and before any write; without the header it just runs
    `create`.
    """
    values = request.headers.getlist(HEADER)
    if not values:
        return await create()
    if len(values) != 1 or not re.fullmatch(KEY_PATTERN, values[0]):
        message = "must be one header of 1-255 visible ASCII characters"
        raise InvalidInput.for_fields({HEADER: [message]})
    settings: Settings = current_app.extensions["settings"]
    session = db.session()
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("claim the Idempotency-Key before writing anything")
    outcome = await services.claim_key(
        session,
        scope=caller_scope(),
        key=values[0],
        fingerprint=await _fingerprint(settings.SECRET_KEY),
        lease=timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS),
    )
    if not isinstance(outcome, services.Claim):  # answered: send the answer again
        assert outcome.status_code is not None
        assert outcome.response_body is not None
        location = {"Location": outcome.location} if outcome.location is not None else {}
        replayed = {REPLAYED_HEADER: "true", **location}
        return json.loads(outcome.response_body), outcome.status_code, replayed
    # Set before the commit: if the commit's answer is lost, teardown still releases it.
    g.idempotency_claim = outcome
    await session.commit()  # the claim stands alone (see the module's docstring)
    body, status, headers = await create()
    stored = body.model_dump_json()
    await services.record_response(
        session, outcome, status_code=status, body=stored, location=headers.get("Location")
    )
    db.after_commit(_answered)
    return body, status, headers


async def _answered() -> None:
    # Committed with its answer, the claim is no longer unanswered: teardown need not
    # open a transaction to release it.
    g.pop("idempotency_claim", None)


def caller_scope() -> str:
    """Whose keys these are: the authenticated user, else the client's address."""
    if (user := g.get("current_user")) is not None:  # set by auth.guards.authenticate
        return f"user:{user.id}"
    scope = f"client:{limiter.client_key()}"
    if len(scope) > 255:  # the column's length; a forwarded "address" can be any text
        scope = "client#" + hashlib.sha256(scope.encode()).hexdigest()
    return scope


async def release_unanswered_claim() -> None:
    """Release the claim of a request that ends without a committed answer (teardown).

    Every claimed request whose commit did not visibly succeed goes through it: the
    DELETE's own condition (no answer stored) decides, so a committed answer, even one
    whose commit seemed to fail, stays.
    """
    claim: services.Claim | None = g.pop("idempotency_claim", None)
    if claim is None:
        return
    # Whatever the request left open goes first (on SQLite it would hold the lock); on
    # a lost connection nothing of it is held any more.
    with suppress(Exception):
        await db.rollback_request()
    try:
        async with db.session_for_task() as session, session.begin():
            await services.release_claim(session, claim)
    except Exception:  # the lease expires; a retry then takes the key over
        logger.warning("could not release an Idempotency-Key claim", exc_info=True)


async def _fingerprint(secret: str) -> str:
    """HMAC of method, path and the body as canonical JSON (key order and spacing aside)."""
    body = json.dumps(await request.get_json(), sort_keys=True, separators=(",", ":"))
    message = f"{request.method}\n{request.path}\n{body}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
