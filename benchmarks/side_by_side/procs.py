"""Servers as process groups: start, wait for /health, stop; CPU and memory from /proc.

Each server starts in its own session (setsid), so its process group holds the server
and every worker it forks, and stopping it signals that group alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
# Helper processes some servers fork that serve no requests.
NOT_WORKERS = ("resource_tracker", "semaphore_tracker")


class Server:
    """One running server: its process group, and the URL it answers on."""

    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: Path, log: Path, url: str
    ) -> None:
        self.url = url
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.group = self.process.pid

    def wait_healthy(self, timeout: float) -> Server:
        try:
            wait_healthy(self.process, self.url, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop(self.process)


def wait_healthy(server: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before answering")
        try:
            # an http:// URL this module built, never a caller-given scheme
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no answer from {url}/health in {timeout:.0f} s")


def stop(server: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM to the server's own process group, SIGKILL after `grace` seconds."""
    group = server.pid
    try:
        os.killpg(group, signal.SIGTERM)
        server.wait(timeout=grace)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        server.wait()
    deadline = time.monotonic() + grace  # workers may outlive their parent briefly
    while group_members(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    if group_members(group):
        os.killpg(group, signal.SIGKILL)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def group_members(group: int) -> list[int]:
    """Live (non-zombie) processes of process group `group`."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and fields[2] == str(group) and fields[0] != "Z":
                members.append(int(entry))
    return members


def cpu_seconds(group: int) -> float:
    """utime + stime of every live process in the group."""
    ticks = 0
    for pid in group_members(group):
        fields = _stat(pid)
        if fields:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / TICKS


def settle(group: int, window: float = 0.5, busy: float = 0.1, limit: float = 60) -> None:
    """Wait until the group uses under `busy` of a core, so work still queued from the
    last run (say, password hashes for requests wrk gave up on) is not billed to the next."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(group)
        time.sleep(window)
        if cpu_seconds(group) - before < busy * window:
            return


def workers(group: int) -> list[int]:
    """The processes that serve requests: the leader's descendants, or the leader alone."""
    members = [pid for pid in group_members(group) if not _is_helper(pid)]
    children = [pid for pid in members if pid != group]
    return children or members


def _is_helper(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return any(name.encode() in command for name in NOT_WORKERS)


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class PeakMemory:
    """Samples each worker's resident memory until stopped; keeps the peak of each."""

    def __init__(self, group: int, every: float = 0.2) -> None:
        self.group, self.every = group, every
        self.peaks: dict[int, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            for pid in workers(self.group):
                self.peaks[pid] = max(self.peaks.get(pid, 0), rss_bytes(pid))
            if self._done.wait(self.every):
                return
