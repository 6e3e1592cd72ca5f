"""After 10,000 distinct clients, does every rate-limit key in Redis expire?

Runs one real server on PostgreSQL + Redis behind a pretend proxy (`TRUSTED_PROXIES`),
sends one request per client address, then reads every limiter key's TTL.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid

import httpx
from redis.asyncio import Redis

from benchmarks.common import running_server, scratch_database, service_env
from benchmarks.health_under_login import wait_healthy
from tests.servers import free_port

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "10000"))
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def hit(url: str, prefix: str) -> None:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as client:
        await wait_healthy(client, url)
        started = time.perf_counter()
        semaphore = asyncio.Semaphore(20)

        async def one(n: int) -> None:
            headers = {"X-Forwarded-For": f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"}
            async with semaphore:
                (await client.get(f"{url}/api/v1/products/", headers=headers)).raise_for_status()

        await asyncio.gather(*(one(n) for n in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}rl:*", count=5000)]
    ttls = [await redis.pttl(key) for key in keys]
    await redis.delete(*keys) if keys else None
    await redis.aclose()
    # PTTL: -1 for a key without a TTL (a leak); -2 for one that expired since the scan.
    without = sum(1 for ttl in ttls if ttl == -1)
    expired = sum(1 for ttl in ttls if ttl == -2)
    print(f"{CLIENTS} clients in {elapsed:.1f} s ({CLIENTS / elapsed:,.0f} req/s)")
    print(
        f"limiter keys: {len(keys)}, without a TTL: {without}, expired while read: {expired}, "
        f"longest TTL: {max(ttls, default=0) / 1000:.0f} s"
    )


def main() -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory() as scratch, scratch_database() as database_url:
        port = free_port()
        env = service_env(
            database_url,
            PORT=str(port),
            REDIS_URL=REDIS_URL,
            REDIS_KEY_PREFIX=prefix,
            TRUSTED_PROXIES="127.0.0.1",
            RATE_LIMIT_DEFAULT="100/hour",
        )
        with running_server(env, scratch):
            asyncio.run(hit(f"http://127.0.0.1:{port}", prefix))


if __name__ == "__main__":
    main()
