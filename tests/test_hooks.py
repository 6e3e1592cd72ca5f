"""Request hooks: request ids, response times, and access logs in both formats."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import uuid
from ipaddress import ip_network
from typing import Any

import pytest
from quart import Blueprint
from quart.sessions import SecureCookieSessionInterface

from service import observability
from service.app import create_app
from service.config import Settings
from service.logs import JsonFormatter, configure_logging
from tests.factories import bearer

RESPONSE_TIME = re.compile(r"^\d+\.\d{4}s$")
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")

probe = Blueprint("hooks_probe", __name__, url_prefix="/_hooks")
probe_logger = logging.getLogger("tests.hooks.probe")


@probe.get("/log")
async def log_inside_view() -> dict[str, str]:
    probe_logger.warning("inside the view")
    return {"status": "ok"}


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of the text parsed as JSON (fails on a line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("incoming", ["abc", "A.b-c_9", "x" * 128, "7", "-._"])
async def test_request_id_well_formed_is_echoed(client: Any, incoming: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["x" * 129, "has space", "semi;colon", "slash/ed", "<script>", 'quote"d', "tab\tbed", ""],
)
async def test_request_id_malformed_is_replaced_with_uuid_hex(client: Any, incoming: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": incoming})
    assert GENERATED_ID.match(response.headers["X-Request-ID"])


async def test_request_id_missing_is_generated_fresh_each_time(client: Any) -> None:
    first = (await client.get("/health")).headers["X-Request-ID"]
    second = (await client.get("/health")).headers["X-Request-ID"]
    assert GENERATED_ID.match(first)
    assert GENERATED_ID.match(second)
    assert first != second


async def test_request_id_generated_is_a_uuid4(client: Any) -> None:
    generated = (await client.get("/health")).headers["X-Request-ID"]
    parsed = uuid.UUID(hex=generated)
    assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, generated)


async def test_request_hooks_skip_quarts_general_coroutine_check(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Quart asked `inspect.iscoroutinefunction` (partials unwrapped, markers looked for)
    # of every hook and view on every request; a plain `async def` needs no such check.
    def refuse(_: Any) -> bool:
        raise AssertionError("the general coroutine check ran")

    monkeypatch.setattr("quart.app.iscoroutinefunction", refuse)
    assert (await client.get("/health")).status_code == 200


async def test_sync_request_hook_still_runs_in_a_thread(settings: Settings) -> None:
    app = create_app(settings)
    threads: list[str] = []

    @app.before_request
    def note_thread() -> None:  # a plain function: Quart runs it in a worker thread
        threads.append(threading.current_thread().name)

    async with app.test_app() as test_app:
        assert (await test_app.test_client().get("/health")).status_code == 200
    assert len(threads) == 1
    assert threads[0] != threading.main_thread().name


async def test_nested_blueprint_hooks_run_innermost_last_without_quarts_split(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings)
    calls: list[str] = []
    outer, inner = Blueprint("outer_probe", __name__), Blueprint("inner_probe", __name__)

    @inner.get("/_nested")
    async def nested() -> dict[str, str]:
        return {"status": "ok"}

    for blueprint in (outer, inner):
        blueprint.before_request(_record(calls, blueprint.name))
    outer.register_blueprint(inner)
    app.register_blueprint(outer)
    # Quart worked the chain out from the endpoint on every phase of every request.
    monkeypatch.setattr("quart.helpers._split_blueprint_path", _refuse_split)
    async with app.test_app() as test_app:
        assert (await test_app.test_client().get("/_nested")).status_code == 200
    assert calls == ["outer_probe", "inner_probe"]


def _record(calls: list[str], name: str) -> Any:
    async def hook() -> None:
        calls.append(name)

    return hook


def _refuse_split(_: str) -> list[str]:
    raise AssertionError("Quart's blueprint split ran")


async def test_request_id_on_error_matches_body(client: Any) -> None:
    response = await client.get("/nope", headers={"X-Request-ID": "bad id"})
    generated = response.headers["X-Request-ID"]
    assert GENERATED_ID.match(generated)
    assert (await response.get_json())["request_id"] == generated


async def test_response_time_on_success_is_formatted_seconds(client: Any) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert RESPONSE_TIME.match(response.headers["X-Response-Time"])


@pytest.mark.parametrize(
    ("method", "path", "status"), [("GET", "/nope", 404), ("PUT", "/ready", 405)]
)
async def test_response_time_on_error_is_formatted_seconds(
    client: Any, method: str, path: str, status: int
) -> None:
    response = await client.open(path, method=method)
    assert response.status_code == status
    assert RESPONSE_TIME.match(response.headers["X-Response-Time"])
    assert response.headers["X-Request-ID"]


async def test_access_log_with_request_id_records_the_request(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    response = await client.get("/nope", headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 404
    records = [r for r in caplog.records if r.name == "service.access"]
    assert len(records) == 1
    record = records[0]
    assert record.__dict__["request_id"] == "trace-42"
    assert (record.__dict__["method"], record.__dict__["path"]) == ("GET", "/nope")
    assert record.__dict__["status"] == 404
    assert record.__dict__["duration"] >= 0
    assert "GET /nope 404" in record.getMessage()


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "service.access"]


def from_peer(address: str) -> dict[str, Any]:
    return {"scope_base": {"client": (address, 40000)}}


async def test_access_log_of_an_anonymous_request_names_the_client_and_no_user(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    await client.get(
        "/health", headers={"X-Forwarded-For": "192.0.2.1"}, **from_peer("198.51.100.7")
    )
    (record,) = access_records(caplog)
    # No trusted proxy: the forwarded hop is the client's own claim, not believed.
    assert record.__dict__["client"] == "198.51.100.7"
    assert record.__dict__["user_id"] is None
    assert record.getMessage().endswith(" client=198.51.100.7 user=-")


async def test_access_log_behind_a_trusted_proxy_names_the_forwarded_client(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    app = create_app(settings.model_copy(update={"TRUSTED_PROXIES": [ip_network("10.0.0.0/8")]}))
    async with app.test_app() as test_app:
        headers = {"X-Forwarded-For": "192.0.2.9"}
        await test_app.test_client().get("/health", headers=headers, **from_peer("10.1.1.1"))
    (record,) = access_records(caplog)
    assert record.__dict__["client"] == "192.0.2.9"


async def test_access_log_of_an_authenticated_request_names_the_user(
    client: Any, owner: tuple[dict[str, Any], str], caplog: pytest.LogCaptureFixture
) -> None:
    user, token = owner
    caplog.set_level(logging.INFO, logger="service.access")
    response = await client.get("/api/v1/users/me", headers=bearer(token))
    assert response.status_code == 200
    (record,) = access_records(caplog)
    assert record.__dict__["user_id"] == user["id"]
    assert record.getMessage().endswith(f" user={user['id']}")


async def test_access_log_off_builds_no_fields(
    client: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: Any) -> None:
        raise AssertionError("log fields built with the access log off")

    monkeypatch.setattr(observability, "log_access", refuse)
    caplog.set_level(logging.WARNING, logger="service.access")
    assert (await client.get("/health")).status_code == 200
    assert access_records(caplog) == []


def test_log_format_default_is_json_in_production_else_console() -> None:
    safe: dict[str, Any] = {
        "DATABASE_URL": "postgresql://u@h/d",
        "SECRET_KEY": "s" * 32,
        "JWT_SECRET_KEY": "s" * 32,
        "_env_file": None,
    }
    assert Settings(APP_ENV="production", **safe).log_format == "json"
    assert Settings(APP_ENV="production", LOG_FORMAT="console", **safe).log_format == "console"
    assert Settings(APP_ENV="development", _env_file=None).log_format == "console"


def test_json_formatter_with_request_fields_emits_one_json_object() -> None:
    record = logging.LogRecord("service.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.__dict__.update(request_id="abc", method="GET", path="/x", status=200, duration=0.0012)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "GET /x"
    assert entry["level"] == "info"
    assert entry["logger"] == "service.access"
    assert {k: entry[k] for k in ("request_id", "method", "path", "status", "duration")} == {
        "request_id": "abc",
        "method": "GET",
        "path": "/x",
        "status": 200,
        "duration": 0.0012,
    }
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", entry["time"])
    assert entry["time"].endswith("+00:00")


def test_json_formatter_with_exception_keeps_traceback_on_one_line() -> None:
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert "RuntimeError: kaput" in json.loads(text)["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_json_writes_parseable_lines_with_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("tests.hooks").info("outside any request")
    entries = json_lines(capsys.readouterr().err)
    assert entries[-1]["message"] == "outside any request"
    assert entries[-1]["request_id"] == "-"


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_twice_keeps_one_handler() -> None:
    configure_logging("INFO", "json")
    configure_logging("INFO", "console")
    root = logging.getLogger()
    assert len([h for h in root.handlers if h.name == "service"]) == 1


@pytest.mark.usefixtures("restore_logging")
async def test_json_logs_of_a_request_carry_its_id(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings.model_copy(update={"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}))
    app.register_blueprint(probe)
    async with app.test_app() as test_app:
        response = await test_app.test_client().get(
            "/_hooks/log", headers={"X-Request-ID": "json-line-1"}
        )
    assert response.status_code == 200
    entries = json_lines(capsys.readouterr().err)
    inside = [e for e in entries if e["message"] == "inside the view"]
    assert [e["request_id"] for e in inside] == ["json-line-1"]
    access = [e for e in entries if e["logger"] == "service.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "json-line-1"
    assert (access[0]["method"], access[0]["path"], access[0]["status"]) == (
        "GET",
        "/_hooks/log",
        200,
    )
    assert isinstance(access[0]["duration"], float)
    assert access[0]["client"] == "<local>"  # Quart's test client as the peer
    assert "user_id" not in access[0]  # anonymous: no key rather than null


@pytest.mark.usefixtures("restore_logging")
async def test_console_logs_of_a_request_show_its_id(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings.model_copy(update={"LOG_FORMAT": "console", "LOG_LEVEL": "INFO"}))
    async with app.test_app() as test_app:
        await test_app.test_client().get("/health", headers={"X-Request-ID": "console-1"})
    lines = capsys.readouterr().err.splitlines()
    assert any("[console-1] service.access: GET /health 200" in line for line in lines)


async def test_no_cookie_session_is_opened_or_signed(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Quart's default interface built an itsdangerous signer on every request, for a cookie
    # this bearer-token API never reads.
    def refuse(*_: Any) -> None:
        raise AssertionError("a session cookie signer was built")

    monkeypatch.setattr(SecureCookieSessionInterface, "get_signing_serializer", refuse)
    response = await client.get("/health")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
