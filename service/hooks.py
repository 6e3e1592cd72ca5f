"""The request hooks: one per phase, calling each concern's step in the order it runs.

Quart pays for every registered hook on every request, so each phase has a single hook
(a refusal raised before the view still has its request id and timer, and every answer,
errors included, goes through `finish_request`).
"""

from __future__ import annotations

from quart import Quart, Response

from service.auth.guards import login_state_keys
from service.common.early_reads import keep_early, view_keys
from service.common.requests import refuse_unacceptable_input
from service.extensions import db, limiter
from service.idempotency.requests import release_unanswered_claim
from service.observability import record_response, start_timing


def _early_keys() -> list[str]:
    return [*login_state_keys(), *view_keys()]


def init_request_hooks(app: Quart) -> None:
    @app.before_request
    async def start_request() -> None:
        start_timing()  # the request id and the clock
        await refuse_unacceptable_input()  # a NUL in the query, a body that is not JSON
        # 429 once a limit is spent; the login's state and the view's reads ride on its
        # Redis round trip.
        keep_early(await limiter.check_request(also_read=_early_keys))

    @app.after_request
    async def finish_request(response: Response) -> Response:
        limiter.add_headers(response)
        return record_response(response)  # id and timing headers, metrics, access log

    @app.teardown_request
    async def end_request(_error: BaseException | None) -> None:
        await release_unanswered_claim()  # an Idempotency-Key whose answer never committed
        await db.close_request_session()  # rolls back whatever was not committed
