"""How fast `service import-users` is: 100,000 `password_hash` rows and 1,000 `password` rows.

Prints wall times and rows per second, and for plain passwords the ceiling the machine
allows (cores / seconds per argon2id hash at the configured cost).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from argon2 import PasswordHasher

from benchmarks.common import SERVICE, scratch_database, service_env

HASHED_ROWS = int(os.environ.get("BENCH_HASHED_ROWS", "100000"))
PLAIN_ROWS = int(os.environ.get("BENCH_PLAIN_ROWS", "1000"))


def run(args: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([SERVICE, *args], env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    hasher = PasswordHasher()
    hashes = [hasher.hash(f"migrated-{n}") for n in range(50)]
    started = time.perf_counter()
    for n in range(10):
        hasher.hash(f"timing-{n}")
    seconds_per_hash = (time.perf_counter() - started) / 10
    cores = os.cpu_count() or 1
    # What the machine really sustains with every core hashing (memory bandwidth is shared,
    # so this is below the nominal cores / hash time).
    with ThreadPoolExecutor(max_workers=cores) as pool:
        started = time.perf_counter()
        list(pool.map(hasher.hash, [f"parallel-{n}" for n in range(10 * cores)]))
        parallel_rate = 10 * cores / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as scratch, scratch_database() as url:
        work = Path(scratch)
        env = service_env(url)
        run(["init-db"], env, work)

        hashed_file = work / "hashed.jsonl"
        with hashed_file.open("w") as out:
            for n in range(HASHED_ROWS):
                row = {
                    "email": f"h{n}@example.com",
                    "name": f"Hashed {n}",
                    "password_hash": hashes[n % 50],
                }
                out.write(json.dumps(row) + "\n")
        hashed_time = run(["import-users", str(hashed_file)], env, work)

        plain_file = work / "plain.csv"
        with plain_file.open("w") as out:
            out.write("email,name,password\n")
            for n in range(PLAIN_ROWS):
                out.write(f"p{n}@example.com,Plain {n},password-{n}\n")
        plain_time = run(["import-users", str(plain_file)], env, work)

    ceiling = cores / seconds_per_hash
    print(f"argon2id hash at default cost: {seconds_per_hash * 1000:.0f} ms; cores: {cores}")
    print(
        f"{HASHED_ROWS} password_hash rows into PostgreSQL: {hashed_time:.1f} s "
        f"({HASHED_ROWS / hashed_time:,.0f} rows/s, process start included)"
    )
    rate = PLAIN_ROWS / plain_time
    print(
        f"{PLAIN_ROWS} password rows into PostgreSQL: {plain_time:.1f} s ({rate:,.1f} rows/s; "
        f"cores / hash time = {ceiling:,.1f}/s ({rate / ceiling:.0%}); measured all-core "
        f"hashing = {parallel_rate:,.1f}/s ({rate / parallel_rate:.0%}))"
    )


if __name__ == "__main__":
    sys.exit(main())
