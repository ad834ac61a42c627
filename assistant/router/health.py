"""Provider health shared by every process on the machine: cooldowns, breakers, auto-disables, rate windows.

One small JSON file under the state dir. Every change is an operation applied to the in-memory copy at
once and, under a file lock, to a fresh read of the file (so two processes never overwrite each
other's news), then written atomically (temp file, fsync, ``os.replace``). Reads come from memory; the
file is re-read only when its identity changed, checked at most once a second. Rare, important changes
(disable, cooldown, breaker open) are written before the call returns; breaker call counts and
request timestamps are written behind, within ``flush_delay`` seconds. Keys are never stored: an
auto-disable keeps a short hash so a changed key re-enables the provider.

Circuits are keyed by provider and base URL (``circuit_key``): two llama.cpp servers behind one
provider name are two circuits. The file is a shared cache, never a reason to fail a call: a lock
another process holds is waited on for ``LOCK_WAIT_S`` at most, and when the file cannot be locked,
read or written (disk full, read-only directory) this process keeps its state in memory, warns once
and tries the file again after ``FILE_RETRY_S``.

    health = HealthStore()
    health.disabled()                # {"openai": Disabled(kind="billing", ...)}
    await health.enable("openai")
"""

from __future__ import annotations

import asyncio
import atexit
import bisect
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import orjson
from pydantic import ValidationError

from ..files.blocking import run_blocking
from ..files.paths import state_dir
from ..files.store import Migration, file_lock, write_json_atomic
from ._health_doc import DAY as _DAY
from ._health_doc import VERSION as _VERSION
from ._health_doc import (
    Circuit, Cooldown, Disabled, HealthDoc, ProviderHealth, Successes, circuit_key, circuit_of, count_call, key_hash, provider_of,
)
from ._health_doc import prune as _prune
from .policies import Breaker, BreakerState

__all__ = [
    "HealthStore", "HealthDoc", "ProviderHealth", "Circuit", "Disabled", "Cooldown", "key_hash", "circuit_key",
    "HEALTH_FILE", "LOCK_WAIT_S", "FILE_RETRY_S",
]

HEALTH_FILE = "health.json"
# The call path never waits longer for another process's lock than this; a write that misses it
# stays pending for the next flush (or, past that, in memory: see FILE_RETRY_S).
LOCK_WAIT_S = 0.05
FILE_RETRY_S = 60.0
# The sync edges (CLI exit, interpreter exit) are not on a call path: they may wait this long.
EDGE_LOCK_WAIT_S = 2.0
# A cooldown shorter than this matters to the calls of this process; it is written behind.
_SHORT_REST_S = 5.0

_log = logging.getLogger("assistant.health")

Op = Callable[[HealthDoc], None]

# Ordered, named steps from file version N to N+1 (none yet: version 1 is the first format).
_MIGRATIONS: tuple[Migration, ...] = ()


class HealthStore:
    """The shared health file, cached in memory. All reads are sync and in-memory."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        breaker: Breaker | None = None,
        refresh_interval: float = 1.0,
        flush_delay: float = 1.0,
    ) -> None:
        self.path = Path(path) if path is not None else state_dir() / HEALTH_FILE
        self.clock = clock
        self.breaker = breaker or Breaker()
        self.refresh_interval = refresh_interval
        self.flush_delay = flush_delay
        self._doc: HealthDoc | None = None
        self._identity: tuple[int, int] | None = None
        self._checked = -float("inf")
        self._seq = 0
        self._written_seq = 0
        self._installed_seq = 0
        self._unsaved: list[tuple[int, Op]] = []
        self._successes: Successes | None = None  # the open one, still counting (in ``_unsaved``)
        self._ops_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._probing: dict[str, list[float]] = {}
        # monotonic time until which the file is left alone after trouble (None: use the file)
        self._file_off_until: float | None = None
        self._lock_wait = LOCK_WAIT_S
        self._warned = False
        _live_stores.add(self)

    def __repr__(self) -> str:
        return f"HealthStore(path={str(self.path)!r})"

    # --- reads (memory only) ------------------------------------------------------------------

    @property
    def doc(self) -> HealthDoc:
        if self._doc is None:
            self._install(*self._refresh_sync(force=True))  # type: ignore[misc]
        assert self._doc is not None
        return self._doc

    def disabled(self) -> dict[str, Disabled]:
        """Auto-disabled providers and why.

            for name, why in router.health.disabled().items(): print(name, why.kind, why.detail)
        """
        return {name: p.disabled for name, p in self.doc.providers.items() if p.disabled is not None}

    def cooldown(self, key: str, now: float | None = None) -> Cooldown | None:
        """The running cooldown of a provider or ``provider/model`` key, if any."""
        entry = self.doc.cooldowns.get(key)
        if entry is None or entry.until <= (self.clock() if now is None else now):
            return None
        return entry

    def breaker_state(self, key: str, now: float | None = None) -> BreakerState:
        """State of the circuit ``key`` (a ``circuit_key``, or a provider name used as one)."""
        entry = self.doc.circuits.get(key)
        opened = entry.opened_at if entry is not None else None
        return self.breaker.state(opened, self.clock() if now is None else now)

    def opened_at(self, key: str) -> float | None:
        entry = self.doc.circuits.get(key)
        return entry.opened_at if entry is not None else None

    def admit(self, key: str, now: float | None = None) -> bool:
        """May a request go to circuit ``key``? Closed: yes; open: no; half-open: ``breaker.probes``
        at a time (a probe that never reports back frees its slot after ``reset_s``)."""
        now = self.clock() if now is None else now
        state = self.breaker_state(key, now)
        if state == "closed":
            return True
        if state == "open":
            return False
        started = [t for t in self._probing.get(key, []) if now - t < self.breaker.reset_s]
        if len(started) >= self.breaker.probes:
            self._probing[key] = started
            return False
        self._probing[key] = [*started, now]
        return True

    def window(self, key: str) -> list[float]:
        """Request times recorded under a rate-limit key, by every process (sorted)."""
        return self.doc.windows.get(key, [])

    # --- changes ------------------------------------------------------------------------------

    async def enable(self, provider: str) -> None:
        """Clear an auto-disable (and the breakers) of ``provider``.

            await router.health.enable("openai")
        """
        mine = [k for k in self.doc.circuits if k == provider or k.startswith(provider + " ")]
        for key in mine:
            self._probing.pop(key, None)

        def op(doc: HealthDoc) -> None:
            entry = doc.providers.get(provider)
            if entry is not None:
                entry.disabled = None
            for key in mine:
                doc.circuits.pop(key, None)

        self._change(op)
        await self.flush()

    async def disable(self, provider: str, *, kind: str, detail: str, key_hash: str) -> None:
        """Switch ``provider`` off after a billing/auth answer (until its key changes or enable())."""
        record = Disabled(kind=kind, detail=detail[:300], key_hash=key_hash, at=self.clock())

        def op(doc: HealthDoc) -> None:
            provider_of(doc, provider).disabled = record.model_copy()

        self._change(op)
        await self.flush()

    async def cool_down(self, key: str, seconds: float, detail: str) -> None:
        """Rest a provider or a ``provider/model`` for ``seconds`` (a longer running one wins)."""
        until = self.clock() + seconds

        def op(doc: HealthDoc) -> None:
            current = doc.cooldowns.get(key)
            if current is None or current.until < until:
                doc.cooldowns[key] = Cooldown(until=until, detail=detail[:300])

        self._change(op)
        if seconds >= _SHORT_REST_S:
            await self.flush()

    async def failed(self, key: str, sent_at: float | None = None) -> bool:
        """Count a failed call (transient or rate limit) on circuit ``key``; True when this opened it.
        A failure of a call sent after the circuit opened (a probe) opens it again."""
        now = self.clock()
        sent_at = now if sent_at is None else sent_at
        self._end_probe(key, sent_at)
        entry = self.doc.circuits.get(key)
        opened_at = entry.opened_at if entry is not None else None
        keep_after = now - self.breaker.window_s
        bucket = self.breaker.bucket(now)
        if opened_at is None:
            buckets = [*(entry.buckets if entry else []), [bucket, 1, 1]]
            opens = self.breaker.trips(buckets, now)
        else:
            opens = sent_at >= opened_at

        def op(doc: HealthDoc) -> None:
            target = circuit_of(doc, key)
            count_call(target, bucket, True, keep_after)
            if opens:
                target.opened_at = now

        self._change(op)
        if opens:
            await self.flush()
        return opens and opened_at is None

    async def succeeded(self, key: str, sent_at: float | None = None, *, provider: str | None = None) -> None:
        """Count a call that answered. A call sent after the circuit opened (a probe) closes it and
        starts a fresh window; one sent before leaves it open. Clears ``provider``'s auto-disable."""
        now = self.clock()
        sent_at = now if sent_at is None else sent_at
        if self._probing:
            self._end_probe(key, sent_at)
        doc = self._doc or self.doc
        entry = doc.circuits.get(key)
        closes = entry is not None and entry.opened_at is not None and sent_at >= entry.opened_at
        disabled = (provider is not None and bool(doc.providers) and (p := doc.providers.get(provider)) is not None
                    and p.disabled is not None)
        breaker = self.breaker
        keep_after = now - breaker.window_s
        bucket = breaker.bucket(now)
        if not closes and not disabled:
            # An everyday success: counted in memory now, written behind with the others of this flush.
            buckets = entry.buckets if entry is not None else None
            if buckets and buckets[-1][0] == bucket:
                buckets[-1][1] += 1  # (``count_call``'s usual case, without the call)
            else:
                count_call(entry if entry is not None else circuit_of(doc, key), bucket, False, keep_after)
            with self._ops_lock:
                tally = self._successes
                opened = tally is None
                if tally is None:
                    tally = self._successes = Successes()
                    self._seq += 1
                    self._unsaved.append((self._seq, tally))
                tally.add(key, bucket, keep_after)
            if opened:
                self._schedule_flush()
            return

        def op(doc: HealthDoc) -> None:
            target = circuit_of(doc, key)
            if closes:
                target.opened_at = None
                target.buckets = []
            count_call(target, bucket, False, keep_after)
            if disabled:
                doc.providers.pop(provider, None)  # type: ignore[arg-type]

        self._change(op)
        if closes or disabled:
            await self.flush()

    def release(self, key: str, sent_at: float | None = None) -> None:
        """A call on circuit ``key`` ended without a verdict (a failure that does not count)."""
        self._end_probe(key, self.clock() if sent_at is None else sent_at)

    def _end_probe(self, key: str, sent_at: float) -> None:
        started = self._probing.get(key)
        if not started:
            return
        left = [t for t in started if t != sent_at] if sent_at in started else started[1:]
        if left:
            self._probing[key] = left
        else:
            self._probing.pop(key, None)

    def note_request(self, key: str, at: float, keep_s: float = _DAY) -> None:
        """Record one request (or a reserved slot) under a rate-limit key, forgetting times older
        than ``keep_s`` (the key's longest window); written behind."""

        horizon = self.clock() - keep_s

        def op(doc: HealthDoc) -> None:
            times = doc.windows.setdefault(key, [])
            bisect.insort(times, at)
            cut = bisect.bisect_right(times, horizon)
            if cut:
                del times[:cut]

        self._change(op)

    # --- persistence --------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Pick up other processes' news; at most one cheap ``stat`` per ``refresh_interval``."""
        mono = time.monotonic()
        if mono - self._checked < self.refresh_interval:
            return
        self._checked = mono  # before the await: concurrent callers do not stat the file again
        result = await run_blocking(self._refresh_sync)
        if result is not None:
            self._install(*result)

    async def flush(self) -> None:
        """Write every pending change now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        result = await run_blocking(self._flush_sync)
        if result is not None:
            self._install(*result)

    async def aclose(self) -> None:
        await self.flush()
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task

    def _change(self, op: Op) -> None:
        op(self.doc)
        with self._ops_lock:
            self._successes = None
            self._seq += 1
            self._unsaved.append((self._seq, op))
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush_sync()
            return
        if self._timer is not None and self._timer_loop is loop and not loop.is_closed():
            return
        self._timer_loop = loop
        self._timer = loop.call_later(self.flush_delay, self._flush_behind)

    def _flush_behind(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def flush_sync(self) -> None:
        """Blocking flush for the sync edges (CLI, interpreter exit): off the call path, so it tries the
        file even after trouble and waits longer for another process's lock."""
        self._file_off_until = None
        self._lock_wait = EDGE_LOCK_WAIT_S
        try:
            result = self._flush_sync()
        finally:
            self._lock_wait = LOCK_WAIT_S
        if result is not None:
            self._install(*result)

    def _install(self, doc: HealthDoc, identity: tuple[int, int] | None, seq: int) -> None:
        with self._ops_lock:
            if seq < self._installed_seq:
                return
            self._unsaved = [(s, op) for s, op in self._unsaved if s > seq]
            for _, op in self._unsaved:
                op(doc)
            self._doc = doc
            self._identity = identity
            self._installed_seq = seq

    def _identity_now(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def _file_usable(self) -> bool:
        if self._file_off_until is None:
            return True
        if time.monotonic() < self._file_off_until:
            return False
        self._file_off_until = None
        return True

    def _file_trouble(self, exc: BaseException) -> None:
        """Lock held elsewhere, disk full, read-only: keep going in memory, tell the user once."""
        self._file_off_until = time.monotonic() + FILE_RETRY_S
        if not self._warned:
            self._warned = True
            _log.warning("health state file %s unusable (%s: %s); keeping provider health in memory for this "
                         "process and retrying the file every %.0fs", self.path, type(exc).__name__, exc, FILE_RETRY_S)

    def _refresh_sync(self, force: bool = False) -> tuple[HealthDoc, tuple[int, int] | None, int] | None:
        if not self._file_usable():
            return (HealthDoc(), None, self._written_seq) if force and self._doc is None else None
        with self._write_lock:
            identity = self._identity_now()
            if not force and self._doc is not None and identity == self._identity:
                return None
            return self._load_file(), identity, self._written_seq

    def _pending_ops(self) -> list[tuple[int, Op]]:
        """Changes not yet written, in order (every backend writes these)."""
        with self._ops_lock:
            self._successes = None
            return [(s, op) for s, op in self._unsaved if s > self._written_seq]

    def _flush_sync(self) -> tuple[HealthDoc, tuple[int, int] | None, int] | None:
        if not self._file_usable():
            return None
        with self._write_lock:
            ops = self._pending_ops()
            if not ops:
                return None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with file_lock(self.path, timeout=self._lock_wait):
                    doc = self._load_file()
                    for _, op in ops:
                        op(doc)
                    _prune(doc, self.clock())
                    write_json_atomic(self.path, doc.model_dump(mode="json"))
                    identity = self._identity_now()
            except OSError as exc:  # a lock timeout (TimeoutError) too
                # The changes stay in memory (and pending): the next flush after FILE_RETRY_S writes them.
                self._file_trouble(exc)
                return None
            self._written_seq = ops[-1][0]
            return doc, identity, self._written_seq

    def _load_file(self) -> HealthDoc:
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return HealthDoc()
        except (OSError, orjson.JSONDecodeError):
            # Health is a cache of what providers said: a broken file costs a few retries, not data.
            return HealthDoc()
        if not isinstance(raw, dict):
            return HealthDoc()
        version = raw.get("version", _VERSION)
        for step in _MIGRATIONS:
            if step.version == version:
                raw, version = step.apply(raw), version + 1
        try:
            return HealthDoc.model_validate({**raw, "version": _VERSION})
        except ValidationError:
            return HealthDoc()


_live_stores: weakref.WeakSet[HealthStore] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for store in list(_live_stores):
        with contextlib.suppress(Exception):
            store.flush_sync()
