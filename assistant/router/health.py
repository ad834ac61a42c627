"""Provider health shared by every process on the machine: cooldowns, breakers, auto-disables, rate windows.

One small JSON file under the state dir. Every change is an operation applied to the in-memory copy at
once and, under a file lock, to a fresh read of the file (so two processes never overwrite each
other's news), then written atomically (temp file, fsync, ``os.replace``). Reads come from memory; the
file is re-read only when its identity changed, checked at most once a second. Rare, important changes
(disable, cooldown, breaker open) are written before the call returns; breaker failure counts and
request timestamps are written behind, within ``flush_delay`` seconds. Keys are never stored: an
auto-disable keeps a short hash so a changed key re-enables the provider.

    health = HealthStore()
    health.disabled()                # {"openai": Disabled(kind="billing", ...)}
    await health.enable("openai")
"""

from __future__ import annotations

import asyncio
import atexit
import bisect
import contextlib
import hashlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..files.blocking import run_blocking
from ..files.paths import state_dir
from ..files.store import Migration, file_lock, write_json_atomic
from .policies import Breaker, BreakerState

__all__ = ["HealthStore", "HealthDoc", "ProviderHealth", "Disabled", "Cooldown", "key_hash", "HEALTH_FILE"]

HEALTH_FILE = "health.json"
_VERSION = 1
_DAY = 86400.0
_KEEP_FAILURES = 64


class _Record(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore")


class Disabled(_Record):
    """Why a provider was switched off; ``key_hash`` tells a changed key apart (never the key)."""

    kind: str
    detail: str = ""
    key_hash: str = ""
    at: float = 0.0


class Cooldown(_Record):
    """A provider (``"groq"``) or one model (``"openrouter/x:free"``) is resting until ``until``."""

    until: float
    detail: str = ""


class ProviderHealth(_Record):
    disabled: Disabled | None = None
    failures: list[float] = Field(default_factory=list)
    opened_at: float | None = None

    def empty(self) -> bool:
        return self.disabled is None and not self.failures and self.opened_at is None


class HealthDoc(_Record):
    """The file's content. ``windows`` maps a rate-limit key to request times (sorted)."""

    version: int = _VERSION
    providers: dict[str, ProviderHealth] = Field(default_factory=dict)
    cooldowns: dict[str, Cooldown] = Field(default_factory=dict)
    windows: dict[str, list[float]] = Field(default_factory=dict)


Op = Callable[[HealthDoc], None]

# Ordered, named steps from file version N to N+1 (none yet: version 1 is the first format).
_MIGRATIONS: tuple[Migration, ...] = ()


def key_hash(keys: Sequence[str]) -> str:
    """A short, one-way fingerprint of a provider's key set (for "the key changed" checks)."""
    if not keys:
        return ""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:12]


def _provider(doc: HealthDoc, name: str) -> ProviderHealth:
    entry = doc.providers.get(name)
    if entry is None:
        entry = doc.providers[name] = ProviderHealth()
    return entry


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
        self._ops_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._probing: dict[str, float] = {}
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

    def breaker_state(self, provider: str, now: float | None = None) -> BreakerState:
        entry = self.doc.providers.get(provider)
        opened = entry.opened_at if entry is not None else None
        return self.breaker.state(opened, self.clock() if now is None else now)

    def admit(self, provider: str, now: float | None = None) -> bool:
        """May a request go to ``provider``? Closed: yes; open: no; half-open: one probe at a time."""
        now = self.clock() if now is None else now
        state = self.breaker_state(provider, now)
        if state == "closed":
            return True
        if state == "open":
            return False
        started = self._probing.get(provider)
        if started is not None and now - started < self.breaker.reset_s:
            return False
        self._probing[provider] = now
        return True

    def window(self, key: str) -> list[float]:
        """Request times recorded under a rate-limit key, by every process (sorted)."""
        return self.doc.windows.get(key, [])

    # --- changes ------------------------------------------------------------------------------

    async def enable(self, provider: str) -> None:
        """Clear an auto-disable (and the breaker) of ``provider``.

            await router.health.enable("openai")
        """
        self._probing.pop(provider, None)

        def op(doc: HealthDoc) -> None:
            entry = doc.providers.get(provider)
            if entry is not None:
                entry.disabled = None
                entry.failures = []
                entry.opened_at = None

        self._change(op)
        await self.flush()

    async def disable(self, provider: str, *, kind: str, detail: str, key_hash: str) -> None:
        """Switch ``provider`` off after a billing/auth answer (until its key changes or enable())."""
        record = Disabled(kind=kind, detail=detail[:300], key_hash=key_hash, at=self.clock())

        def op(doc: HealthDoc) -> None:
            _provider(doc, provider).disabled = record.model_copy()

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
        await self.flush()

    async def failed(self, provider: str) -> bool:
        """Count a transient or rate-limit failure; True when this opened the circuit."""
        now = self.clock()
        probing = self._probing.pop(provider, None) is not None
        entry = self.doc.providers.get(provider)
        recent = self.breaker.recent(entry.failures if entry else [], now) + [now]
        opens = probing or (self.breaker_state(provider, now) == "closed" and self.breaker.trips(recent, now))

        def op(doc: HealthDoc) -> None:
            target = _provider(doc, provider)
            target.failures = [*target.failures, now][-_KEEP_FAILURES:]
            if opens:
                target.opened_at = now

        self._change(op)
        if opens:
            await self.flush()
        return opens

    async def succeeded(self, provider: str) -> None:
        """A provider answered: close its circuit (forgetting its failures) and clear an auto-disable.
        Free when the circuit was closed and nothing was disabled."""
        self._probing.pop(provider, None)
        entry = self.doc.providers.get(provider)
        if entry is None or (entry.disabled is None and entry.opened_at is None):
            # Failures inside the window keep counting: "5 in 60 s", not "5 in a row".
            return

        def op(doc: HealthDoc) -> None:
            doc.providers.pop(provider, None)

        self._change(op)
        await self.flush()

    def release(self, provider: str) -> None:
        """A half-open probe ended without a verdict (a failure that does not count)."""
        self._probing.pop(provider, None)

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
        """Blocking flush for the sync edges (CLI, interpreter exit)."""
        result = self._flush_sync()
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
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def _refresh_sync(self, force: bool = False) -> tuple[HealthDoc, tuple[int, int] | None, int] | None:
        with self._write_lock:
            identity = self._identity_now()
            if not force and self._doc is not None and identity == self._identity:
                return None
            return self._load_file(), identity, self._written_seq

    def _flush_sync(self) -> tuple[HealthDoc, tuple[int, int] | None, int] | None:
        with self._write_lock:
            with self._ops_lock:
                ops = [(s, op) for s, op in self._unsaved if s > self._written_seq]
            if not ops:
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with file_lock(self.path):
                doc = self._load_file()
                for _, op in ops:
                    op(doc)
                _prune(doc, self.clock())
                write_json_atomic(self.path, doc.model_dump(mode="json"))
                identity = self._identity_now()
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


def _prune(doc: HealthDoc, now: float) -> None:
    doc.cooldowns = {k: v for k, v in doc.cooldowns.items() if v.until > now}
    doc.windows = {k: kept for k, v in doc.windows.items() if (kept := [t for t in v if t > now - _DAY])}
    for name, entry in list(doc.providers.items()):
        entry.failures = [t for t in entry.failures if t > now - _DAY][-_KEEP_FAILURES:]
        if entry.empty():
            del doc.providers[name]


_live_stores: weakref.WeakSet[HealthStore] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for store in list(_live_stores):
        with contextlib.suppress(Exception):
            store.flush_sync()
