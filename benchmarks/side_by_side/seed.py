"""The data every server is measured on: 10,000 users (id 1 the admin), 1,000 products.

The peers get their own database and schema, filled with COPY. The service's database is
set up only through its CLI (`init-db`, `import-users`) and its HTTP API (products).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from argon2 import PasswordHasher

from benchmarks.side_by_side import client, procs
from benchmarks.side_by_side.knobs import Knobs

ADMIN = ("admin@example.com", "admin-pass-123")
USER_PASSWORD = "user-pass-123"
PEER_SCHEMA = """
CREATE TABLE users (
    id serial PRIMARY KEY, email varchar(254) NOT NULL UNIQUE, name varchar(100) NOT NULL,
    password_hash varchar(255) NOT NULL, is_admin boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE products (
    id serial PRIMARY KEY, name varchar(200) NOT NULL, sku varchar(64) NOT NULL UNIQUE,
    price_cents integer NOT NULL, description text,
    owner_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_owner_id ON products (owner_id);
"""


def password_hashes() -> tuple[str, str]:
    """The admin's and every other user's argon2id hash (library defaults), made once."""
    hasher = PasswordHasher()
    return hasher.hash(ADMIN[1]), hasher.hash(USER_PASSWORD)


async def _admin(knobs: Knobs, sql: str) -> None:
    connection = await asyncpg.connect(knobs.postgres)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def recreate_database(knobs: Knobs, name: str) -> None:
    asyncio.run(_admin(knobs, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(knobs, f'CREATE DATABASE "{name}"'))


def tidy(knobs: Knobs, name: str) -> None:
    """VACUUM ANALYZE and CHECKPOINT, so no server inherits another's dead rows or dirty pages."""

    async def run() -> None:
        connection = await asyncpg.connect(knobs.database_url(name))
        try:
            await connection.execute("VACUUM ANALYZE")
            await connection.execute("CHECKPOINT")
        finally:
            await connection.close()

    asyncio.run(run())


def seed_peers(knobs: Knobs, hashes: tuple[str, str]) -> None:
    recreate_database(knobs, knobs.peer_db)

    async def run() -> None:
        connection = await asyncpg.connect(knobs.database_url(knobs.peer_db))
        try:
            await connection.execute(PEER_SCHEMA)
            now = datetime.now(UTC)
            users = [(1, ADMIN[0], "Admin", hashes[0], True, now, now)] + [
                (n, f"user{n}@example.com", f"User {n}", hashes[1], False, now, now)
                for n in range(2, knobs.users + 1)
            ]
            await connection.copy_records_to_table("users", records=users)
            products = [
                (n, f"Seed product {n}", f"SEED-{n:05d}", 100 * n, None, 1, now, now)
                for n in range(1, knobs.products + 1)
            ]
            await connection.copy_records_to_table("products", records=products)
            await connection.execute(
                "SELECT setval('users_id_seq', max(id)) FROM users;"
                "SELECT setval('products_id_seq', max(id)) FROM products;"
                "ANALYZE"
            )
        finally:
            await connection.close()

    asyncio.run(run())


def write_users_file(path: Path, users: int, hashes: tuple[str, str]) -> None:
    """JSON Lines for `service import-users`: the admin first, then user2…userN."""
    with path.open("w") as out:
        admin = {"email": ADMIN[0], "name": "Admin", "password_hash": hashes[0], "is_admin": True}
        out.write(json.dumps(admin) + "\n")
        for n in range(2, users + 1):
            row = {"email": f"user{n}@example.com", "name": f"User {n}", "password_hash": hashes[1]}
            out.write(json.dumps(row) + "\n")


def setup_service(
    knobs: Knobs,
    hashes: tuple[str, str],
    env: dict[str, str],
    start: Callable[[], procs.Server],
) -> tuple[int, int]:
    """A fresh database through the CLI and the API; returns the lowest and highest user id."""
    recreate_database(knobs, knobs.service_db)
    work = knobs.results
    users_file = work / "users.jsonl"
    write_users_file(users_file, knobs.users, hashes)
    with (work / "service-setup.log").open("ab") as log:
        for args in (["init-db"], ["import-users", str(users_file)]):
            subprocess.run(
                [str(knobs.service_cli), *args],
                env=env,
                cwd=work,
                stdout=log,
                stderr=log,
                check=True,
            )
    server = start()
    try:
        token = client.login(server.url, *ADMIN)
        session = client.Client(server.url, token)
        try:
            _, headers, first = session.call("GET", "/api/v1/users/?page=1&per_page=1")
            total = int(headers["x-total-count"])
            _, _, last = session.call("GET", f"/api/v1/users/?page={total}&per_page=1")
        finally:
            session.close()
        client.create_products(server.url, token, knobs.products)
    finally:
        server.stop()
    return int(first[0]["id"]), int(last[0]["id"])
