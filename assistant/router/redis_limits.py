"""Exact client-side rate windows shared by a fleet, with slots leased in batches so most calls make no round trip.

Each rule's window is a sorted set in Redis: one entry per reserved slot, scored with the latest time
that slot may be sent. One Lua script, atomic on the server, drops entries too old to matter and then
- reserves this call's slot: the earliest time every window allows, if the caller waits that long;
- and/or leases a batch: ``n`` slots this host may hand out from now until ``now + LEASE_TTL_S``, each
  scored with that end, granted only while they fit every window at once.

Why the fleet still sends at most L in any window of P seconds: a slot usable from ``a`` is only
placed when ``a`` is at least P after the L-th latest score (for a lease of n: only while at most L - n
scores lie in the last P seconds). Suppose some P-second span held L + 1 sends, and take the one
reserved last: when it was reserved, at most L - 1 of the other L scored later than that L-th latest
score, so one of them was sent no later than its score, at least P before ``a``, outside the span.
So a leased slot counts in the window from when it was leased until its end + P: handed out early,
it blocks its window a little longer than a slot reserved per call (at most ``LEASE_TTL_S`` of a
60 s window). Slots are taken out again only when never sent: this host gives back a lease's unused
rest once it will not hand it out any more (expired, or the host closes), and a slot nobody sent is
in no span. A host that dies holding a lease cannot say what it sent, so its slots stay counted
until they leave the window.

Fairness vs exactness: exactness is never traded. The cost of leasing is that slots one host holds
are not available to the others for up to ``LEASE_TTL_S`` (or, if it dies, for the window), so a
lease is kept small (``_leases``): the last quarter second of this host's own calls, at most 1 % of any
window's limit and at most a quarter of what the window has left (checked here, on the server).
Near a full window a lease rounds to nothing, and every call reserves its own slot, queued in
order across the fleet as before; limits under 200 are never leased at all (too few calls for a
round trip to matter, and a crashed host must not take a slice of a small daily allowance).

Hot path: a leased slot is handed out locally, and when the stock falls to half of the next lease,
the next one is asked for in the background; only a host without stock (its first calls, a slow
caller, a nearly full window) sends the script on the call's path: one ``EVALSHA`` on a connection
this event loop keeps open, shared by concurrent calls (``_resp``), which also asks for a lease when
one is due. Redis down: leased slots still valid are handed out (the fleet's window holds them), then
this process's own windows until Redis answers again; slots that could not be given back leave the
window with time.

    limiter = RedisRateLimiter(RedisHealthStore("redis://127.0.0.1:6379/0"))
    wait = await limiter.reserve_async(limit_rules("groq", "llama", rpm=3000), time.time(), max_wait=60)
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any

from ._leases import LEASE_SHARE, LEASE_TTL_S, Lease, LeasePool
from ._resp import ReplyError, RespConnection
from .ratelimit import RateLimiter, Rule
from .redis_state import RedisHealthStore, _Outage

__all__ = ["RedisRateLimiter"]

# The rate window's round trip takes well under a millisecond; a slow answer is still waited for this
# long, because falling back to this process's own windows lets a fleet send more than the limit.
_RESERVE_TIMEOUT_S = 2.0
_CONNECT_TIMEOUT_S = 1.0

# KEYS: one sorted set per rule. ARGV: now, max_wait, member ('' when the caller needs no slot of its
# own), lease size wanted, lease member prefix, lease end, then per rule: keep_s, n, (limit, period) * n.
# Returns {wait, leased}: the wait in seconds as a string (Lua numbers would be truncated to integers
# on the way out), and how many slots were leased (only when the caller's own slot, if any, is now).
# Scores are compared through '%.17g' so a bound survives the trip to a string exactly.
_RESERVE = """
local now = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local member = ARGV[3]
local want = tonumber(ARGV[4])
local lease = ARGV[5]
local lease_end = tonumber(ARGV[6])
local slot = now
local at = 7
local keeps, windows = {}, {}
for i, key in ipairs(KEYS) do
  local keep = tonumber(ARGV[at]); local n = tonumber(ARGV[at + 1]); at = at + 2
  keeps[i] = keep
  windows[i] = {}
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - keep)
  local count = redis.call('ZCARD', key)
  for w = 1, n do
    local limit = tonumber(ARGV[at]); local period = tonumber(ARGV[at + 1]); at = at + 2
    if limit <= 0 then return {'inf', 0} end
    windows[i][w] = {limit, period}
    if member ~= '' and count >= limit then
      local nth = redis.call('ZRANGE', key, -limit, -limit, 'WITHSCORES')
      local candidate = tonumber(nth[2]) + period
      if candidate > slot then slot = candidate end
    end
  end
end
local wait = slot - now
if wait > max_wait then return {tostring(wait), 0} end
if member ~= '' then
  for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, slot, member .. ':' .. i)
  end
end
local leased = 0
if want > 0 and wait <= 0 then
  leased = want
  for i, key in ipairs(KEYS) do
    for _, window in ipairs(windows[i]) do
      local used = redis.call('ZCOUNT', key, '(' .. string.format('%.17g', now - window[2]), '+inf')
      local share = math.floor((window[1] - used) / 4)
      if share < leased then leased = share end
    end
  end
  if leased > 0 then
    for i, key in ipairs(KEYS) do
      local entries = {}
      for j = 1, leased do
        entries[2 * j - 1] = lease_end
        entries[2 * j] = lease .. j .. ':' .. i
      end
      redis.call('ZADD', key, unpack(entries))
    end
  else
    leased = 0
  end
end
for i, key in ipairs(KEYS) do
  redis.call('EXPIRE', key, math.ceil(keeps[i]) + 60)
end
return {tostring(wait), leased}
"""
_RESERVE_SHA = hashlib.sha1(_RESERVE.encode()).hexdigest()

# KEYS: the lease's sorted sets. ARGV: its member prefix, the first and last unused slot. Removes slots
# this host will never send.
_RETURN = """
for i, key in ipairs(KEYS) do
  local members = {}
  for j = tonumber(ARGV[2]), tonumber(ARGV[3]) do
    members[#members + 1] = ARGV[1] .. j .. ':' .. i
  end
  redis.call('ZREM', key, unpack(members))
end
return 1
"""
_RETURN_SHA = hashlib.sha1(_RETURN.encode()).hexdigest()


class RedisRateLimiter(RateLimiter):
    """Exact client-side windows shared by every host, leased in small batches (see the module docstring).

    Redis down: this process's own windows (the file backend's behaviour, per process) until it answers again.
    """

    #: the most of any window's limit one lease may hold (tests raise it to lease harder)
    lease_share = LEASE_SHARE

    def __init__(self, health: RedisHealthStore) -> None:
        super().__init__(health)
        self.store = health
        self.outage = _Outage("rate windows")
        self._conns: dict[int, tuple[asyncio.AbstractEventLoop, RespConnection]] = {}
        self._opening: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Task[RespConnection]]] = {}
        self._pools: dict[tuple[Rule, ...], LeasePool] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Members of the sorted sets: unique across hosts without a uuid per call.
        self._me = uuid.uuid4().hex[:12]
        self._count = itertools.count()

    async def reserve_async(self, rules: Sequence[Rule], now: float, max_wait: float) -> float:
        if not rules:
            return 0.0
        if not isinstance(rules, tuple):
            rules = tuple(rules)
        pool = self._pools.get(rules)
        if pool is None:
            pool = self._pool(rules)
        mono = time.monotonic()
        pool.note_call(mono)
        if pool.leases:
            got, expired = pool.take(now)
            for lease in expired:
                self._give_back(lease)
            if got:
                if not pool.refilling and not self.outage.resting():
                    want = pool.want(mono)
                    if want and pool.stock() <= want // 2:
                        pool.refilling = True
                        self._behind(self._refill(pool, now, want))
                return 0.0
        if self.outage.resting():
            return self.reserve(rules, now, max_wait)
        want = 0 if pool.refilling else pool.want(mono)
        pool.refilling = pool.refilling or want > 0
        try:
            wait, lease = await self._script(pool, now, max_wait, own=True, want=want)
        except (OSError, ReplyError) as exc:  # ConnectionError and TimeoutError are OSErrors
            self.outage.failed(exc)
            return self.reserve(rules, now, max_wait)
        finally:
            if want:
                pool.refilling = False
        self.outage.ok()
        if lease is not None:
            self._stock(pool, lease)
        return wait

    def _pool(self, rules: tuple[Rule, ...]) -> LeasePool:
        args: list[Any] = []
        for rule in rules:
            args += [max(w.period_s for w in rule.windows), len(rule.windows)]
            for window in rule.windows:
                args += [window.limit, window.period_s]
        keys = [f"{self.store.namespace}rate:{rule.key}" for rule in rules]
        pool = self._pools[rules] = LeasePool(rules, share=self.lease_share, keys=keys, args=args)
        return pool

    async def _script(self, pool: LeasePool, now: float, max_wait: float, *, own: bool,
                      want: int) -> tuple[float, Lease | None]:
        member = f"{self._me}{next(self._count)}" if own else ""
        leased = f"{self._me}{next(self._count)}." if want else ""
        until = now + LEASE_TTL_S
        answer = await self._eval(_RESERVE, _RESERVE_SHA, len(pool.keys), *pool.keys, repr(now), repr(max_wait),
                                  member, want, leased, repr(until), *pool.args)
        granted = int(answer[1])
        return float(answer[0]), (Lease(leased, until, granted, pool.keys) if granted > 0 else None)

    async def _eval(self, script: str, sha: str, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        found = self._conns.get(id(loop))
        conn = found[1] if found is not None and found[0] is loop and found[1].usable else await self._connect(loop)
        try:
            return await conn.call("EVALSHA", sha, *args, timeout=_RESERVE_TIMEOUT_S)
        except ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await conn.call("EVAL", script, *args, timeout=_RESERVE_TIMEOUT_S)

    # --- leases: asked for ahead of need, given back when they will not be used -----------------------

    async def _refill(self, pool: LeasePool, now: float, want: int) -> None:
        try:
            _, lease = await self._script(pool, now, 0.0, own=False, want=want)
        except (OSError, ReplyError) as exc:
            self.outage.failed(exc)
            return
        finally:
            pool.refilling = False
        self.outage.ok()
        if lease is not None:
            self._stock(pool, lease)

    def _stock(self, pool: LeasePool, lease: Lease) -> None:
        pool.leases.append(lease)
        asyncio.get_running_loop().call_later(LEASE_TTL_S, self._expire, pool, lease)

    def _expire(self, pool: LeasePool, lease: Lease) -> None:
        if pool.remove(lease):
            self._give_back(lease)

    def _give_back(self, lease: Lease) -> None:
        # Redis resting: the slots leave the window with time instead.
        if lease.unused > 0 and not self.outage.resting():
            self._behind(self._return(lease))

    async def _return(self, lease: Lease) -> None:
        try:
            await self._eval(_RETURN, _RETURN_SHA, len(lease.keys), *lease.keys, lease.member, lease.next, lease.last)
        except (OSError, ReplyError) as exc:
            self.outage.failed(exc)

    def _behind(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- connections --------------------------------------------------------------------------------

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> RespConnection:
        """This loop's connection; concurrent callers wait for the same one to open."""
        key = id(loop)
        opening = self._opening.get(key)
        if opening is None or opening[0] is not loop or opening[1].done():
            task = loop.create_task(RespConnection.open(self.store.url, timeout=_CONNECT_TIMEOUT_S))
            opening = self._opening[key] = (loop, task)
        conn = await asyncio.shield(opening[1])
        if self._conns.get(key, (None, conn))[1] is not conn:
            self._forget_closed_loops()
        self._conns[key] = (loop, conn)
        return conn

    def _forget_closed_loops(self) -> None:
        for key, (loop, conn) in list(self._conns.items()):
            if loop.is_closed():
                conn.close()
                del self._conns[key]
                self._opening.pop(key, None)

    async def aclose(self) -> None:
        """Give back every leased slot not handed out, then close this loop's connection."""
        loop = asyncio.get_running_loop()
        pending = [task for task in self._tasks if task.get_loop() is loop]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)  # a lease on its way is given back too
        leases = [lease for pool in self._pools.values() for lease in pool.leases if lease.unused > 0]
        for pool in self._pools.values():
            pool.leases.clear()
        if leases and not self.outage.resting():
            await asyncio.gather(*(self._return(lease) for lease in leases))
        key = id(loop)
        found = self._conns.pop(key, None)
        self._opening.pop(key, None)
        if found is not None:
            found[1].close()
