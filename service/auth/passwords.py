"""argon2id password hashing, run in worker threads so the event loop stays free."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError
from quart import Quart

from service.config import Settings

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


class _Hashing:
    """The hasher at the settings' cost (a class attribute, so `configure` can replace it)."""

    hasher = PasswordHasher()


def init_app(app: Quart) -> None:
    """Hash at the app's settings' cost; hashes made at other costs are upgraded at login."""
    configure(app.extensions["settings"])


def configure(settings: Settings) -> None:
    _Hashing.hasher = PasswordHasher(
        time_cost=settings.PASSWORD_HASH_TIME_COST,
        memory_cost=settings.PASSWORD_HASH_MEMORY_KIB,
        parallelism=settings.PASSWORD_HASH_PARALLELISM,
    )


async def _off_loop(function: Callable[..., T], *args: str) -> T:
    return await asyncio.get_running_loop().run_in_executor(hashing_pool, function, *args)


async def hash_password(password: str) -> str:
    return await _off_loop(_Hashing.hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _Hashing.hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str, password: str) -> bool:
    return await _off_loop(_verify, password_hash, password)


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash at this hasher's cost, to verify unknown emails against."""
    return hasher.hash("not-a-real-password")


async def verify_dummy(password: str) -> None:
    """Spend the time of a real verification, so unknown emails cannot be told apart."""
    # In the worker thread: the first call at a cost also makes its dummy hash.
    await _off_loop(lambda: _verify(_dummy_hash(_Hashing.hasher), password))


def needs_rehash(password_hash: str) -> bool:
    return _Hashing.hasher.check_needs_rehash(password_hash)


def is_argon2id_hash(value: str) -> bool:
    """Whether `value` is a well-formed argon2id hash string (for imports)."""
    try:
        return value.startswith("$argon2id$") and bool(extract_parameters(value))
    except InvalidHashError:
        return False
