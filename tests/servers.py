"""Real server processes (`service run`) for tests that need several instances."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SERVICE = str(Path(sys.executable).with_name("service"))
STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    process: asyncio.subprocess.Process


def settings_env(settings: Any) -> dict[str, str]:
    """The environment that gives a server process these settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[name] = str(value)
        else:
            env.pop(name, None)
    return env


@asynccontextmanager
async def running_servers(settings: Any, count: int, cwd: Path) -> AsyncIterator[list[Server]]:
    """Start `count` instances on free ports with these settings; stop them afterwards."""
    servers: list[Server] = []
    try:
        for _ in range(count):
            port = free_port()
            env = settings_env(settings) | {"HOST": "127.0.0.1", "PORT": str(port)}
            process = await asyncio.create_subprocess_exec(
                SERVICE,
                "run",
                cwd=cwd,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            servers.append(Server(f"http://127.0.0.1:{port}", process))
        async with httpx.AsyncClient() as client:
            for server in servers:
                await _wait_healthy(client, server)
        yield servers
    finally:
        for server in servers:
            if server.process.returncode is None:
                server.process.terminate()
        for server in servers:
            await server.process.wait()


async def _wait_healthy(client: httpx.AsyncClient, server: Server) -> None:
    # A deadline, not a count of tries: start-up is slow on a loaded machine.
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.returncode is not None:
            raise RuntimeError(f"server at {server.url} exited with {server.process.returncode}")
        try:
            if (await client.get(f"{server.url}/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError(f"server at {server.url} did not become healthy in {STARTUP_SECONDS} s")


@dataclass
class RedisServer:
    """A private `redis-server` (never the shared 6379) a test can stop and start again."""

    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start it empty (no persistence) and wait until it answers PING."""
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        self.process = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            for _ in range(200):
                if self.process.returncode is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}")
                try:
                    await client.ping()
                    return
                except (RedisError, OSError):
                    await asyncio.sleep(0.05)
            raise TimeoutError(f"redis-server on port {self.port} did not answer")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        """Stop it; everything it held is gone."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        self.process = None


@asynccontextmanager
async def private_redis() -> AsyncIterator[RedisServer]:
    """A running private Redis on a free port, stopped afterwards whatever happened."""
    server = RedisServer(free_port())
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
