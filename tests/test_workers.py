"""`service run --workers N`: several worker processes on one socket."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import httpx

from tests.factories import FAST_HASHING
from tests.plugins.backends import Backend, reset_backend
from tests.servers import SERVICE, STARTUP_SECONDS, settings_env


def children(pid: int) -> list[int]:
    """The processes `pid` has started (from /proc: no test-only route shows them)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):  # not a process, or gone meanwhile
            continue
        # `pid (comm) state ppid …`: comm may hold spaces and parentheses.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def sockets_of(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def listening_socket(port: int) -> str:
    """The `socket:[inode]` listening on `port` on 127.0.0.1."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # LISTEN
            return f"socket:[{fields[9]}]"
    raise AssertionError(f"nothing listens on port {port}")


async def test_two_workers_serve_on_one_socket(sqlite_backend: Backend, tmp_path: Path) -> None:
    env = settings_env(sqlite_backend.settings(**FAST_HASHING)) | {
        "HOST": "127.0.0.1",
        "PORT": "0",
        "WORKERS": "1",  # the option overrides it
        "LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        SERVICE, "run", "--workers", "2", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    try:
        # The first line says where it listens, as a JSON log line under LOG_FORMAT=json.
        line = await asyncio.wait_for(process.stderr.readline(), STARTUP_SECONDS)
        message = json.loads(line)["message"]
        assert message.startswith("Listening on http://127.0.0.1:")
        port = int(message.rsplit(":", 1)[1])
        drain = asyncio.create_task(process.stderr.read())
        shared = listening_socket(port)
        # Each worker holds the one listening socket once it has started (a deadline, not
        # a count of tries: start-up is slow on a loaded machine).
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            workers = [pid for pid in children(process.pid) if shared in sockets_of(pid)]
            if len(workers) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(workers) == 2
        async with httpx.AsyncClient() as client:
            for _ in range(20):
                response = await client.get(f"http://127.0.0.1:{port}/health")
                assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 60) == 0
        await drain
        assert not any(map(running, workers))
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    await reset_backend(sqlite_backend)
