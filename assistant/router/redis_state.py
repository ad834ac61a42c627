"""Routing state in Redis, for fleets: the health document, exact rate windows and key positions.

- Health (cooldowns, breakers, auto-disables) is one JSON document. Every change is the same operation
  the file backend applies, run on a fresh copy under ``WATCH``/``MULTI`` (optimistic, retried on a
  conflict), so two hosts never overwrite each other's news; the key expires a day after the last write.
  A write bumps a version counter and is published on a channel; a listener thread marks the local copy
  stale, and the next call re-reads it (one round trip, only after a change). Reads stay in memory.
- Rate windows are sorted sets changed by one Lua script that computes the earliest slot every window
  allows and reserves it atomically: N hosts at an RPM limit of L send at most L a minute together.
- Key-rotation positions live in a hash, so a host that rotated after a 429 moves the others too
  instead of each host flipping keys on its own.
- Redis down or slow: calls go on with this process's own state, a warning is logged once, changes
  stay queued and are written (merged onto Redis's copy) when it answers again.

The client is redis-py's synchronous one, run in worker threads: the same code serves the event loop,
the CLI and interpreter exit. Socket timeouts are short, so a call never waits long on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from .health import HealthDoc, HealthStore, _prune
from .policies import Breaker
from .ratelimit import RateLimiter, Rule

__all__ = ["RedisHealthStore", "RedisRateLimiter", "PREFIX"]

log = logging.getLogger(__name__)

PREFIX = "assistant:"
_TTL_S = 86400
_SOCKET_TIMEOUT_S = 0.25
_RETRY_S = 2.0
_POOL_SIZE = 8
_RESERVE_TIMEOUT_S = 5.0

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


def _redis() -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - depends on the install
        from ..errors import UsageError

        raise UsageError("a redis:// state URL needs the redis package: pip install 'assistant[redis]'") from None
    return redis


class _Outage:
    """Warn once when Redis stops answering, once when it is back; say when to try again."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.down_since: float | None = None

    def failed(self, exc: BaseException) -> None:
        if self.down_since is None:
            log.warning("%s: Redis is not answering (%s); going on with this process's own state", self.what,
                        type(exc).__name__)
        self.down_since = time.monotonic()

    def ok(self) -> None:
        if self.down_since is not None:
            log.warning("%s: Redis answers again; shared state resumed", self.what)
        self.down_since = None

    def resting(self) -> bool:
        return self.down_since is not None and time.monotonic() - self.down_since < _RETRY_S


class _KeyPositions(dict):  # type: ignore[type-arg]
    """The router's ``provider -> key index`` map; a change is written to Redis behind the caller."""

    def __init__(self, store: RedisHealthStore) -> None:
        super().__init__()
        self._store = store

    def __setitem__(self, provider: str, index: int) -> None:
        super().__setitem__(provider, index)
        self._store._write_key_position(provider, index)

    def replace(self, positions: dict[str, int]) -> None:
        super().clear()
        super().update(positions)


class RedisHealthStore(HealthStore):
    """``HealthStore`` whose document lives in Redis (see the module docstring).

        health = RedisHealthStore("redis://127.0.0.1:6379/0")
    """

    def __init__(self, url: str, *, namespace: str = PREFIX, clock: Callable[[], float] = time.time,
                 breaker: Breaker | None = None, client: Any = None) -> None:
        super().__init__(path=f"<redis>/{namespace}health", clock=clock, breaker=breaker)
        redis = _redis()
        self.url = url
        self.client = client or redis.Redis.from_url(
            url, socket_timeout=_SOCKET_TIMEOUT_S, socket_connect_timeout=_SOCKET_TIMEOUT_S, health_check_interval=30)
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
        self._doc_key = f"{namespace}health"
        self._version_key = f"{namespace}health:version"
        self._keys_key = f"{namespace}keys"
        self.channel = f"{namespace}health:changed"
        self.namespace = namespace
        self.outage = _Outage("routing state")
        self.key_positions = _KeyPositions(self)
        self._stale = threading.Event()
        self._listener: threading.Thread | None = None
        self._closed = threading.Event()
        self._unwritten = False

    def __repr__(self) -> str:
        return f"RedisHealthStore({self.describe()!r})"

    def describe(self) -> str:
        """``redis://host:port/db`` without a password."""
        kwargs = self.client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"
        return f"redis {where}"

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except self._errors:
            return False

    # --- reads: in memory, re-read after another host's change --------------------------------------

    async def refresh(self) -> None:
        self._listen()
        if self.outage.resting():
            return
        due = time.monotonic() - self._checked >= self.refresh_interval
        if not self._stale.is_set() and not due:
            return
        self._checked = time.monotonic()
        self._stale.clear()
        if self._unwritten and self._pending():
            # Changes queued while Redis was away: writing merges them onto Redis's copy and installs it.
            # (Everyday changes are written behind by the timer, never on the call path.)
            await self.flush()
            return
        result = await asyncio.to_thread(self._refresh_sync)
        if result is not None:
            self._install(*result)

    def _pending(self) -> bool:
        return bool(self._pending_ops())

    def _refresh_sync(self, force: bool = False) -> tuple[HealthDoc, Any, int] | None:
        with self._write_lock:
            try:
                version, raw, positions = self._read(self.client)
            except self._errors as exc:
                self.outage.failed(exc)
                return (HealthDoc(), None, self._written_seq) if self._doc is None else None
            self.outage.ok()
            self.key_positions.replace(positions)
            if not force and self._doc is not None and version == self._identity:
                return None
            return _parse(raw), version, self._written_seq

    def _read(self, client: Any) -> tuple[Any, bytes | None, dict[str, int]]:
        pipe = client.pipeline(transaction=False)
        pipe.get(self._version_key)
        pipe.get(self._doc_key)
        pipe.hgetall(self._keys_key)
        version, raw, positions = pipe.execute()
        return version, raw, {k.decode(): int(v) for k, v in positions.items()}

    # --- writes: the file backend's operations, applied on Redis's copy under WATCH -----------------

    def _flush_sync(self) -> tuple[HealthDoc, Any, int] | None:
        redis = _redis()
        with self._write_lock:
            ops = self._pending_ops()
            if not ops:
                return None
            try:
                with self.client.pipeline() as pipe:
                    while True:
                        try:
                            pipe.watch(self._doc_key)
                            doc = _parse(pipe.get(self._doc_key))
                            for _, op in ops:
                                op(doc)
                            _prune(doc, self.clock())
                            pipe.multi()
                            pipe.set(self._doc_key, orjson.dumps(doc.model_dump(mode="json")), ex=_TTL_S)
                            pipe.incr(self._version_key)
                            pipe.expire(self._version_key, _TTL_S)
                            pipe.publish(self.channel, b"health")
                            version = pipe.execute()[1]
                            break
                        except redis.exceptions.WatchError:
                            continue
            except self._errors as exc:
                self.outage.failed(exc)
                self._unwritten = True
                return None
            self.outage.ok()
            self._unwritten = False
            self._written_seq = ops[-1][0]
            return doc, str(version).encode(), self._written_seq

    def flush_sync(self) -> None:
        if self.outage.resting():
            return
        super().flush_sync()

    def _write_key_position(self, provider: str, index: int) -> None:
        def write() -> None:
            try:
                pipe = self.client.pipeline(transaction=True)
                pipe.hset(self._keys_key, provider, index)
                pipe.expire(self._keys_key, _TTL_S)
                pipe.publish(self.channel, b"keys")
                pipe.execute()
            except self._errors as exc:
                self.outage.failed(exc)

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            write()
            return
        task = loop.create_task(asyncio.to_thread(write))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- change notices -----------------------------------------------------------------------------

    def _listen(self) -> None:
        if self._listener is None or not self._listener.is_alive():
            self._listener = threading.Thread(target=self._listen_forever, name="assistant-redis-listener", daemon=True)
            self._listener.start()

    def _listen_forever(self) -> None:
        while not self._closed.is_set():
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                # Whatever happened while we were not listening is read on the next call.
                self._stale.set()
                try:
                    while not self._closed.is_set():
                        if pubsub.get_message(timeout=0.2) is not None:
                            self._stale.set()
                finally:
                    with contextlib.suppress(Exception):
                        pubsub.close()
            except (*self._errors, ValueError):
                # ValueError: the client was closed under us at shutdown.
                self._closed.wait(_RETRY_S)
            except Exception:  # pragma: no cover - a listener bug must not kill the process
                log.exception("routing state listener failed; retrying")
                self._closed.wait(_RETRY_S)

    async def aclose(self) -> None:
        await super().aclose()
        self._closed.set()
        if self._listener is not None:
            await asyncio.to_thread(self._listener.join, 2.0)
        await asyncio.to_thread(self.client.close)


class RedisRateLimiter(RateLimiter):
    """Exact client-side windows shared by every host: one atomic script reserves the earliest slot.

    The script runs on redis-py's asyncio client (one per event loop), so a reservation costs one
    loopback round trip and no thread hop. Redis down: this process's own windows (the file backend's
    behaviour, per process) until it answers again.
    """

    def __init__(self, health: RedisHealthStore) -> None:
        super().__init__(health)
        self.store = health
        self.outage = _Outage("rate windows")
        self._clients: dict[int, tuple[Any, Any]] = {}

    def _script(self) -> Any:
        loop = asyncio.get_running_loop()
        found = self._clients.get(id(loop))
        if found is None or found[0] is not loop:
            import redis.asyncio as aioredis

            # A few connections shared by every call of this loop: a hundred concurrent calls queue for one
            # (the script takes microseconds) instead of opening a hundred sockets and timing out. The
            # timeout is generous: a slow answer is waited for, because falling back to this process's own
            # windows would let a fleet send more than the limit.
            pool = aioredis.BlockingConnectionPool.from_url(
                self.store.url, max_connections=_POOL_SIZE, timeout=_RESERVE_TIMEOUT_S,
                socket_timeout=_RESERVE_TIMEOUT_S, socket_connect_timeout=_SOCKET_TIMEOUT_S)
            client = aioredis.Redis(connection_pool=pool)
            found = self._clients[id(loop)] = (loop, client.register_script(_RESERVE))
        return found[1]

    async def reserve_async(self, rules: Sequence[Rule], now: float, max_wait: float) -> float:
        if not rules:
            return 0.0
        if self.outage.resting():
            return self.reserve(rules, now, max_wait)
        keys = [f"{self.store.namespace}rate:{rule.key}" for rule in rules]
        args: list[Any] = [repr(now), repr(max_wait), uuid.uuid4().hex]
        for rule in rules:
            args += [max(w.period_s for w in rule.windows), len(rule.windows)]
            for window in rule.windows:
                args += [window.limit, window.period_s]
        try:
            answer = await self._script()(keys=keys, args=args)
        except self.store._errors as exc:
            self.outage.failed(exc)
            return self.reserve(rules, now, max_wait)
        self.outage.ok()
        return float(answer)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        found = self._clients.pop(id(loop), None)
        if found is not None:
            await found[1].registered_client.aclose()


def _parse(raw: bytes | None) -> HealthDoc:
    if not raw:
        return HealthDoc()
    try:
        return HealthDoc.model_validate({**orjson.loads(raw), "version": HealthDoc().version})
    except (orjson.JSONDecodeError, ValidationError, TypeError):
        # Health is a cache of what providers said: a broken copy costs a few retries, not data.
        return HealthDoc()
