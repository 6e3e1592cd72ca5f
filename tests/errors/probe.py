"""A scratch blueprint whose routes fail on purpose, and the error body's shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from quart import Blueprint
from quart_schema import validate_request
from sqlalchemy import func, select, text

from service.app import create_app
from service.config import Settings
from service.extensions import db
from service.users.models import User

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


async def probe_app(settings: Settings) -> Any:
    app = create_app(settings)
    app.register_blueprint(probe)
    return app


def assert_error_body(body: dict[str, Any], status: int, error: str) -> None:
    assert body.keys() >= ERROR_KEYS
    assert body["status_code"] == status
    assert body["error"] == error
    assert isinstance(body["message"], str)
    assert body["message"]
