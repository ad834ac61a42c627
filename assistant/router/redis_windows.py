"""Context windows learned at run time, shared by a fleet: one Redis hash, read through a local copy.

The catalog learns a model's real window from a provider's "too long" error; with the Redis state
backend the router hands the catalog this store (``ModelCatalog.share_windows``), so what one host
learned saves the others the same failed call. One hash field per model id holds
``{"window", "source", "at"}``; a write is a script that keeps the newest (by ``at``), bumps a version
counter and renews the hash's TTL (30 days: Redis 7.0 has no per-field expiry, and a learned window
stays true for long). Nothing here is on a call's path: ``save`` writes behind on the engine's I/O
threads, and the health store's read (on news, and in the background every ``refresh_interval``)
calls ``sync``, which re-reads the hash only when the counter moved. Redis down: the catalog keeps
what it knows, saves stay queued and are written on the first read that reaches Redis again.

    windows = RedisWindows.shared("redis://127.0.0.1:6379/0")
    catalog.share_windows(windows)
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import orjson

from ..files.blocking import engine_executor

if TYPE_CHECKING:
    from ..catalog import LearnedWindow

__all__ = ["RedisWindows"]

_TTL_S = 30 * 86400
_SOCKET_TIMEOUT_S = 0.25

# KEYS: the hash, the version counter. ARGV: model id, JSON value, its "at", TTL.
_SAVE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local ok, known = pcall(cjson.decode, current)
  if ok and type(known) == 'table' and tonumber(known['at']) and tonumber(known['at']) > tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""

_stores: dict[tuple[str, str], RedisWindows] = {}
_stores_lock = threading.Lock()


class RedisWindows:
    """The catalog's ``WindowStore`` on Redis (see the module docstring)."""

    def __init__(self, url: str, namespace: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=_SOCKET_TIMEOUT_S,
                                           socket_connect_timeout=_SOCKET_TIMEOUT_S)
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
        self.key = f"{namespace}windows"
        self.version_key = f"{namespace}windows:version"
        self._script = self.client.register_script(_SAVE)
        # Bumped whenever ``windows()`` changed: the catalog compares it on each read (no lock, no I/O).
        self.version = 0
        self._copy: dict[str, LearnedWindow] = {}
        self._seen: Any = None  # Redis's counter when the hash was last read
        self._pending: dict[str, LearnedWindow] = {}
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, url: str, namespace: str = "assistant:") -> RedisWindows:
        """The one store of this process for ``url`` and ``namespace`` (every router's health store reads it)."""
        with _stores_lock:
            found = _stores.get((url, namespace))
            if found is None:
                found = _stores[(url, namespace)] = cls(url, namespace)
            return found

    def __repr__(self) -> str:
        return f"RedisWindows(key={self.key!r}, known={len(self._copy)})"

    def windows(self) -> dict[str, LearnedWindow]:
        """Every window the fleet learned, as last read (memory only)."""
        return self._copy

    def save(self, model_id: str, window: LearnedWindow) -> None:
        """Share a window this host learned; written behind, never waited for."""
        with self._lock:
            known = self._pending.get(model_id)
            if known is None or known.at <= window.at:
                self._pending[model_id] = window
        engine_executor().submit(self._write_pending)

    def sync(self, counter: Any) -> None:
        """Write queued saves, then re-read the hash if Redis's counter moved (on an I/O thread).
        Raises the client's connection errors: the caller counts the outage."""
        self._write_pending(raise_errors=True)
        if counter == self._seen:
            return
        raw = self.client.hgetall(self.key)
        self._copy = _decode(raw)
        self._seen = counter
        self.version += 1

    def _write_pending(self, raise_errors: bool = False) -> None:
        with self._lock:
            batch = dict(self._pending)
        try:
            for model_id, window in batch.items():
                value = orjson.dumps({"window": window.window, "source": window.source, "at": window.at})
                self._script(keys=[self.key, self.version_key], args=[model_id, value, repr(window.at), _TTL_S])
                with self._lock:
                    if self._pending.get(model_id) is window:
                        del self._pending[model_id]
        except self._errors:
            if raise_errors:
                raise
            # Stays queued: the health store's next read that reaches Redis writes it.


def _decode(raw: dict[bytes, bytes]) -> dict[str, LearnedWindow]:
    from ..catalog import LearnedWindow

    found = {}
    for field, value in raw.items():
        try:
            entry = orjson.loads(value)
            window, source, at = entry["window"], entry["source"], float(entry["at"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a broken field costs one more overflow, not the others
        if isinstance(window, int) and not isinstance(window, bool) and window > 0 and isinstance(source, str):
            found[field.decode()] = LearnedWindow(window, source, at)
    return found
