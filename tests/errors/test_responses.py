"""Every failure answers the contract's error body, rolls back, and leaks nothing."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Blueprint
from redis.exceptions import RedisError

from service.app import create_app
from service.config import Settings
from tests.errors.probe import assert_error_body, probe_app
from tests.plugins.backends import Backend


async def test_unknown_route_is_json_404(client: Any) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert_error_body(await response.get_json(), 404, "NOT_FOUND")


async def test_unknown_route_from_browser_is_html_404_page(client: Any) -> None:
    response = await client.get(
        "/nope", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert response.status_code == 404
    assert response.content_type.startswith("text/html")
    page = await response.get_data(as_text=True)
    assert "Quart Service" in page
    assert "/nope" in page
    from datetime import UTC, datetime

    assert str(datetime.now(UTC).year) in page


async def test_api_path_from_browser_stays_json(client: Any) -> None:
    response = await client.get("/api/v1/nothing", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert_error_body(await response.get_json(), 404, "NOT_FOUND")


async def test_wrong_method_is_405_with_allow(client: Any) -> None:
    response = await client.delete("/health")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert_error_body(await response.get_json(), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "BAD_REQUEST"),  # malformed JSON
        (b"", "application/json", 400, "BAD_REQUEST"),  # an empty JSON body
        (b"count=1", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),  # not JSON at all
    ],
)
async def test_unreadable_bodies_get_their_error(
    client: Any, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = await client.post("/_probe/echo", data=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert_error_body(await response.get_json(), status, code)


async def test_json_that_is_not_an_object_is_validation_error(client: Any) -> None:
    response = await client.post("/_probe/echo", json=[1, 2])
    assert response.status_code == 400
    body = await response.get_json()
    assert_error_body(body, 400, "VALIDATION_ERROR")
    assert body["details"]["fields"]


@pytest.mark.parametrize("value", ["100", True, 12.5, None])
async def test_loose_types_are_refused(client: Any, value: Any) -> None:
    response = await client.post("/_probe/echo", json={"count": value})
    body = await response.get_json()
    assert response.status_code == 400
    assert_error_body(body, 400, "VALIDATION_ERROR")
    assert "count" in body["details"]["fields"]


async def test_unknown_fields_are_refused(client: Any) -> None:
    response = await client.post("/_probe/echo", json={"count": 1, "is_admin": True})
    body = await response.get_json()
    assert response.status_code == 400
    assert "is_admin" in body["details"]["fields"]


async def test_valid_body_passes(client: Any) -> None:
    response = await client.post("/_probe/echo", json={"count": 3})
    assert response.status_code == 200
    assert await response.get_json() == {"count": 3}


async def test_body_over_max_content_length_is_413(settings: Settings) -> None:
    app = await probe_app(settings.model_copy(update={"MAX_CONTENT_LENGTH": 64}))
    async with app.test_app() as test_app:
        response = await test_app.test_client().post(
            "/_probe/echo", json={"count": 1, "padding": "x" * 200}
        )
    assert response.status_code == 413
    assert_error_body(await response.get_json(), 413, "PAYLOAD_TOO_LARGE")


async def test_unhandled_exception_is_500_without_details(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.get("/_probe/boom")
    assert response.status_code == 500
    body = await response.get_json()
    assert_error_body(body, 500, "INTERNAL_ERROR")
    assert "secret internal detail" not in await response.get_data(as_text=True)
    assert "Traceback" not in await response.get_data(as_text=True)
    assert any("secret internal detail" in (r.exc_text or "") for r in caplog.records)


async def test_unique_violation_is_409_and_nothing_is_written(client: Any) -> None:
    response = await client.post("/_probe/duplicate")
    assert response.status_code == 409
    assert_error_body(await response.get_json(), 409, "DUPLICATE_ENTRY")
    count = await (await client.get("/_probe/users-count")).get_json()
    assert count == {"count": 0}


async def test_failure_after_a_write_leaves_no_half_written_record(client: Any) -> None:
    response = await client.post("/_probe/half-written")
    assert response.status_code == 500
    count = await (await client.get("/_probe/users-count")).get_json()
    assert count == {"count": 0}


async def test_database_error_is_500_without_sql(client: Any) -> None:
    response = await client.get("/_probe/bad-sql")
    assert response.status_code == 500
    text_body = await response.get_data(as_text=True)
    assert_error_body(await response.get_json(), 500, "DATABASE_ERROR")
    assert "no_such_table_here" not in text_body
    assert "SELECT" not in text_body


async def test_unreachable_database_is_503_with_retry_after(postgres_backend: Backend) -> None:
    # A database server that is down; an embedded SQLite file has no such state.
    down = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    app = await probe_app(postgres_backend.settings(DATABASE_URL=down))
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/_probe/users-count")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert_error_body(await response.get_json(), 503, "SERVICE_UNAVAILABLE")


async def test_error_raised_outside_the_view_is_answered_by_its_own_handler(
    settings: Settings,
) -> None:
    # Quart wraps an error from an after-request hook in a 500 (when it does not propagate
    # it, as in production); the answer must still be the one its own type gets.
    outside = Blueprint("outside", __name__, url_prefix="/_outside")

    @outside.get("/after")
    async def after() -> dict[str, str]:
        return {"status": "ok"}

    @outside.after_request
    async def fail(response: Any) -> Any:
        raise RedisError("lost after the view")

    app = create_app(settings)
    app.register_blueprint(outside)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/_outside/after")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert_error_body(await response.get_json(), 503, "SERVICE_UNAVAILABLE")


async def test_every_error_carries_request_id_and_response_time(client: Any) -> None:
    response = await client.get("/_probe/boom", headers={"X-Request-ID": "trace-me.1"})
    assert response.headers["X-Request-ID"] == "trace-me.1"
    assert response.headers["X-Response-Time"].endswith("s")
    assert (await response.get_json())["request_id"] == "trace-me.1"
