"""The Redis GCRA store: one Lua step per request, or none while this process holds a lease.

Counting in Redis is what makes limits hold across instances, but a Lua call costs Redis
ten to twenty times a plain read, for every request. So a step may take more than the
request's own slot of a limit, when the client keeps a pace and plenty are left: twice
what it spent here since its last step, if that was under LEASE_SECONDS ago, but at most
a tenth of what is left and at most LEASE_LARGEST. The process spends the rest on the
client's next requests for up to LEASE_SECONDS without asking Redis (what it did not
spend is forfeit, as if used; a client slower than a request a second never leases).
Taken slots count as used in Redis at once, so all instances together never allow more
than the limit; a client spread over instances may at worst be refused a little early.
Limits with few requests left (a login's 5/minute) never lease: every request counts in
Redis, exactly.

A step also reads other keys for the request (`reads`): the login's state rides on the
limiter's round trip instead of costing one of its own.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from quart import current_app
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from service.rate_limit.stores import Hit, Rate, outcome

LEASE_LARGEST = 100  # requests one step may take ahead, per limit
LEASE_SECONDS = 1.0  # how long the process may spend them
LEASE_SHARE = 10  # a step takes at most 1/LEASE_SHARE of what is left
_clock = time.monotonic  # the lease's clock (tests move it)

# KEYS: one per limit, then the keys to read. ARGV: per limit, its slack (period - emission
# interval), its emission interval (seconds) and the most requests the step may take.
# Returns {1, taken_1, tat_1 - now, ..., then each read key's value} when allowed (all
# updated), or {0, i, tat_i - now} for the first limit that refuses (nothing updated).
# One MGET reads everything: each redis.call costs Redis about as much as a command of
# its own. Numbers go out as strings because Redis truncates Lua floats to integers.
_GCRA_SCRIPT = f"""
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local limits = #ARGV / 3
local found = redis.call('MGET', unpack(KEYS))
local tats, takes = {{}}, {{}}
for i = 1, limits do
  local slack, interval = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
  tats[i] = math.max(tonumber(found[i] or '0'), now)
  local ahead = tats[i] - now
  if ahead > slack then
    return {{0, i, tostring(ahead)}}
  end
  local left = math.floor((slack - ahead) / interval + 1e-9) + 1
  takes[i] = math.max(1, math.min(tonumber(ARGV[3 * i]), math.floor(left / {LEASE_SHARE})))
end
local result = {{1}}
for i = 1, limits do
  local tat = tats[i] + takes[i] * tonumber(ARGV[3 * i - 1])
  redis.call('SET', KEYS[i], tostring(tat), 'PX', math.ceil((tat - now) * 1000))
  result[2 * i] = takes[i]
  result[2 * i + 1] = tostring(tat - now)
end
for i = limits + 1, #KEYS do
  result[limits + i + 1] = found[i]
end
return result
"""
GCRA_SHA = hashlib.sha1(_GCRA_SCRIPT.encode(), usedforsecurity=False).hexdigest()


@dataclass(slots=True)
class _Lease:
    """Requests of one limit key this process took ahead and has not spent yet."""

    left: int
    separation: float  # the key's theoretical arrival time minus now, when taken
    taken: float  # _clock()
    size: int  # slots its step took
    spent: int = 1  # slots spent since, the step's own request included

    def usable(self, now: float, renewing: bool = False) -> bool:
        """Whether it has a slot to spend (`renewing`: and more than a quarter left)."""
        return self.left > (self.size // 4 if renewing else 0) and now - self.taken < LEASE_SECONDS


class RedisGCRAStore:
    """Redis store: a TTL on every key; at most one Lua round trip per request."""

    def __init__(self) -> None:
        self._leases: dict[str, _Lease] = {}
        self._leasing: set[str] = set()  # keys a step is taking a lease for right now

    async def hit(
        self, keys: Sequence[str], rates: Sequence[Rate], reads: Callable[[], Sequence[str]]
    ) -> Hit:
        # A lease running low is renewed by the next request while no step is on its way
        # (the others spend what is left): under steady load a lease never runs dry.
        renewing = self._leasing.isdisjoint(keys)
        return self._spend(keys, rates, renewing) or await self._step(keys, rates, reads())

    def _spend(
        self, keys: Sequence[str], rates: Sequence[Rate], renewing: bool = False
    ) -> Hit | None:
        """The request counted from this process's leases, if it holds one for every key."""
        now = _clock()
        held = [self._leases.get(key) for key in keys]
        leases = [lease for lease in held if lease is not None and lease.usable(now, renewing)]
        if len(leases) < len(keys):
            return None
        for lease in leases:
            lease.left -= 1
            lease.spent += 1
        separations = [max(0.0, lease.separation - (now - lease.taken)) for lease in leases]
        return outcome(rates, separations, spare=[lease.left for lease in leases])

    async def _step(self, keys: Sequence[str], rates: Sequence[Rate], reads: Sequence[str]) -> Hit:
        wants = [self._wanted(key) for key in keys]
        self._leasing.update(keys)
        arguments = [
            value
            for rate, want in zip(rates, wants, strict=True)
            for value in (rate.slack, rate.interval, want)
        ]
        try:
            reply = await _evaluate([*keys, *reads], arguments, len(keys) + len(reads))
        finally:
            self._leasing.difference_update(keys)
        if int(reply[0]) != 1:
            index = int(reply[1]) - 1
            separations = [0.0] * len(keys)
            separations[index] = float(reply[2])
            # A lease taken while this step was on its way still holds slots to spend.
            return self._spend(keys, rates) or outcome(rates, separations, index)
        now = _clock()
        if len(self._leases) > 10_000:
            self._leases = {k: v for k, v in self._leases.items() if now - v.taken < LEASE_SECONDS}
        separations, spare = [], []
        for n, key in enumerate(keys):
            taken, separation = int(reply[2 * n + 1]), float(reply[2 * n + 2])
            old = self._leases.get(key)
            left = taken - 1 + (old.left if old is not None and old.usable(now) else 0)
            # Kept with no slot left too: the next step reads the client's pace from it.
            self._leases[key] = _Lease(left, separation, now, taken)
            separations.append(separation)
            spare.append(left)
        read = dict(zip(reads, reply[2 * len(keys) + 1 :], strict=True))
        return outcome(rates, separations, read=read, spare=spare)

    def _wanted(self, key: str) -> int:
        """Slots to ask for: one, unless the client keeps a pace (see the module's doc)."""
        lease = self._leases.get(key)
        if key in self._leasing or lease is None or _clock() - lease.taken >= LEASE_SECONDS:
            return 1  # one step per key at a time asks for more
        return min(LEASE_LARGEST, 2 * lease.spent)


async def _evaluate(keys: list[str], arguments: list[float], count: int) -> list[Any]:
    # The app's client, made when it starts serving.
    client: Redis | None = current_app.extensions["redis_client"].client
    if client is None:
        raise RedisError("Redis is not connected")
    # By digest: the script's text goes to Redis only when Redis does not know it yet.
    try:
        reply: list[Any] = await client.evalsha(GCRA_SHA, count, *keys, *arguments)
    except NoScriptError:
        await client.script_load(_GCRA_SCRIPT)
        reply = await client.evalsha(GCRA_SHA, count, *keys, *arguments)
    return reply
