"""argon2id password hashing, run in worker threads so the event loop stays free."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError
from quart import Quart

from service.config import Settings
from service.database.deadline import deadline_paused

T = TypeVar("T")


def _lower_priority() -> None:
    # Linux schedules threads as tasks: a niced hashing thread yields the CPU to the event
    # loop's thread, so other requests stay fast while logins hash.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


# One thread per core: argon2 releases the GIL, and more threads than cores only queue.
hashing_pool = ThreadPoolExecutor(
    max_workers=os.cpu_count() or 1, thread_name_prefix="argon2", initializer=_lower_priority
)


class Passwords:
    """The password hasher at the app's settings' cost; hashes made at other costs are
    upgraded at login. Every hash and check runs on the hashing pool's threads."""

    def __init__(self) -> None:
        self.hasher = PasswordHasher()

    def init_app(self, app: Quart) -> None:
        self.configure(app.extensions["settings"])

    def configure(self, settings: Settings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.PASSWORD_HASH_TIME_COST,
            memory_cost=settings.PASSWORD_HASH_MEMORY_KIB,
            parallelism=settings.PASSWORD_HASH_PARALLELISM,
        )

    async def hash_password(self, password: str) -> str:
        return await _off_loop(self.hasher.hash, password)

    async def verify_password(self, password_hash: str, password: str) -> bool:
        return await _off_loop(_verify, self.hasher, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of a real verification, so unknown emails cannot be told apart."""
        # In the worker thread: the first call at a cost also makes its dummy hash.
        await _off_loop(lambda: _verify(self.hasher, _dummy_hash(self.hasher), password))

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)

    @staticmethod
    def is_argon2id_hash(value: str) -> bool:
        """Whether `value` is a well-formed argon2id hash string (for imports)."""
        try:
            return value.startswith("$argon2id$") and bool(extract_parameters(value))
        except InvalidHashError:
            return False


async def _off_loop(function: Callable[..., T], *args: Any) -> T:
    with deadline_paused():
        return await asyncio.get_running_loop().run_in_executor(hashing_pool, function, *args)


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash at this hasher's cost, to verify unknown emails against."""
    return hasher.hash("not-a-real-password")
