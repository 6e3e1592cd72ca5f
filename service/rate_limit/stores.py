"""Atomic, expiring GCRA stores: all of a request's limits checked and updated in one step.

quart-rate-limiter's `RateLimiterStoreABC` offers only `get` and `set` of one key, and
its limiter reads every limit, then reads and writes each again: requests on several
instances interleave between the read and the write and overshoot, and its Redis keys
never expire. These stores answer one `hit` per request instead (a Lua script in Redis,
a plain function in memory), and every key carries a TTL.

A hit may also read other keys for the request (`reads`): the login's state rides on the
limiter's round trip instead of costing one of its own.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from quart import current_app
from quart_rate_limiter import RateLimit
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

# KEYS: one per limit, then the keys to read. ARGV: per limit, its slack (period - emission
# interval) and its emission interval, in seconds. Returns {1, tat_1 - now, ..., then each
# read key's value} when allowed (all updated), or {0, i, tat_i - now} for the first limit
# that refuses (nothing updated). One MGET reads everything: each redis.call costs Redis
# about as much as a command of its own.
# Numbers go out as strings because Redis truncates Lua floats to integers.
_GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local limits = #ARGV / 2
local found = redis.call('MGET', unpack(KEYS))
local tats = {}
for i = 1, limits do
  tats[i] = math.max(tonumber(found[i] or '0'), now)
  if tats[i] - now > tonumber(ARGV[2 * i - 1]) then
    return {0, i, tostring(tats[i] - now)}
  end
end
local result = {1}
for i = 1, limits do
  local tat = tats[i] + tonumber(ARGV[2 * i])
  redis.call('SET', KEYS[i], tostring(tat), 'PX', math.ceil((tat - now) * 1000))
  result[i + 1] = tostring(tat - now)
end
for i = limits + 1, #KEYS do
  result[i + 1] = found[i]
end
return result
"""
_GCRA_SHA = hashlib.sha1(_GCRA_SCRIPT.encode(), usedforsecurity=False).hexdigest()


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


def _outcome(
    rates: Sequence[Rate],
    separations: Sequence[float],
    refused: int | None = None,
    read: dict[str, bytes | None] | None = None,
) -> Hit:
    """A hit's RateLimit-* headers, and the whole seconds to wait when refused (else 0).

    `separations`: per limit, seconds from now until its bucket is empty again (its
    theoretical arrival). The headers describe the limit closest to running out (on a
    refusal, the one hit); the library's own describe the limit with the shortest period,
    which is not always the one about to refuse (2/minute beside 100/hour is, 100/minute
    beside 3/hour is not).
    """
    remaining = [
        max(0, int((rate.period - separation) / rate.interval + 1e-9))
        for rate, separation in zip(rates, separations, strict=True)
    ]
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

    async def hit(self, keys: Sequence[str], rates: Sequence[Rate], reads: Sequence[str]) -> Hit:
        now = time.time()
        if len(self._tats) > 10_000:
            # The in-memory twin of Redis TTLs: a TAT in the past is the same as no entry.
            self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        tats = [max(self._tats.get(key, 0.0), now) for key in keys]
        for index, (tat, rate) in enumerate(zip(tats, rates, strict=True)):
            if tat - now > rate.slack:
                return _outcome(rates, [tat - now for tat in tats], index)
        for key, tat, rate in zip(keys, tats, rates, strict=True):
            self._tats[key] = tat + rate.interval
        return _outcome(rates, [self._tats[key] - now for key in keys])


class RedisGCRAStore:
    """Redis store: one Lua round trip per request, a TTL on every key."""

    async def hit(self, keys: Sequence[str], rates: Sequence[Rate], reads: Sequence[str]) -> Hit:
        # The app's client, made when it starts serving.
        client: Redis | None = current_app.extensions["redis_client"].client
        if client is None:
            raise RedisError("Redis is not connected")
        arguments = [value for rate in rates for value in (rate.slack, rate.interval)]
        keys_and_arguments: list[str | float] = [*keys, *reads, *arguments]
        # By digest: the script's text goes to Redis only when Redis does not know it yet.
        try:
            reply: list[Any] = await client.evalsha(
                _GCRA_SHA, len(keys) + len(reads), *keys_and_arguments
            )
        except NoScriptError:
            await client.script_load(_GCRA_SCRIPT)
            reply = await client.evalsha(_GCRA_SHA, len(keys) + len(reads), *keys_and_arguments)
        if int(reply[0]) == 1:
            separations = [float(value) for value in reply[1 : len(keys) + 1]]
            read = dict(zip(reads, reply[len(keys) + 1 :], strict=True))
            return _outcome(rates, separations, read=read)
        index = int(reply[1]) - 1
        separations = [0.0] * len(keys)
        separations[index] = float(reply[2])
        return _outcome(rates, separations, index)
