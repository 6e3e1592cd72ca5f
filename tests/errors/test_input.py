"""Input that once made a 5xx: refused with a 4xx naming what is wrong, on every route."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from service.common.converters import positive_integers_up_to
from tests.errors.probe import assert_error_body

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


async def test_unpaired_surrogate_in_a_field_name_is_named_back_escaped(client: Any) -> None:
    body = (
        b'{"email": "ann@example.com", "name": "Ann", "password": "a long password", "\\ud800": 1}'
    )
    response = await _post_raw(client, SIGN_UP, body)
    assert response.status_code == 400
    assert b'"\\ud800"' in await response.get_data()  # escaped: a lone surrogate is no UTF-8
    payload = await response.get_json()
    assert_error_body(payload, 400, "VALIDATION_ERROR")
    assert list(payload["details"]["fields"]) == ["\ud800"]


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
