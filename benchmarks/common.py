"""Shared bits of the benchmarks: a scratch PostgreSQL database and the CLI's environment."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SERVICE = str(Path(sys.executable).with_name("service"))
SECRET = "benchmark-secret-" + "b" * 40


async def _execute(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one benchmark; dropped afterwards."""
    import asyncio

    name = f"service_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def running_server(env: dict[str, str], cwd: str) -> Iterator[None]:
    """`service init-db`, then `service run` with this environment until the block ends."""
    quiet = subprocess.DEVNULL
    subprocess.run([SERVICE, "init-db"], env=env, cwd=cwd, check=True, stdout=quiet, stderr=quiet)
    server = subprocess.Popen([SERVICE, "run"], env=env, cwd=cwd, stdout=quiet, stderr=quiet)
    try:
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)  # the in-process default unless a benchmark passes one
    env.update(
        APP_ENV="testing",
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET,
        JWT_SECRET_KEY=SECRET,
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env
