"""Security hardening (issue 9): headers, untrusted Host, safe logs, bounded metrics."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError as PydanticValidationError
from quart import Blueprint, request
from sqlalchemy import text

from service.app import create_app
from service.config import Settings
from service.database import create_engine
from service.logs import ConsoleFormatter, JsonFormatter
from tests.factories import PASSWORD, bearer, log_in, sign_up, user_with_token
from tests.plugins.backends import Backend

EVIL_HOST = {"Host": "evil.example"}
PUBLIC = "https://api.example.com/svc"

probe = Blueprint("hardening_probe", __name__, url_prefix="/_hardening")
probe_logger = logging.getLogger("tests.hardening.probe")


@probe.get("/note")
async def log_a_header() -> dict[str, str]:
    probe_logger.warning("client note: %s", request.headers.get("X-Client-Note", ""))
    return {"status": "ok"}


@probe.get("/fail")
async def fail_with_a_multiline_message() -> dict[str, str]:
    raise RuntimeError("first line\nFORGED 2026-12-01 00:00:00,000 INFO [x] forged: ok")


# -- headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/health", {}, 200),
        ("GET", "/nope", {}, 404),
        ("GET", "/nope", {"Accept": "text/html,*/*;q=0.8"}, 404),
        ("DELETE", "/health", {}, 405),
        ("GET", "/metrics", {}, 200),
        ("GET", "/docs", {}, 200),
        ("GET", "/openapi.json", {}, 200),
        ("GET", "/api/v1/products", {}, 308),
        ("GET", "/api/v1/users/me", {}, 401),
    ],
)
async def test_every_response_kind_carries_nosniff(
    client: Any, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = await client.open(path, method=method, headers=headers)
    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_payload_too_large_carries_nosniff(client: Any) -> None:
    response = await client.post(
        "/api/v1/users/",
        data=b"x" * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_unhandled_error_carries_nosniff(settings: Settings) -> None:
    app = create_app(settings)
    app.register_blueprint(probe)
    async with app.test_app() as serving:
        response = await serving.test_client().get("/_hardening/fail")
    assert response.status_code == 500
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_login_and_refresh_answer_no_store(client: Any) -> None:
    user = await sign_up(client)
    login = await client.post(
        "/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD}
    )
    assert login.status_code == 200
    assert login.headers["Cache-Control"] == "no-store"
    assert login.headers["Pragma"] == "no-cache"
    refresh_token = (await login.get_json())["refresh_token"]
    refreshed = await client.post("/api/v1/auth/refresh", headers=bearer(refresh_token))
    assert refreshed.status_code == 200
    assert refreshed.headers["Cache-Control"] == "no-store"
    assert refreshed.headers["Pragma"] == "no-cache"


# -- Link and Location never repeat the Host header ------------------------------------------


def link_targets(header: str) -> list[str]:
    return re.findall(r"<([^>]*)>", header)


async def test_link_with_untrusted_host_is_relative(client: Any) -> None:
    response = await client.get("/api/v1/products/?per_page=5&q=x", headers=EVIL_HOST)
    assert response.status_code == 200
    assert "evil.example" not in response.headers["Link"]
    targets = link_targets(response.headers["Link"])
    assert targets
    assert all(target.startswith("/api/v1/products/?") for target in targets)
    assert all("q=x" in target and "per_page=5" in target for target in targets)


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/api/v1/products?page=2", "/api/v1/products/?page=2"),
        ("//api/v1/products", "/api/v1/products/"),
        ("/api//v2/users", "/api/v2/users/"),
    ],
)
async def test_trailing_slash_redirect_with_untrusted_host_is_relative(
    client: Any, path: str, location: str
) -> None:
    response = await client.get(path, headers=EVIL_HOST)
    assert response.status_code == 308
    assert response.headers["Location"] == location
    assert "evil.example" not in await response.get_data(as_text=True)


async def test_created_location_with_untrusted_host_is_relative(client: Any) -> None:
    response = await client.post(
        "/api/v1/users/",
        json={"email": "host@example.com", "name": "Host", "password": PASSWORD},
        headers=EVIL_HOST,
    )
    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/v1/users/{(await response.get_json())['id']}"


@pytest.fixture(name="public_client")
async def _public_client(settings: Settings) -> AsyncIterator[Any]:
    app = create_app(settings.model_copy(update={"PUBLIC_URL": PUBLIC}))
    async with app.test_app() as serving:
        yield serving.test_client()


async def test_public_url_builds_link_location_and_redirect(
    public_client: Any, settings: Settings
) -> None:
    listed = await public_client.get("/api/v1/products/", headers=EVIL_HOST)
    targets = link_targets(listed.headers["Link"])
    assert targets
    assert all(t.startswith(f"{PUBLIC}/api/v1/products/?") for t in targets)

    redirect = await public_client.get("/api/v1/products?q=a", headers=EVIL_HOST)
    assert redirect.status_code == 308
    assert redirect.headers["Location"] == f"{PUBLIC}/api/v1/products/?q=a"

    _, token = await user_with_token(public_client, settings)
    created = await public_client.post(
        "/api/v1/products/",
        json={"name": "Lamp", "sku": "LAMP-1", "price_cents": 100},
        headers={**bearer(token), **EVIL_HOST},
    )
    assert created.status_code == 201
    product_id = (await created.get_json())["id"]
    assert created.headers["Location"] == f"{PUBLIC}/api/v1/products/{product_id}"


@pytest.mark.parametrize(
    "value",
    [
        "ftp://api.example.com",
        "api.example.com",
        "https://",
        "https://api.example.com/?a=1",
        "https://api.example.com/#top",
        "https://user:secret@api.example.com",
    ],
)
def test_public_url_setting_refuses_what_is_not_a_plain_http_base(value: str) -> None:
    with pytest.raises(PydanticValidationError, match="PUBLIC_URL"):
        Settings(PUBLIC_URL=value, _env_file=None)


def test_public_url_setting_drops_a_trailing_slash_and_empty_is_unset() -> None:
    with_slash = Settings(PUBLIC_URL="https://api.example.com/", _env_file=None)
    assert with_slash.PUBLIC_URL == "https://api.example.com"
    assert Settings(PUBLIC_URL="", _env_file=None).PUBLIC_URL is None


# -- bounded metrics -----------------------------------------------------------------------


def request_series(metrics_text: str) -> set[tuple[tuple[str, str], ...]]:
    return {
        tuple(sorted(sample.labels.items()))
        for family in text_string_to_metric_families(metrics_text)
        if family.name == "http_requests"
        for sample in family.samples
        if sample.name == "http_requests_total"
    }


async def test_metrics_with_invented_methods_and_paths_stay_bounded(client: Any) -> None:
    for n in range(150):
        await client.open("/health", method=f"INVENTED{n}")
        await client.get(f"/invented/path/{n}")
        await client.open(f"/api/v1/products/{n}/x{n}", method=f"BREW{n}")
    metrics_text = await (await client.get("/metrics")).get_data(as_text=True)
    series = request_series(metrics_text)
    labels = [dict(labelled) for labelled in series]
    assert {label["method"] for label in labels} <= {"GET", "OTHER"}
    assert {label["route"] for label in labels} <= {"/health", "/metrics", "<unmatched>"}
    assert len(series) <= 4
    assert "INVENTED" not in metrics_text
    assert "invented/path" not in metrics_text


# -- logs: no secrets, no forged lines -------------------------------------------------------

SECRET_MARKERS = ("$argon2", PASSWORD, "eyJ", "[parameters", "Failing row contains (")


async def _refuse_user_inserts(backend: Backend, settings: Settings) -> None:
    """A trigger that makes every INSERT into user_account fail with a database error."""
    engine = create_engine(settings)
    async with engine.begin() as connection:
        if backend.name == "postgres":
            await connection.execute(
                text(
                    "CREATE FUNCTION refuse_signup() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'sign-ups are refused'; END $$ LANGUAGE plpgsql"
                )
            )
            await connection.execute(
                text(
                    "CREATE TRIGGER refuse_signup BEFORE INSERT ON user_account "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_signup()"
                )
            )
        else:
            # SQLite resolves a trigger's tables when it fires: an OperationalError.
            await connection.execute(
                text(
                    "CREATE TRIGGER refuse_signup BEFORE INSERT ON user_account "
                    "BEGIN SELECT * FROM no_such_table_for_signups; END"
                )
            )
    await engine.dispose()


async def _allow_user_inserts(backend: Backend, settings: Settings) -> None:
    engine = create_engine(settings)
    async with engine.begin() as connection:
        if backend.name == "postgres":
            await connection.execute(text("DROP TRIGGER IF EXISTS refuse_signup ON user_account"))
            await connection.execute(text("DROP FUNCTION IF EXISTS refuse_signup()"))
        else:
            await connection.execute(text("DROP TRIGGER IF EXISTS refuse_signup"))
    await engine.dispose()


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("log_format", ["console", "json"])
async def test_database_error_and_debug_logs_carry_no_secrets(
    backend: Backend,
    settings: Settings,
    log_format: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(settings.model_copy(update={"LOG_FORMAT": log_format, "LOG_LEVEL": "DEBUG"}))
    caplog.set_level(logging.DEBUG)
    async with app.test_app() as serving:
        client = serving.test_client()
        user = await sign_up(client)
        tokens = await log_in(client, user["email"])
        refreshed = await client.post(
            "/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"])
        )
        assert refreshed.status_code == 200
        await _refuse_user_inserts(backend, settings)
        try:
            failed = await client.post(
                "/api/v1/users/",
                json={"email": "refused@example.com", "name": "Refused", "password": PASSWORD},
            )
        finally:
            await _allow_user_inserts(backend, settings)
    assert failed.status_code == 500
    assert (await failed.get_json())["error"] == "DATABASE_ERROR"

    written = capsys.readouterr().err
    assert "unhandled error" in written
    assert "Traceback" in written
    captured = "\n".join(
        record.getMessage() + "\n" + logging.Formatter().formatException(record.exc_info)
        if record.exc_info
        else record.getMessage()
        for record in caplog.records
    )
    assert "unhandled error" in captured
    for marker in (*SECRET_MARKERS, tokens["access_token"], tokens["refresh_token"]):
        assert marker not in written, marker
        assert marker not in captured, marker
    if log_format == "json":
        assert all(json.loads(line) for line in written.splitlines() if line.strip())


def _record(message: str, *args: Any, exc_info: Any = None) -> logging.LogRecord:
    return logging.LogRecord("tests.hardening", logging.ERROR, __file__, 1, message, args, exc_info)


@pytest.mark.parametrize("formatter", [ConsoleFormatter(), JsonFormatter()])
def test_formatters_redact_tokens_hashes_and_passwords(formatter: logging.Formatter) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    argon = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
    try:
        raise ValueError(
            f"bad row ({argon}) token {jwt}\nDETAIL:  Failing row contains (1, a@example.com)"
            "\nDETAIL:  Key (email)=(a@example.com) already exists."
        )
    except ValueError:
        exc_info = sys.exc_info()
    output = formatter.format(
        _record(
            "login %s hash %s body %s",
            f"Bearer {jwt}",
            argon,
            '{"email": "b@example.com", "password": "hunter2 hunter2"}',
            exc_info=exc_info,
        )
    )
    assert jwt not in output
    assert "eyJ" not in output
    assert "a@example.com" not in output
    assert "$argon2" not in output
    assert "aGFzaGhhc2hoYXNo" not in output
    assert "hunter2" not in output
    assert "ValueError" in output


@pytest.mark.parametrize(
    "value",
    ["a\nFORGED", "a\rFORGED", "a\r\nFORGED", "a\u2028FORGED", "a\x85FORGED", "a\x1bFORGED"],
)
@pytest.mark.parametrize("formatter", [ConsoleFormatter(), JsonFormatter()])
def test_formatters_escape_control_characters(formatter: logging.Formatter, value: str) -> None:
    try:
        raise RuntimeError(value)
    except RuntimeError:
        exc_info = sys.exc_info()
    output = formatter.format(_record("value %s", value, exc_info=exc_info))
    assert not any(line.startswith("FORGED") for line in output.splitlines())
    assert "\x1b" not in output


@pytest.mark.usefixtures("restore_logging")
async def test_console_log_of_a_crafted_path_header_and_error_stays_on_its_lines(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings.model_copy(update={"LOG_FORMAT": "console", "LOG_LEVEL": "INFO"}))
    app.register_blueprint(probe)
    forged = "FORGED 2026-12-01 00:00:00,000 INFO    [x] service.access: GET /admin 200"
    async with app.test_app() as serving:
        client = serving.test_client()
        await client.get(f"/nope%0a{forged}%0d%0a{forged}%E2%80%A8{forged}")
        # Header values cannot hold CR or LF; NEL (U+0085) is their line break that can.
        await client.get(
            "/_hardening/note",
            headers={"X-Client-Note": f"hi\x85{forged}", "X-Request-ID": f"id\x85{forged}"},
        )
        await client.get("/_hardening/fail")
    lines = capsys.readouterr().err.splitlines()
    assert any("service.access: GET /nope\\n" in line for line in lines)
    assert any("client note: hi" in line and "\\u0085FORGED" in line for line in lines)
    assert any("RuntimeError: first line\\n" in line for line in lines)
    assert not [line for line in lines if line.startswith("FORGED")]


@pytest.mark.parametrize("prefix", ["/docs/static/", "/static/"])
async def test_static_file_name_too_long_is_404_not_503(client: Any, prefix: str) -> None:
    """The file system refuses the name (ENAMETOOLONG): that is no such file, not an outage."""
    response = await client.get(prefix + "a" * 3000, headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert (await response.get_json())["error"] == "NOT_FOUND"
