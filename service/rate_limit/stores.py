"""The GCRA stores' shared parts, and the in-process store: a request's limits, checked and
updated in one step.

quart-rate-limiter's `RateLimiterStoreABC` offers only `get` and `set` of one key, and
its limiter reads every limit, then reads and writes each again: requests on several
instances interleave between the read and the write and overshoot, and its Redis keys
never expire. These stores answer one `hit` per request instead (see `redis_store.py` for
Redis), and every key carries a TTL.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from quart_rate_limiter import RateLimit


@dataclass(frozen=True, slots=True)
class Rate:
    """A limit in the numbers the algorithm uses, worked out once per route."""

    count: int
    period: float  # seconds
    interval: float  # the emission interval: period / count
    slack: float  # how far ahead of now a bucket may run: period - interval

    @classmethod
    def of(cls, limit: RateLimit) -> Rate:
        period = limit.period.total_seconds()
        return cls(limit.count, period, period / limit.count, period - period / limit.count)


class Hit(NamedTuple):
    """A request counted: its RateLimit-* headers, seconds to wait (0: allowed), and the
    values of the keys it asked to read (none when refused or when the store has no keys)."""

    headers: dict[str, str]
    retry_after: int
    read: dict[str, bytes | None]


def outcome(
    rates: Sequence[Rate],
    separations: Sequence[float],
    refused: int | None = None,
    read: dict[str, bytes | None] | None = None,
    spare: Sequence[int] = (),
) -> Hit:
    """A hit's RateLimit-* headers, and the whole seconds to wait when refused (else 0).

    `separations`: per limit, seconds from now until its bucket is empty again (its
    theoretical arrival). The headers describe the limit closest to running out (on a
    refusal, the one hit); the library's own describe the limit with the shortest period,
    which is not always the one about to refuse (2/minute beside 100/hour is, 100/minute
    beside 3/hour is not). `spare`: per limit, requests this process took ahead and holds.
    """
    # Redis computes times as floats of the epoch, good to about 0.25 µs: a thousandth of a
    # slot absorbs that (with 1e-9, a bucket that had spent one slot could show two).
    remaining = [
        max(0, int((rate.period - separation) / rate.interval + 1e-3))
        for rate, separation in zip(rates, separations, strict=True)
    ]
    for limit, held in enumerate(spare):
        remaining[limit] = min(rates[limit].count, remaining[limit] + held)
    index = refused
    if index is None:
        index = min(range(len(rates)), key=lambda i: (remaining[i], -separations[i]))
        retry_after = 0
    else:
        # Refused: its separation exceeds its slack (Lua's numbers are rounded, hence max).
        remaining[index] = 0
        retry_after = max(1, math.ceil(separations[index] - rates[index].slack))
    headers = {
        "RateLimit-Limit": str(rates[index].count),
        "RateLimit-Remaining": str(remaining[index]),
        "RateLimit-Reset": str(math.ceil(separations[index])),
    }
    return Hit(headers, retry_after, read or {})


class MemoryGCRAStore:
    """In-process store for the embedded default; atomic because it never awaits."""

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}

    async def hit(
        self, keys: Sequence[str], rates: Sequence[Rate], reads: Callable[[], Sequence[str]]
    ) -> Hit:
        now = time.time()
        if len(self._tats) > 10_000:
            # The in-memory twin of Redis TTLs: a TAT in the past is the same as no entry.
            self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        tats = [max(self._tats.get(key, 0.0), now) for key in keys]
        for index, (tat, rate) in enumerate(zip(tats, rates, strict=True)):
            if tat - now > rate.slack:
                return outcome(rates, [tat - now for tat in tats], index)
        for key, tat, rate in zip(keys, tats, rates, strict=True):
            self._tats[key] = tat + rate.interval
        return outcome(rates, [self._tats[key] - now for key in keys])
