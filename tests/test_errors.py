"""Every error path answers the contract's error body, rolls back, and leaks nothing."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from quart import Blueprint
from quart_schema import validate_request
from redis.exceptions import RedisError
from sqlalchemy import func, select, text

from service.app import create_app
from service.common.converters import positive_integers_up_to
from service.config import Settings
from service.extensions import db
from service.users.models import User
from tests.plugins.backends import Backend

ERROR_KEYS = {"error", "message", "status_code", "request_id"}


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    count: int


probe = Blueprint("probe", __name__, url_prefix="/_probe")


@probe.post("/echo")
@validate_request(Strict)
async def echo(data: Strict) -> dict[str, int]:
    return {"count": data.count}


@probe.get("/boom")
async def boom() -> dict[str, str]:
    raise RuntimeError("secret internal detail")


@probe.post("/duplicate")
async def duplicate() -> dict[str, str]:
    session = db.session()
    for _ in range(2):
        session.add(User(email="twin@example.com", name="Twin", password_hash="x"))
        await session.flush()
    return {"status": "unreachable"}


@probe.post("/half-written")
async def half_written() -> tuple[dict[str, str], int]:
    """Writes a row, then fails: the row must not survive."""
    db.session().add(User(email="half@example.com", name="Half", password_hash="x"))
    await db.session().flush()
    raise RuntimeError("failed after a write")


@probe.get("/bad-sql")
async def bad_sql() -> dict[str, str]:
    await db.session().execute(text("SELECT * FROM no_such_table_here"))
    return {"status": "unreachable"}


@probe.get("/users-count")
async def users_count() -> dict[str, int]:
    count = await db.session().scalar(select(func.count()).select_from(User))
    return {"count": int(count or 0)}


async def _probe_app(settings: Settings) -> Any:
    app = create_app(settings)
    app.register_blueprint(probe)
    return app


@pytest.fixture(name="client")
async def _client(settings: Settings) -> AsyncIterator[Any]:
    app = await _probe_app(settings)
    async with app.test_app() as test_app:
        yield test_app.test_client()


def assert_error_body(body: dict[str, Any], status: int, error: str) -> None:
    assert body.keys() >= ERROR_KEYS
    assert body["status_code"] == status
    assert body["error"] == error
    assert isinstance(body["message"], str)
    assert body["message"]


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


async def test_malformed_json_is_400_bad_request(client: Any) -> None:
    response = await client.post(
        "/_probe/echo", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert_error_body(await response.get_json(), 400, "BAD_REQUEST")


async def test_empty_json_body_is_400_bad_request(client: Any) -> None:
    response = await client.post(
        "/_probe/echo", data=b"", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert_error_body(await response.get_json(), 400, "BAD_REQUEST")


async def test_wrong_content_type_is_415(client: Any) -> None:
    response = await client.post(
        "/_probe/echo", data=b"count=1", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert_error_body(await response.get_json(), 415, "UNSUPPORTED_MEDIA_TYPE")


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
    app = await _probe_app(settings.model_copy(update={"MAX_CONTENT_LENGTH": 64}))
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
    app = await _probe_app(postgres_backend.settings(DATABASE_URL=down))
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


# -- input that once made a 5xx: the request pipeline, on every route ---------------------

SIGN_UP = "/api/v1/users/"
JSON_HEADERS = {"Content-Type": "application/json"}


def _sign_up_body(**fields: Any) -> dict[str, Any]:
    return {"email": "ann@example.com", "name": "Ann", "password": "a long password", **fields}


async def _post_raw(client: Any, path: str, body: bytes, **headers: str) -> Any:
    return await client.post(path, data=body, headers={**JSON_HEADERS, **headers})


async def _token(client: Any) -> str:
    assert (await client.post(SIGN_UP, json=_sign_up_body())).status_code == 201
    response = await client.post(
        "/api/v1/auth/login", json={"email": "ann@example.com", "password": "a long password"}
    )
    token: str = (await response.get_json())["access_token"]
    return token


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "ann@example.com", "name": "\xff\xfe", "password": "a long password"}',
        json.dumps(_sign_up_body(name="Zoë"), ensure_ascii=False).encode("latin-1"),
        json.dumps(_sign_up_body(name="Zoë"), ensure_ascii=False).encode("utf-16"),
        json.dumps(_sign_up_body(name="Zoë"), ensure_ascii=False).encode("utf-16-le"),
        b"\xef\xbb\xbf" + json.dumps(_sign_up_body()).encode(),  # a UTF-8 byte order mark
    ],
    ids=["invalid-utf8", "latin-1", "utf-16", "utf-16-no-bom", "utf-8-bom"],
)
async def test_body_that_is_not_plain_utf8_json_is_400_bad_request(
    client: Any, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    response = await _post_raw(client, SIGN_UP, body)
    assert response.status_code == 400
    assert_error_body(await response.get_json(), 400, "BAD_REQUEST")
    assert not [record for record in caplog.records if record.exc_info]
    count = await (await client.get("/_probe/users-count")).get_json()
    assert count == {"count": 0}


async def test_body_not_utf8_says_so(client: Any) -> None:
    response = await _post_raw(client, SIGN_UP, b'{"name": "caf\xe9"}')
    assert "UTF-8" in (await response.get_json())["message"]


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,
        '{"email": "a@example.com", "name": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"name": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}",
        '{"name": ' + "[" * 40 + "]" * 40 + "}",
    ],
    ids=["top-level", "in-one-field", "objects-in-one-field", "just-past-the-bound"],
)
async def test_deeply_nested_body_is_400_bad_request(
    client: Any, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await _post_raw(client, SIGN_UP, body.encode())
    assert response.status_code == 400
    payload = await response.get_json()
    assert_error_body(payload, 400, "BAD_REQUEST")
    assert "deeper than" in payload["message"]
    assert not [record for record in caplog.records if record.exc_info]


async def test_nesting_within_the_bound_reaches_validation(client: Any) -> None:
    body = json.dumps(_sign_up_body(name=[[[["Ann"]]]]))
    response = await _post_raw(client, SIGN_UP, body.encode())
    payload = await response.get_json()
    assert_error_body(payload, 400, "VALIDATION_ERROR")
    assert list(payload["details"]["fields"]) == ["name"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_non_json_number_constants_are_400_bad_request(client: Any, constant: str) -> None:
    body = '{"email": "a@example.com", "name": "Ann", "password": ' + constant + "}"
    response = await _post_raw(client, SIGN_UP, body.encode())
    assert response.status_code == 400
    assert_error_body(await response.get_json(), 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    ("number", "error"),
    [
        ("1" + "0" * 400, "VALIDATION_ERROR"),
        ("-1" + "0" * 400, "VALIDATION_ERROR"),
        ("1e400", "VALIDATION_ERROR"),
        ("9" * 5000, "BAD_REQUEST"),  # beyond what Python reads as an int at all
    ],
)
async def test_numbers_of_any_size_are_a_4xx(client: Any, number: str, error: str) -> None:
    token = await _token(client)
    body = '{"name": "Widget", "sku": "ABC-1", "price_cents": ' + number + "}"
    response = await _post_raw(
        client, "/api/v1/products/", body.encode(), Authorization=f"Bearer {token}"
    )
    assert response.status_code == 400
    payload = await response.get_json()
    assert_error_body(payload, 400, error)
    if error == "VALIDATION_ERROR":
        assert list(payload["details"]["fields"]) == ["price_cents"]


async def test_malformed_json_message_is_our_own(client: Any) -> None:
    response = await _post_raw(client, SIGN_UP, b'{"email": ')
    payload = await response.get_json()
    assert_error_body(payload, 400, "BAD_REQUEST")
    assert payload["message"].startswith("The request body is not valid JSON")
    assert "browser" not in payload["message"]


async def test_validation_messages_name_no_internal_class(client: Any) -> None:
    token = await _token(client)
    response = await client.post(
        "/api/v1/products/", json=[1, 2], headers={"Authorization": f"Bearer {token}"}
    )
    payload = await response.get_json()
    assert_error_body(payload, 400, "VALIDATION_ERROR")
    assert payload["details"]["fields"] == {"body": ["Input should be a JSON object"]}
    assert "ProductCreate" not in await response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ("products", "name"),
        ("products", "sku"),
        ("products", "price_cents"),
        ("users", "name"),
        ("users", "email"),
        ("users", "password"),
    ],
)
async def test_null_for_a_field_names_that_field(client: Any, item: str, field: str) -> None:
    token = await _token(client)
    headers = {"Authorization": f"Bearer {token}"}
    response = await client.post(
        "/api/v1/products/", json={"name": "W", "sku": "ABC-1", "price_cents": 1}, headers=headers
    )
    assert response.status_code == 201
    response = await client.patch(f"/api/v1/{item}/1", json={field: None}, headers=headers)
    payload = await response.get_json()
    assert_error_body(payload, 400, "VALIDATION_ERROR")
    assert payload["details"]["fields"] == {field: ["may be left out but not null"]}


async def test_own_validator_messages_carry_no_pydantic_prefix(client: Any) -> None:
    response = await client.get("/api/v1/products/?min_price=3&max_price=2")
    payload = await response.get_json()
    assert_error_body(payload, 400, "VALIDATION_ERROR")
    assert payload["details"]["fields"] == {"max_price": ["must not be less than min_price"]}


# -- NUL characters and unpaired surrogates: refused on every backend, naming the field ----

NUL = "\x00"


async def _products_route(client: Any) -> tuple[str, str, dict[str, str]]:
    token = await _token(client)
    return "post", "/api/v1/products/", {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("sign-up", _sign_up_body(name=f"A{NUL}n"), "name"),
        ("sign-up", _sign_up_body(email=f"ann{NUL}@example.com"), "email"),
        ("sign-up", _sign_up_body(password=f"a long{NUL}password"), "password"),
        ("login", {"email": f"ann@example.com{NUL}", "password": "a long password"}, "email"),
        ("product", {"name": f"W{NUL}", "sku": "ABC-1", "price_cents": 1}, "name"),
        (
            "product",
            {"name": "W", "sku": "ABC-1", "price_cents": 1, "description": f"{NUL}x"},
            "description",
        ),
        ("product", {"name": "W", "sku": "ABC-1", "price_cents": 1, "x": [f"{NUL}"]}, "x.0"),
    ],
)
async def test_nul_in_a_body_field_is_400_naming_it(
    client: Any, route: str, body: dict[str, Any], field: str
) -> None:
    headers: dict[str, str] = {}
    path = {"sign-up": SIGN_UP, "login": "/api/v1/auth/login"}.get(route, "/api/v1/products/")
    if route == "product":
        headers = {"Authorization": f"Bearer {await _token(client)}"}
    response = await client.post(path, json=body, headers=headers)
    payload = await response.get_json()
    assert response.status_code == 400, payload
    assert_error_body(payload, 400, "VALIDATION_ERROR")
    assert payload["details"]["fields"] == {field: ["must not contain a NUL character (U+0000)"]}


async def test_unpaired_surrogate_in_a_body_field_is_400_naming_it(client: Any) -> None:
    body = b'{"email": "ann@example.com", "name": "A\\ud800n", "password": "a long password"}'
    response = await _post_raw(client, SIGN_UP, body)
    payload = await response.get_json()
    assert_error_body(payload, 400, "VALIDATION_ERROR")
    assert list(payload["details"]["fields"]) == ["name"]
    count = await (await client.get("/_probe/users-count")).get_json()
    assert count == {"count": 0}


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/products/?q=a%00b", "q"),
        ("/api/v2/products/?q=%00", "q"),
        ("/api/v1/products/?sort=id%00", "sort"),
        ("/api/v2/products/?cursor=%00", "cursor"),
        ("/api/v1/products/?unused=%00", "unused"),
    ],
)
async def test_nul_in_a_query_parameter_is_400_naming_it(
    client: Any, path: str, field: str
) -> None:
    response = await client.get(path)
    payload = await response.get_json()
    assert response.status_code == 400
    assert_error_body(payload, 400, "VALIDATION_ERROR")
    assert payload["details"]["fields"] == {field: ["must not contain a NUL character (U+0000)"]}


# -- ids in paths: anything but a positive integer that fits is a 404, on every method -----

BAD_IDS = [
    "0",
    "-1",
    "00",
    "007",
    "1.0",
    "1e3",
    "abc",
    "2147483648",
    "9223372036854775807",
    "9" * 400,
]


@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_id_not_a_positive_integer_is_404_on_every_method(client: Any, bad_id: str) -> None:
    for item in ("products", "users"):
        for method in ("get", "put", "patch", "delete"):
            response = await getattr(client, method)(f"/api/v1/{item}/{bad_id}", json={})
            assert response.status_code == 404, (method, item)
            assert_error_body(await response.get_json(), 404, "NOT_FOUND")


async def test_largest_id_routes_to_the_view(client: Any) -> None:
    response = await client.get(f"/api/v1/products/{2**31 - 1}")
    assert (await response.get_json())["message"] == f"Product {2**31 - 1} not found"


def test_id_pattern_matches_exactly_one_to_the_limit() -> None:
    for limit in [*range(1, 250), 999, 1000, 1001, 2**31 - 1, 10**12 + 7, 2 * 10**12]:
        pattern = re.compile(positive_integers_up_to(limit))
        candidates = {str(n) for n in range(0, 1100)} | {str(limit + d) for d in (-1, 0, 1)}
        candidates |= {f"0{n}" for n in (1, limit)} | {str(limit * 10), "-1", ""}
        for digits in candidates:
            expected = digits.isdigit() and not digits.startswith("0") and 1 <= int(digits) <= limit
            assert bool(pattern.fullmatch(digits)) is expected, (limit, digits)
