"""Real server processes (`service run`) for tests that need several instances."""

from __future__ import annotations

import asyncio
import os
import re
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
    """A port free now (for servers that cannot bind port 0 and report it, as redis-server).

    Another process may take it before the server binds it; `service run` is started on
    port 0 instead (see `start_server`).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    process: asyncio.subprocess.Process
    drain: asyncio.Task[None] | None = None


def settings_env(settings: Any) -> dict[str, str]:
    """The environment that gives a server process these settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    for name, value in settings.model_dump().items():
        if isinstance(value, list):  # comma-separated in the environment
            env[name] = ",".join(map(str, value))
        elif value is not None:
            env[name] = str(value)
        else:
            env.pop(name, None)
    return env


async def start_server(settings: Any, cwd: Path) -> Server:
    """Start `service run` on port 0 and learn its address from its "Listening on" line.

    The server binds the port itself, so no other process can take it between a test
    choosing a port and the server binding it. Its output is read on (and dropped) so
    that a full pipe never blocks it.
    """
    env = settings_env(settings) | {"HOST": "127.0.0.1", "PORT": "0", "WORKERS": "1"}
    process = await asyncio.create_subprocess_exec(
        SERVICE,
        "run",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(STARTUP_SECONDS):
            while True:
                line = (await process.stderr.readline()).decode(errors="replace")
                if not line:
                    raise RuntimeError("server exited before listening:\n" + "".join(seen))
                seen.append(line)
                match = _LISTENING.search(line)
                if match:
                    break
    except BaseException:
        if process.returncode is None:
            process.kill()
        await process.wait()
        raise
    return Server(match.group(1), process, asyncio.create_task(_discard(process.stderr)))


_LISTENING = re.compile(r"Listening on (http://[^\s\"]+)")  # a console or a JSON line


async def _discard(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


@asynccontextmanager
async def running_servers(settings: Any, count: int, cwd: Path) -> AsyncIterator[list[Server]]:
    """Start `count` instances with these settings; stop them afterwards."""
    servers: list[Server] = []
    try:
        for _ in range(count):
            servers.append(await start_server(settings, cwd))
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
            if server.drain is not None:
                await server.drain


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
            deadline = time.monotonic() + STARTUP_SECONDS
            while time.monotonic() < deadline:
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
