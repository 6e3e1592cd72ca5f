"""Run the side-by-side comparison: seed, then each server alone, round after round."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from benchmarks.side_by_side import client, measure, report, seed
from benchmarks.side_by_side.knobs import Knobs
from benchmarks.side_by_side.servers import Target, service_env, targets


def machine() -> dict[str, Any]:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
    }


def say(text: str) -> None:
    print(f"[side-by-side] {text}", file=sys.stderr, flush=True)


def measure_target(
    wrk: str, knobs: Knobs, target: Target, scene: dict[str, Any]
) -> list[dict[str, Any]]:
    is_service = target.name.startswith("service")
    seed.tidy(knobs, knobs.service_db if is_service else knobs.peer_db)
    if is_service:  # no limiter keys or cache entries carried over from the last run
        redis.Redis.from_url(target.env["REDIS_URL"]).flushdb()
    server = target.start(knobs)
    results = []
    try:
        token = target.token(target.url)
        lowest, highest = scene["service_ids"] if is_service else (1, knobs.users)
        for workload in knobs.workloads:
            if target.serves is not None and workload not in target.serves:
                continue
            if is_service and workload == "get_user":
                # The cache in its steady state (entries live CACHE_TTL, 60 s): otherwise
                # get_user measures how fast a cold cache fills, and no two runs agree.
                say(f"{target.label}: reading every user once first, so the cache holds them")
                client.read_users(target.url, token, range(lowest, highest + 1))
            result = measure.run(
                wrk, knobs, server, workload, measure.Scene(token, lowest, highest, knobs.users)
            )
            say(f"{target.label:<15} {workload:<15} {result['req_s']:>9,.0f} req/s")
            results.append({"server": target.name, "workload": workload, "result": result})
    finally:
        server.stop()
    return results


def main() -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("make bench: wrk is not installed (Debian: apt-get install wrk)")
    knobs = Knobs()
    knobs.check()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    knobs = dataclasses.replace(knobs, results=knobs.results / stamp)
    knobs.results.mkdir(parents=True, exist_ok=True)
    contenders = targets(knobs)
    peers = {"fastapi", "quart"} & set(contenders)
    if peers and not (knobs.bench_venv / "bin" / "uvicorn").exists():
        raise SystemExit(f"no peer environment at {knobs.bench_venv}: `make bench` builds it")
    about = machine()
    say(f"{about['nproc']} x {about['cpu']}; results in {knobs.results}")

    hashes = seed.password_hashes()
    scene: dict[str, Any] = {}
    if peers:
        say(f"seeding the peers' database {knobs.peer_db}")
        seed.seed_peers(knobs, hashes)
    if {"service", "service-limited"} & set(contenders):
        say(f"setting up the service's database {knobs.service_db} through its CLI and API")
        env = service_env(knobs, knobs.port + 9, limited=False)
        setup = Target(
            "service-setup",
            "service",
            [str(knobs.service_cli), "run"],
            env,
            knobs.port + 9,
            None,
            lambda url: "",
        )
        scene["service_ids"] = seed.setup_service(knobs, hashes, env, lambda: setup.start(knobs))

    runs = []
    order = list(contenders.values())
    for round_number in range(knobs.rounds):
        # Alternate the order, so no server always runs on a warmer (or busier) machine.
        for target in order if round_number % 2 == 0 else order[::-1]:
            for run in measure_target(wrk, knobs, target, scene):
                runs.append({"round": round_number + 1, **run})

    labels = {name: target.label for name, target in contenders.items()}
    raw = {"machine": about, "knobs": dataclasses.asdict(knobs), "scene": scene, "runs": runs}
    (knobs.results / "results.json").write_text(json.dumps(raw, indent=2, default=str))
    print(
        f"# side by side: {about['date']}, {about['host']},"
        f" nproc {about['nproc']}, {about['cpu']}\n"
        f"# wrk -t{knobs.threads} -c{knobs.connections}, warm-up {knobs.warmup}, "
        f"measured {knobs.duration}, {knobs.rounds} round(s) (medians); servers run one at a "
        f"time; ratios are service ÷ peer and service+limits ÷ service\n"
        f"# FastAPI: uvicorn x2 (uvloop, httptools); quart floor: Granian x2; service: "
        f"`service run` (WORKERS={os.environ.get('WORKERS', 'default')}); "
        f"service+limits: rate limiting on, limits never reached\n"
    )
    print(report.table(runs, labels, knobs.workloads))
    print(f"raw results: {knobs.results / 'results.json'}")


if __name__ == "__main__":
    main()
