"""The contenders: how to start each one, what it serves, and how to get its token."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from benchmarks.side_by_side import client
from benchmarks.side_by_side.knobs import ALL_SERVERS, HERE, Knobs
from benchmarks.side_by_side.procs import Server
from benchmarks.side_by_side.seed import ADMIN

PEER_SECRET = "side-by-side-peer-secret-" + "s" * 32
SERVICE_SECRET = "side-by-side-service-secret-" + "t" * 32
UNREACHABLE_LIMIT = "100000000/hour"
FLOOR_WORKLOADS = ("health", "get_user")


@dataclass
class Target:
    name: str
    label: str
    argv: list[str]
    env: dict[str, str]
    port: int
    serves: tuple[str, ...] | None  # None: every workload
    token: Callable[[str], str]  # base URL -> admin bearer token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, knobs: Knobs) -> Server:
        log = knobs.results / f"{self.name}.log"
        server = Server(self.argv, self.env, knobs.results, log, self.url)
        return server.wait_healthy(knobs.start_timeout)


def _admin_login(url: str) -> str:
    return client.login(url, *ADMIN)


def _minted_peer_token(_: str) -> str:
    now = int(time.time())
    claims = {"sub": "1", "adm": True, "iat": now, "exp": now + 86400, "type": "access"}
    return jwt.encode(claims, PEER_SECRET, algorithm="HS256")


def service_env(knobs: Knobs, port: int, limited: bool) -> dict[str, str]:
    """`make run`'s environment with the scratch database; WORKERS only if the caller set it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RATE_LIMIT_", "REDIS_"))}
    env.update(
        APP_ENV="development",
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=knobs.database_url(knobs.service_db, "postgresql+asyncpg"),
        REDIS_URL=f"redis://127.0.0.1:6379/{knobs.redis_db}",
        SECRET_KEY=SERVICE_SECRET,
        JWT_SECRET_KEY=SERVICE_SECRET,
        LOG_LEVEL="WARNING",
        RATE_LIMIT_ENABLED="true" if limited else "false",
    )
    if limited:  # limiting on, but no request ever reaches a limit
        for name in ("RATE_LIMIT_DEFAULT", "RATE_LIMIT_USERS", "RATE_LIMIT_LOGIN"):
            env[name] = UNREACHABLE_LIMIT
    return env


def targets(knobs: Knobs) -> dict[str, Target]:
    bench_bin = knobs.bench_venv / "bin"
    peers = str(HERE / "peers")
    peer_env = dict(
        os.environ,
        PEER_DATABASE_URL=knobs.database_url(knobs.peer_db, "postgresql+asyncpg"),
        PEER_JWT_SECRET=PEER_SECRET,
    )
    ports = {name: knobs.port + n for n, name in enumerate(ALL_SERVERS)}
    listen = ["--host", "127.0.0.1", "--port"]
    uvicorn = [str(bench_bin / "uvicorn"), "fastapi_peer:app", "--app-dir", peers, "--workers", "2"]
    granian = [str(bench_bin / "granian"), "--interface", "asgi", "--workers", "2"]
    service_run = [str(knobs.service_cli), "run"]
    found = {
        "fastapi": Target(
            "fastapi",
            "FastAPI",
            [
                *uvicorn,
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--log-level",
                "warning",
                "--no-access-log",
                *listen,
                str(ports["fastapi"]),
            ],
            peer_env,
            ports["fastapi"],
            None,
            _admin_login,
        ),
        "quart": Target(
            "quart",
            "quart floor",
            [
                *granian,
                "--loop",
                "uvloop",
                "--log-level",
                "warning",
                "--working-dir",
                peers,
                *listen,
                str(ports["quart"]),
                "quart_peer:app",
            ],
            peer_env,
            ports["quart"],
            FLOOR_WORKLOADS,
            _minted_peer_token,
        ),
        "service": Target(
            "service",
            "service",
            service_run,
            service_env(knobs, ports["service"], False),
            ports["service"],
            None,
            _admin_login,
        ),
        "service-limited": Target(
            "service-limited",
            "service+limits",
            service_run,
            service_env(knobs, ports["service-limited"], True),
            ports["service-limited"],
            None,
            _admin_login,
        ),
    }
    return {name: found[name] for name in knobs.servers}
