"""Fuzzing, on both backends: no input makes a 5xx, and every error has the contract's body.

Hypothesis throws raw bodies, JSON of any shape, text of any kind in valid bodies, queries,
headers and path ids at the routes that read them (test_fuzz_openapi.py runs schemathesis
over every operation). Runs are derandomized (reproducible) and bounded in examples, so
both files stay well inside the suite's time budget.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st

from service.config import Settings
from tests.factories import bearer, user_with_token

ERROR_KEYS = {"error", "message", "status_code", "request_id"}

# Examples per test: a few hundred requests per backend in all, well under a minute each.
FUZZ = hypothesis.settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
FUZZ_OPERATION = hypothesis.settings(FUZZ, max_examples=20)


def assert_contract_error(status: int, body: Any, what: str) -> None:
    """A 4xx/5xx answer carries the contract's error body; a 5xx is a failure anyway."""
    assert status < 500, f"{what}: {status} {body}"
    if status >= 400:
        assert isinstance(body, dict), f"{what}: {status} {body!r}"
        assert body.keys() >= ERROR_KEYS, f"{what}: {body}"
        assert body["status_code"] == status, f"{what}: {body}"
        assert body["error"].isupper(), f"{what}: {body}"


# -- hypothesis: raw bodies, JSON of any shape, headers, path ids --------------------------

BODY_ROUTES = [
    ("post", "/api/v1/users/"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/products/"),
    ("put", "/api/v1/products/{product}"),
    ("patch", "/api/v2/products/{product}"),
    ("patch", "/api/v1/users/{self}"),
]

# Text that reaches the database: any code point, NUL and lone surrogates included.
# Special characters more often than chance would give them: NUL, unpaired surrogates,
# letters whose lower case is special (capital sigma, dotted capital I, sharp s), and
# LIKE's wildcards.
SPECIAL = ["\x00", "\ud800", "\udfff", "\u03a3", "\u0130", "\u00df", "%", "_", "\\"]


def _texts(alphabet: st.SearchStrategy[str], specials: list[str]) -> st.SearchStrategy[str]:
    plain = st.text(alphabet, max_size=30)
    spliced = st.tuples(plain, st.sampled_from(specials), plain).map("".join)
    return plain | spliced


any_text = _texts(st.characters(codec=None), SPECIAL)
# A query string is UTF-8 on the wire: no surrogates there.
query_text = _texts(st.characters(codec="utf-8"), [c for c in SPECIAL if c < "\ud800"])
FIELD_NAMES = st.sampled_from(["name", "sku", "email", "price_cents"])


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(
        FIELD_NAMES | any_text, children, max_size=4
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=False)
    | any_text,
    _containers,
    max_leaves=12,
)
field_bodies = st.fixed_dictionaries(
    {},
    optional={
        "name": json_values,
        "sku": json_values,
        "price_cents": json_values,
        "description": json_values,
        "email": json_values,
        "password": json_values,
        "is_admin": json_values,
        "current_password": json_values,
        "refresh_token": json_values,
    },
)


async def _send(client: Any, method: str, path: str, **kwargs: Any) -> None:
    response = await getattr(client, method)(path, **kwargs)
    body = await response.get_json(silent=True) if response.status_code >= 400 else None
    assert_contract_error(response.status_code, body, f"{method.upper()} {path}")


@pytest.fixture(name="caller")
async def _caller(client: Any, settings: Settings) -> tuple[dict[str, Any], dict[str, str]]:
    """A user with a token and a product of its own (`user["product"]`)."""
    user, token = await user_with_token(client, settings)
    response = await client.post(
        "/api/v1/products/",
        json={"name": "Mine", "sku": "MINE-1", "price_cents": 1},
        headers=bearer(token),
    )
    assert response.status_code == 201
    user["product"] = (await response.get_json())["id"]
    return user, bearer(token)


def _path(template: str, user: dict[str, Any]) -> str:
    return template.replace("{self}", str(user["id"])).replace("{product}", str(user["product"]))


@FUZZ
@given(body=st.binary(max_size=300), route=st.sampled_from(BODY_ROUTES))
async def test_raw_bytes_as_json_body_are_a_4xx(
    client: Any, caller: Any, body: bytes, route: tuple[str, str]
) -> None:
    user, headers = caller
    method, path = route
    await _send(
        client,
        method,
        _path(path, user),
        data=body,
        headers={**headers, "Content-Type": "application/json"},
    )


@FUZZ
@given(body=json_values | field_bodies, route=st.sampled_from(BODY_ROUTES))
async def test_any_json_body_is_answered_without_5xx(
    client: Any, caller: Any, body: Any, route: tuple[str, str]
) -> None:
    user, headers = caller
    method, path = route
    # ensure_ascii writes lone surrogates as \ud800 escapes, as a client could
    data = json.dumps(body).encode()
    await _send(
        client,
        method,
        _path(path, user),
        data=data,
        headers={**headers, "Content-Type": "application/json"},
    )


def _valid_shaped_bodies(text: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str, Any]]:
    """Bodies valid but for the text in their fields, so that text reaches the database."""
    emails = st.integers(min_value=1).map("t{}@example.com".format)
    skus = st.integers(min_value=1, max_value=10**9).map("T-{}".format)
    return st.one_of(
        st.tuples(
            st.just("post"),
            st.just("/api/v1/users/"),
            st.fixed_dictionaries(
                {"email": emails, "name": text, "password": text.map("{}12345678".format)}
            ),
        ),
        st.tuples(
            st.just("post"),
            st.just("/api/v1/auth/login"),
            st.fixed_dictionaries({"email": text, "password": text}),
        ),
        st.tuples(
            st.sampled_from(["post", "put"]),
            st.sampled_from(["/api/v1/products/", "/api/v1/products/{product}"]),
            st.fixed_dictionaries(
                {"name": text, "sku": skus, "price_cents": st.just(1), "description": text}
            ),
        ).filter(lambda route: (route[0] == "post") == route[1].endswith("/")),
        st.tuples(
            st.just("patch"),
            st.sampled_from(["/api/v1/products/{product}", "/api/v1/users/{self}"]),
            st.fixed_dictionaries({"name": text}),
        ),
    )


@FUZZ
@given(request=_valid_shaped_bodies(any_text))
async def test_any_text_in_a_field_is_stored_or_refused_alike(
    client: Any, caller: Any, request: tuple[str, str, Any]
) -> None:
    user, headers = caller
    method, path, body = request
    response = await getattr(client, method)(_path(path, user), json=body, headers=headers)
    payload = await response.get_json(silent=True)
    assert_contract_error(response.status_code, payload, f"{method.upper()} {path}")
    if any("\x00" in value for value in body.values() if isinstance(value, str)):
        assert response.status_code == 400, payload


query_values = (
    query_text
    | st.integers().map(str)
    | st.integers(min_value=10**15, max_value=10**400).map(str)
    | st.sampled_from(["id", "-name", "price_cents", "", "1e3", "1.0", " 1"])
)


@FUZZ
@given(
    path=st.sampled_from(
        ["/api/v1/products/", "/api/v2/products/", "/api/v1/users/", "/api/v2/users/"]
    ),
    query=st.dictionaries(
        st.sampled_from(
            ["q", "page", "per_page", "limit", "cursor", "min_price", "max_price", "sort"]
        )
        | query_text,
        query_values,
        max_size=4,
    ),
)
async def test_any_query_is_answered_without_5xx(
    client: Any, caller: Any, path: str, query: dict[str, str]
) -> None:
    _, headers = caller
    response = await client.get(path, query_string=query, headers=headers)
    payload = await response.get_json(silent=True)
    assert_contract_error(response.status_code, payload, f"GET {path} {query!r}")
    if any("\x00" in key + value for key, value in query.items()):
        assert response.status_code == 400, payload


@FUZZ
@given(
    depth=st.integers(min_value=1, max_value=6000),
    opener=st.sampled_from(["[", '{"a": ']),
    field=st.sampled_from(["name", "email", "password", "price_cents"]),
    route=st.sampled_from(BODY_ROUTES),
)
async def test_nesting_of_any_depth_is_a_4xx(
    client: Any, caller: Any, depth: int, opener: str, field: str, route: tuple[str, str]
) -> None:
    user, headers = caller
    closer = "]" if opener == "[" else "}"
    body = '{"%s": %s1%s}' % (field, opener * depth, closer * depth)  # noqa: UP031
    method, path = route
    await _send(
        client,
        method,
        _path(path, user),
        data=body.encode(),
        headers={**headers, "Content-Type": "application/json"},
    )


header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60
)


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "Authorization",
                "Content-Type",
                "Accept",
                "X-Request-ID",
                "X-Forwarded-For",
                "If-Match",
                "If-None-Match",
                "Idempotency-Key",
                "Origin",
            ]
        ),
        header_text | st.just("Bearer ") | header_text.map("Bearer {}".format),
        max_size=5,
    ),
    route=st.sampled_from(
        [*BODY_ROUTES, ("get", "/api/v1/users/me"), ("get", "/api/v1/products/{product}")]
    ),
)
async def test_any_headers_are_answered_without_5xx(
    client: Any, caller: Any, headers: dict[str, str], route: tuple[str, str]
) -> None:
    user, auth = caller
    method, path = route
    kwargs: dict[str, Any] = {"headers": {**auth, **headers}}
    if method != "get":
        kwargs["json"] = {"name": "Renamed"}
    await _send(client, method, _path(path, user), **kwargs)


@FUZZ
@given(
    segment=st.integers().map(str)
    | st.integers(min_value=2**31 - 2, max_value=2**70).map(str)
    | query_text.filter(bool),  # a URL is UTF-8: no surrogates
    method=st.sampled_from(["get", "put", "patch", "delete"]),
    collection=st.sampled_from(
        ["/api/v1/products/", "/api/v2/products/", "/api/v1/users/", "/api/v2/users/"]
    ),
)
async def test_any_path_id_is_answered_without_5xx(
    client: Any, caller: Any, segment: str, method: str, collection: str
) -> None:
    _, headers = caller
    path = collection + quote(segment, safe="")
    response = await getattr(client, method)(path, headers=headers, json={})
    body = await response.get_json(silent=True) if response.status_code >= 400 else None
    assert_contract_error(response.status_code, body, f"{method.upper()} {path}")
    positive = segment.isdigit() and segment.isascii() and not segment.startswith("0")
    if not positive or int(segment) > 2**31 - 1:
        assert response.status_code == 404, (path, response.status_code)
