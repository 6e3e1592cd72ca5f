"""Every knob of the side-by-side run, read from the environment once."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ALL_WORKLOADS = ("health", "get_user", "list_users", "create_product", "login")
ALL_SERVERS = ("fastapi", "quart", "service", "service-limited")


def _words(name: str, default: str) -> tuple[str, ...]:
    return tuple(os.environ.get(name, default).split())


@dataclass(frozen=True)
class Knobs:
    duration: str = os.environ.get("DURATION", "10s")
    warmup: str = os.environ.get("WARMUP", "2s")
    connections: int = int(os.environ.get("CONNS", "64"))
    threads: int = int(os.environ.get("THREADS", "1"))
    rounds: int = int(os.environ.get("ROUNDS", "1"))
    workloads: tuple[str, ...] = field(
        default_factory=lambda: _words("WORKLOADS", "health get_user list_users create_product")
    )
    servers: tuple[str, ...] = field(
        default_factory=lambda: _words("SERVERS", " ".join(ALL_SERVERS))
    )
    port: int = int(os.environ.get("BENCH_PORT", "8470"))
    postgres: str = os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    peer_db: str = os.environ.get("BENCH_PEER_DB", "side_by_side_peers")
    service_db: str = os.environ.get("BENCH_SERVICE_DB", "side_by_side_service")
    redis_db: int = int(os.environ.get("BENCH_REDIS_DB", "14"))
    users: int = int(os.environ.get("BENCH_USERS", "10000"))
    products: int = int(os.environ.get("BENCH_PRODUCTS", "1000"))
    start_timeout: float = float(os.environ.get("START_TIMEOUT", "90"))
    bench_venv: Path = Path(os.environ.get("BENCH_VENV", str(ROOT / ".bench-venv")))
    service_cli: Path = Path(os.environ.get("SERVICE_CLI", str(ROOT / ".venv" / "bin" / "service")))
    results: Path = Path(
        os.environ.get("RESULTS_DIR", str(Path(tempfile.gettempdir()) / "side-by-side"))
    )

    def database_url(self, name: str, driver: str = "postgresql") -> str:
        """The admin URL pointed at database `name`, with `driver` as its scheme."""
        rest = self.postgres.split("://", 1)[1].rsplit("/", 1)[0]
        return f"{driver}://{rest}/{name}"

    def check(self) -> None:
        unknown = set(self.workloads) - set(ALL_WORKLOADS) | set(self.servers) - set(ALL_SERVERS)
        if unknown:
            raise SystemExit(f"unknown workload or server: {', '.join(sorted(unknown))}")
