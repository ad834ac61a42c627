"""Exact client-side rate windows shared by a fleet: one Lua script per request, atomic on the server.

Each rule's window is a sorted set of reserved send times. The script drops times older than the rule's
longest period, computes the earliest slot every window allows and, if the caller will wait that long,
reserves it, all in one step on the server: N hosts at an RPM limit of L send at most L a minute
together, however they interleave. It is the one round trip on a call's path with the Redis backend,
and only for a provider with client-side limits: one ``EVALSHA`` on a connection the event loop keeps
open, shared by concurrent calls (``_resp``): no pool, no thread hop.

    limiter = RedisRateLimiter(RedisHealthStore("redis://127.0.0.1:6379/0"))
    wait = await limiter.reserve_async(limit_rules("groq", "llama", rpm=30), time.time(), max_wait=60)
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import uuid
from collections.abc import Sequence
from typing import Any

from ._resp import ReplyError, RespConnection
from .ratelimit import RateLimiter, Rule
from .redis_state import RedisHealthStore, _Outage

__all__ = ["RedisRateLimiter"]

# The rate window's round trip takes well under a millisecond; a slow answer is still waited for this
# long, because falling back to this process's own windows lets a fleet send more than the limit.
_RESERVE_TIMEOUT_S = 2.0
_CONNECT_TIMEOUT_S = 1.0

# KEYS: one sorted set per rule. ARGV: now, max_wait, member, then per rule: keep_s, n, (limit, period) * n.
# Returns the wait in seconds as a string (Lua numbers would be truncated to integers on the way out).
_RESERVE = """
local now = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local member = ARGV[3]
local slot = now
local at = 4
local keeps = {}
for i, key in ipairs(KEYS) do
  local keep = tonumber(ARGV[at]); local n = tonumber(ARGV[at + 1]); at = at + 2
  keeps[i] = keep
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - keep)
  local count = redis.call('ZCARD', key)
  for _ = 1, n do
    local limit = tonumber(ARGV[at]); local period = tonumber(ARGV[at + 1]); at = at + 2
    if limit <= 0 then return 'inf' end
    if count >= limit then
      local nth = redis.call('ZRANGE', key, -limit, -limit, 'WITHSCORES')
      local candidate = tonumber(nth[2]) + period
      if candidate > slot then slot = candidate end
    end
  end
end
local wait = slot - now
if wait > max_wait then return tostring(wait) end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, slot, member .. ':' .. i)
  redis.call('EXPIRE', key, math.ceil(keeps[i]) + 60)
end
return tostring(wait)
"""
_RESERVE_SHA = hashlib.sha1(_RESERVE.encode()).hexdigest()


class RedisRateLimiter(RateLimiter):
    """Exact client-side windows shared by every host: one atomic script reserves the earliest slot.

    The script goes out as one ``EVALSHA`` on a connection this event loop keeps open, written at once
    and answered in order (``_resp``): concurrent calls share the socket instead of queueing for a
    pooled connection, and nothing hops to a thread. Redis down: this process's own windows (the file
    backend's behaviour, per process) until it answers again.
    """

    def __init__(self, health: RedisHealthStore) -> None:
        super().__init__(health)
        self.store = health
        self.outage = _Outage("rate windows")
        self._conns: dict[int, tuple[asyncio.AbstractEventLoop, RespConnection]] = {}
        self._opening: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Task[RespConnection]]] = {}
        # Members of the sorted sets: unique across hosts without a uuid per call.
        self._me = uuid.uuid4().hex[:12]
        self._count = itertools.count()

    async def reserve_async(self, rules: Sequence[Rule], now: float, max_wait: float) -> float:
        if not rules:
            return 0.0
        if self.outage.resting():
            return self.reserve(rules, now, max_wait)
        args: list[Any] = [len(rules)]
        args += [f"{self.store.namespace}rate:{rule.key}" for rule in rules]
        args += [repr(now), repr(max_wait), f"{self._me}{next(self._count)}"]
        for rule in rules:
            args += [max(w.period_s for w in rule.windows), len(rule.windows)]
            for window in rule.windows:
                args += [window.limit, window.period_s]
        try:
            loop = asyncio.get_running_loop()
            found = self._conns.get(id(loop))
            conn = found[1] if found is not None and found[0] is loop and found[1].usable else await self._connect(loop)
            try:
                answer = await conn.call("EVALSHA", _RESERVE_SHA, *args, timeout=_RESERVE_TIMEOUT_S)
            except ReplyError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
                answer = await conn.call("EVAL", _RESERVE, *args, timeout=_RESERVE_TIMEOUT_S)
        except (OSError, ReplyError) as exc:  # ConnectionError and TimeoutError are OSErrors
            self.outage.failed(exc)
            return self.reserve(rules, now, max_wait)
        self.outage.ok()
        return float(answer)

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
        key = id(asyncio.get_running_loop())
        found = self._conns.pop(key, None)
        self._opening.pop(key, None)
        if found is not None:
            found[1].close()
