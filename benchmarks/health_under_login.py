"""Does hashing block the event loop? `/health` latency while 50 logins run at once.

Starts one real server (default argon2id cost), fires 50 concurrent logins and polls
`/health` throughout; prints the login wall time and the health latency percentiles.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time

import httpx

from benchmarks.common import running_server, scratch_database, service_env
from tests.servers import free_port

LOGINS = 50
PASSWORD = "benchmark password"


async def wait_healthy(client: httpx.AsyncClient, url: str) -> None:
    for _ in range(200):
        try:
            if (await client.get(f"{url}/health")).status_code == 200:
                return
        except httpx.TransportError:
            await asyncio.sleep(0.05)
    raise TimeoutError(url)


async def measure(url: str) -> None:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100)) as client:
        await wait_healthy(client, url)
        response = await client.post(
            f"{url}/api/v1/users/",
            json={"email": "bench@example.com", "name": "Bench", "password": PASSWORD},
        )
        response.raise_for_status()
        latencies: list[float] = []
        done = asyncio.Event()

        async def poll_health() -> None:
            while not done.is_set():
                started = time.perf_counter()
                (await client.get(f"{url}/health")).raise_for_status()
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.005)

        async def login() -> int:
            reply = await client.post(
                f"{url}/api/v1/auth/login",
                json={"email": "bench@example.com", "password": PASSWORD},
            )
            return reply.status_code

        poller = asyncio.create_task(poll_health())
        started = time.perf_counter()
        statuses = await asyncio.gather(*(login() for _ in range(LOGINS)))
        login_time = time.perf_counter() - started
        done.set()
        await poller

    ordered = sorted(latencies)
    print(f"{LOGINS} concurrent logins: {login_time:.2f} s, statuses {sorted(set(statuses))}")
    print(
        f"/health during them ({len(ordered)} requests): "
        f"p50 {statistics.median(ordered) * 1000:.1f} ms, "
        f"p95 {ordered[int(len(ordered) * 0.95)] * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch, scratch_database() as database_url:
        port = free_port()
        env = service_env(database_url, PORT=str(port), RATE_LIMIT_ENABLED="false")
        with running_server(env, scratch):
            asyncio.run(measure(f"http://127.0.0.1:{port}"))


if __name__ == "__main__":
    main()
