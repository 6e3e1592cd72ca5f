"""One workload against one running server: wrk's warm-up, then the measured run."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.side_by_side import procs
from benchmarks.side_by_side.knobs import HERE, Knobs
from benchmarks.side_by_side.seed import USER_PASSWORD

LUA = HERE / "wrk"


@dataclass(frozen=True)
class Scene:
    """What the workload scripts need to know about the server's data."""

    token: str
    lowest_id: int
    highest_id: int
    users: int


def _wrk(
    wrk: str, knobs: Knobs, url: str, workload: str, duration: str, env: dict[str, str]
) -> dict[str, Any]:
    argv = [
        wrk,
        f"-t{knobs.threads}",
        f"-c{knobs.connections}",
        f"-d{duration}",
        "--timeout",
        "10s",
    ]
    argv += ["-s", str(LUA / f"{workload}.lua"), url]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    for line in done.stdout.splitlines():
        if line.startswith("SBS "):
            result: dict[str, Any] = json.loads(line[4:])
            return result
    raise RuntimeError(f"wrk printed no result line:\n{done.stdout}\n{done.stderr}")


def run(
    wrk: str, knobs: Knobs, server: procs.Server, workload: str, scene: Scene
) -> dict[str, Any]:
    env = dict(
        os.environ,
        SBS_LUA_DIR=str(LUA),
        SBS_TOKEN=scene.token,
        SBS_ID_MIN=str(scene.lowest_id),
        SBS_ID_MAX=str(scene.highest_id),
        SBS_PAGES=str(max(1, scene.users // 20)),
        SBS_USER_PASSWORD=USER_PASSWORD,
    )
    stamp = f"{time.time_ns():X}"
    procs.settle(server.group)
    if knobs.warmup not in ("", "0", "0s"):
        _wrk(wrk, knobs, server.url, workload, knobs.warmup, {**env, "SBS_RUN": stamp + "W"})
    cpu_before = procs.cpu_seconds(server.group)
    with procs.PeakMemory(server.group) as memory:
        result = _wrk(wrk, knobs, server.url, workload, knobs.duration, {**env, "SBS_RUN": stamp})
    cpu = procs.cpu_seconds(server.group) - cpu_before
    requests = max(1, int(result["requests"]))
    peaks = sorted(memory.peaks.values())
    return {
        "req_s": result["requests"] / result["seconds"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "non2xx": result["non2xx"],
        "socket_errors": result["socket_errors"],
        "requests": result["requests"],
        "cpu_ms_per_req": cpu * 1000 / requests,
        "workers": len(peaks),
        "rss_mb_per_worker": [round(peak / 2**20, 1) for peak in peaks],
    }
