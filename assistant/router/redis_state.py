"""Routing state in Redis, for fleets: the health document, exact rate windows, key positions, learned windows.

- Health (cooldowns, breakers, auto-disables) is one JSON document. Every change is the same operation
  the file backend applies, run on a fresh copy under ``WATCH``/``MULTI`` (optimistic, retried on a
  conflict), so two hosts never overwrite each other's news; the key expires a day after the last write.
  Reads are served from memory. News (a cooldown, a disable, a breaker opening or closing) is written
  before the call returns and announced on a channel; a listener thread marks the local copy stale, and
  the next call re-reads it first, so a 429 one host learned stops the others on their next call.
  Everyday bookkeeping (breaker call counts, short cooldowns) is written behind, unannounced; every host
  picks it up in the background at most ``refresh_interval`` later. A host ignores its own notices.
- Rate windows: ``redis_limits`` (one script per call, the only round trip on a call's path, and only
  for a provider with client-side limits).
- Key-rotation positions live in a hash, so a host that rotated after a 429 moves the others too
  instead of each host flipping keys on its own.
- Context windows learned at run time (``catalog``) live in a hash, newest wins (``redis_windows``), read
  along with the document.
- Redis down or slow: calls go on with this process's own state, a warning is logged once, changes
  stay queued and are written (merged onto Redis's copy) when it answers again.

The client is redis-py's synchronous one, on the engine's I/O threads and off the call path; socket
timeouts are short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from pydantic import ValidationError

from ..files.blocking import run_blocking
from ._resp import ReplyError
from .health import HealthDoc, HealthStore, _prune
from .policies import Breaker
from .redis_windows import RedisWindows

__all__ = ["RedisHealthStore", "PREFIX"]

log = logging.getLogger(__name__)

PREFIX = "assistant:"
_TTL_S = 86400
_SOCKET_TIMEOUT_S = 0.25
_RETRY_S = 2.0


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
            why = f"{type(exc).__name__}: {exc}" if isinstance(exc, ReplyError) else type(exc).__name__
            log.warning("%s: Redis is not answering (%s); going on with this process's own state", self.what, why)
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
        self.windows = RedisWindows.shared(url, namespace)
        # Notices carry the sender, so a host does not re-read what it wrote itself.
        self._me = uuid.uuid4().hex[:16].encode()
        self._stale = threading.Event()
        self._listener: threading.Thread | None = None
        self._closed = threading.Event()
        self._unwritten = False
        self._reading: asyncio.Future[None] | None = None
        self._announced_seq = 0

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

    # --- reads: in memory; another host's news re-read on the next call, the rest in the background ---

    async def refresh(self) -> None:
        self._listen()
        if self.outage.resting():
            return
        if self._stale.is_set() or self._unwritten:
            # Another host announced news (or the listener just (re)subscribed), or changes made while
            # Redis was away wait to be written: this call sees the result.
            self._stale.clear()
            self._checked = time.monotonic()
            await self._reread()
        elif time.monotonic() - self._checked >= self.refresh_interval:
            self._checked = time.monotonic()
            if self._reading is None or self._reading.done():
                self._reading = self._behind(self._reread())

    async def _reread(self) -> None:
        if self._unwritten:
            if self._pending_ops():
                # Changes queued while Redis was away: writing merges them onto Redis's copy and installs it.
                await self.flush()
                return
            self._unwritten = False
        result = await run_blocking(self._refresh_sync)
        if result is not None:
            self._install(*result)

    def _behind(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _refresh_sync(self, force: bool = False) -> tuple[HealthDoc, Any, int] | None:
        with self._write_lock:
            try:
                version, raw, positions, windows_version = self._read(self.client)
                self.windows.sync(windows_version)
            except self._errors as exc:
                self.outage.failed(exc)
                return (HealthDoc(), None, self._written_seq) if self._doc is None else None
            self.outage.ok()
            self.key_positions.replace(positions)
            if not force and self._doc is not None and version == self._identity:
                return None
            return _parse(raw), version, self._written_seq

    def _read(self, client: Any) -> tuple[Any, bytes | None, dict[str, int], Any]:
        pipe = client.pipeline(transaction=False)
        pipe.get(self._version_key)
        pipe.get(self._doc_key)
        pipe.hgetall(self._keys_key)
        pipe.get(self.windows.version_key)
        version, raw, positions, windows_version = pipe.execute()
        return version, raw, {k.decode(): int(v) for k, v in positions.items()}, windows_version

    # --- writes: the file backend's operations, applied on Redis's copy under WATCH -----------------

    def _flush_behind(self) -> None:
        # Everyday bookkeeping: written, not announced (the others read it within refresh_interval).
        self._timer = None
        self._behind(self._write(announce=False))

    async def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._write(announce=True)

    async def _write(self, *, announce: bool) -> None:
        result = await run_blocking(self._flush_sync, announce)
        if result is not None:
            self._install(*result)

    def _flush_sync(self, announce: bool = True) -> tuple[HealthDoc, Any, int] | None:
        redis = _redis()
        with self._write_lock:
            ops = self._pending_ops()
            try:
                if not ops:
                    # News may have gone out in a quiet write that ran first: announce it now.
                    if announce and self._announced_seq < self._written_seq:
                        self._publish(b"health")
                        self._announced_seq = self._written_seq
                    return None
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
                            if announce:
                                pipe.publish(self.channel, b"health " + self._me)
                            version = pipe.execute()[1]
                            break
                        except redis.exceptions.WatchError:
                            continue
            except self._errors as exc:
                self.outage.failed(exc)
                self._unwritten = bool(ops)
                return None
            self.outage.ok()
            self._unwritten = False
            self._written_seq = ops[-1][0]
            if announce:
                self._announced_seq = self._written_seq
            return doc, str(version).encode(), self._written_seq

    def _publish(self, kind: bytes) -> None:
        self.client.publish(self.channel, kind + b" " + self._me)

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
                pipe.publish(self.channel, b"keys " + self._me)
                pipe.execute()
            except self._errors as exc:
                self.outage.failed(exc)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            write()
            return
        self._behind(run_blocking(write))

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
                        message = pubsub.get_message(timeout=0.2)
                        if message is not None and not bytes(message["data"]).endswith(b" " + self._me):
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


def _parse(raw: bytes | None) -> HealthDoc:
    if not raw:
        return HealthDoc()
    try:
        return HealthDoc.model_validate({**orjson.loads(raw), "version": HealthDoc().version})
    except (orjson.JSONDecodeError, ValidationError, TypeError):
        # Health is a cache of what providers said: a broken copy costs a few retries, not data.
        return HealthDoc()
