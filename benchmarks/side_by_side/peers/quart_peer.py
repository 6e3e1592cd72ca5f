"""Peer: bare Quart + raw asyncpg + PyJWT, only /health and GET /api/v1/users/<id>.

The framework's floor: what Quart itself costs per request with no ORM, no schema layer
and no middleware. Runs under Granian (2 workers, uvloop) from the bench venv.
Env: PEER_DATABASE_URL (postgresql://…), PEER_JWT_SECRET, PEER_POOL_SIZE.
"""

from __future__ import annotations

import os
from typing import Any

import asyncpg
import jwt
from quart import Quart, request

SECRET = os.environ.get("PEER_JWT_SECRET", "peer-secret-" + "p" * 40)
DATABASE_URL = os.environ["PEER_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
USER_QUERY = "SELECT id, email, name, is_admin, created_at, updated_at FROM users WHERE id = $1"
app = Quart(__name__)
pool: asyncpg.Pool | None = None


@app.before_serving
async def open_pool() -> None:
    global pool
    size = int(os.environ.get("PEER_POOL_SIZE", "20"))
    pool = await asyncpg.create_pool(DATABASE_URL, min_size=size, max_size=size)


@app.after_serving
async def close_pool() -> None:
    if pool is not None:
        await pool.close()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/v1/users/<int:user_id>")
async def get_user(user_id: int) -> Any:
    header = request.headers.get("Authorization", "")
    try:
        token = jwt.decode(header.removeprefix("Bearer "), SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        return {"error": "UNAUTHORIZED"}, 401
    if not token.get("adm") and token.get("sub") != str(user_id):
        return {"error": "FORBIDDEN"}, 403
    assert pool is not None
    row = await pool.fetchrow(USER_QUERY, user_id)
    if row is None:
        return {"error": "NOT_FOUND"}, 404
    user = dict(row)
    user["created_at"] = user["created_at"].isoformat()
    user["updated_at"] = user["updated_at"].isoformat()
    return user
