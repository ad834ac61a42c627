"""The model catalog: what is known about each model (window, output limit, tools, vision, price).

Three layers, merged per fact: a context window learned at run time wins (a provider's own "too long"
error, a local server's own answer about the window it runs, the ``num_ctx`` sent to Ollama; each kept
with its source and time, the newest wins), then what the provider's model list said on the last
refresh, then the static seed. ``get`` and
``models`` never wait on the network: they answer from memory (and a disk snapshot, so a new process
starts warm) and, inside a running event loop, schedule a background refresh when the data is older
than 3 hours. A refresh asks every configured provider's client for ``list_models()`` (one refresh in
flight at a time); a provider that fails keeps its last good list and is retried after 5 minutes.
Prices follow OpenRouter's ``pricing``: ``{"prompt": ..., "completion": ...}`` in USD per token.

    catalog = ModelCatalog(registry=registry)
    info = catalog.get("openrouter/z-ai/glm-4.5-air:free")     # instant, maybe from the seed
    await catalog.refresh(force=True)                          # e.g. `assistant models --refresh`
    await catalog.probe(registry, "small/smollm2")             # a local server's own window (``_probe``)

``default_catalog()`` is the one catalog ``Router()``, ``Agent()``, ``ChatSession`` and the CLI share
in a process; its snapshot lives under ``ASSISTANT_HOME``, so learned windows survive the process.
A fleet shares them too: ``share_windows(store)`` (a ``WindowStore``; the router hands in its Redis one)
reads the other hosts' windows from the store's local copy and saves this host's to it.

Part (model choice, with ``free_models``): the merged model list with windows, prices and
capabilities, seeded from ``_seed``, refreshed from each provider and probed from local servers
(``_probe``). May import: messages, errors, files,
providers, local, registry.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import LLMError, UsageError
from ..files.blocking import engine_executor, run_blocking
from ..files.paths import cache_dir
from ..messages import ModelInfo
from ..providers.specs import declared_count, get_spec
from ._probe import PROBE_FAILURE_TTL, PROBE_TTL, probe_window
from ._seed import seed_models
from ._snapshot import OVERFLOW_SOURCE, LearnedWindow, WindowStore, read_snapshot, shareable, write_snapshot

if TYPE_CHECKING:
    from cachetools import TLRUCache

__all__ = [
    "ModelCatalog", "LearnedWindow", "WindowStore", "default_catalog", "DEFAULT_TTL", "FACT_FIELDS", "OVERFLOW_SOURCE",
]

logger = logging.getLogger(__name__)

DEFAULT_TTL = 3 * 3600.0
RETRY_AFTER_FAILURE = 300.0
LIST_TIMEOUT = 20.0
# How often ensure_fresh() looks at the clock and the registry at all (it is on the router's path).
_CHECK_INTERVAL = 30.0
# ``learn``'s default source: the window a provider stated in a ContextOverflowError.
FACT_FIELDS = ("context_window", "max_output_tokens", "supports_tools", "supports_vision", "supports_pdf", "free", "pricing")
# What one provider's failed listing may raise without being an engine bug.
_FETCH_ERRORS = (LLMError, ValueError, OSError, NotImplementedError)


class _Registry(Protocol):
    """What the catalog needs from ``LLMRegistry``."""

    def providers(self) -> list[str]: ...

    def client(self, provider: str) -> Any: ...


_MISSING = object()


@functools.cache
def _seed() -> dict[str, ModelInfo]:
    return {m.model_id: m for m in seed_models()}


# model id -> canonical key, asked twice per router call; a newly declared name can change an answer.
_keys: dict[str, str | None] = {}
_keys_declared = [-1]


def _canonical_key(model_id: str) -> str | None:
    declared = declared_count()
    if declared != _keys_declared[0] or len(_keys) > 4096:
        _keys.clear()
        _keys_declared[0] = declared
    found = _keys.get(model_id, _MISSING)
    if found is _MISSING:
        provider, slash, model = model_id.partition("/")
        found = _keys[model_id] = f"{_canonical_provider(provider)}/{model}" if slash and provider and model else None
    return found  # type: ignore[return-value]


def _canonical_provider(provider: str) -> str:
    try:
        return get_spec(provider).name
    except UsageError:
        return provider.strip().lower()


class ModelCatalog:
    """Merged model facts; see the module docstring. ``clock`` is injectable for tests."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        registry: _Registry | None = None,
        snapshot_path: str | Path | None = None,
        *,
        ttl: float = DEFAULT_TTL,
        retry_after_failure: float = RETRY_AFTER_FAILURE,
        list_timeout: float = LIST_TIMEOUT,
    ) -> None:
        from cachetools import TLRUCache  # by the first catalog, not at import (cold start)

        self.registry = registry
        self.errors: dict[str, str] = {}  # provider -> why its last listing failed
        self._clock = clock
        self._ttl = ttl
        self._retry_after_failure = retry_after_failure
        self._list_timeout = list_timeout
        self._snapshot_arg = Path(snapshot_path) if snapshot_path is not None else None
        self._live: dict[str, dict[str, ModelInfo]] = {}  # provider -> model_id -> listed facts
        self._fetched_at: dict[str, float] = {}
        self._learned: dict[str, LearnedWindow] = {}  # model_id -> window learned at run time
        self._probed: dict[str, float] = {}  # model_id -> time its server's own answer goes stale
        self._ratios: dict[str, float] = {}  # model name -> real / estimated prompt tokens
        self._merged: dict[str, Any] = {}  # key -> _merge's answer, until a layer changes
        self._version = 0  # counts layer changes (``version``)
        # provider -> time its listing goes stale (a success lasts ttl, a failure retry_after_failure).
        self._fresh: TLRUCache[str, float] = TLRUCache(maxsize=4096, ttu=lambda _k, until, _now: until, timer=clock)
        self._task: asyncio.Task[None] | None = None
        self._next_check = 0.0
        self._snapshot_loaded = False
        self._save_lock = threading.Lock()
        self._pending: set[asyncio.Future[None]] = set()
        self._shared: WindowStore | None = None
        self._shared_seen: int | None = None

    def __repr__(self) -> str:
        return f"ModelCatalog(providers={sorted(self._live)}, learned={len(self._learned)})"

    # -- answers (sync, never wait on the network)

    def get(self, model_id: str) -> ModelInfo | None:
        """What is known about ``"provider/model"``, or None. Never waits on the network.

            info = catalog.get("groq/llama-3.1-8b-instant")    # info.context_window == 131072
        """
        key = _canonical_key(model_id)
        if key is None:
            return None
        if not self._snapshot_loaded or self._shared is not None:
            self._load_snapshot()
        if self.registry is not None and self._clock() >= self._next_check:
            self.ensure_fresh()  # (before the next check is due it could only return the running refresh)
        found = self._merged.get(key, _MISSING)
        merged = self._merge(key) if found is _MISSING else found
        return merged[0] if merged else None

    @property
    def version(self) -> int:
        """Counts changes to what ``get`` answers (a listing refreshed, a window learned here or by another
        host), so a caller may keep what it worked out from those answers while this stays the same. Like
        ``get``, it picks up another host's news and schedules a due refresh.

            if catalog.version != seen: ...   # ask get() again
        """
        if self._shared is not None and self._shared.version != self._shared_seen:
            self._take_shared(self._shared)
        if self.registry is not None and self._clock() >= self._next_check:
            self.ensure_fresh()
        return self._version

    def _changed(self) -> None:
        self._merged.clear()
        self._version += 1

    def sources(self, model_id: str) -> dict[str, str]:
        """Where each known fact of ``model_id`` came from: ``{"context_window": "seed: ...", ...}``."""
        key = _canonical_key(model_id)
        if key is None:
            return {}
        self._load_snapshot()
        merged = self._merge(key)
        return merged[1] if merged else {}

    def models(self, provider: str | None = None, free: bool | None = None, tools: bool | None = None) -> list[ModelInfo]:
        """Every known model, sorted by id; ``free``/``tools`` keep only models known to match.

            free_tool_models = catalog.models(free=True, tools=True)
        """
        self._load_snapshot()
        self.ensure_fresh()
        keys = set(_seed()) | set(self._learned)
        for listed in self._live.values():
            keys.update(listed)
        if provider is not None:
            prefix = _canonical_provider(provider) + "/"
            keys = {k for k in keys if k.startswith(prefix)}
        infos = [merged[0] for k in sorted(keys) if (merged := self._merge(k))]
        if free is not None:
            infos = [m for m in infos if m.free is free]
        if tools is not None:
            infos = [m for m in infos if m.supports_tools is tools]
        return infos

    def learned(self, model_id: str) -> LearnedWindow | None:
        """The window learned at run time for ``model_id`` (with its source and time), or None."""
        key = _canonical_key(model_id)
        if key is None:
            return None
        self._load_snapshot()
        return self._learned.get(key)

    def learn(self, model_id: str, *, context_window: int, source: str = OVERFLOW_SOURCE) -> None:
        """Record a window seen at run time (by default the one a provider stated in a
        ``ContextOverflowError``); it wins over listed facts and is saved for other processes.

            catalog.learn("ollama/qwen3:8b", context_window=err.context_window)
            catalog.learn("small/smollm2", context_window=512, source="small /props")
        """
        key = _canonical_key(model_id)
        if key is None:
            raise UsageError(f'model id {model_id!r} must be "provider/model"')
        if isinstance(context_window, bool) or not isinstance(context_window, int) or context_window <= 0:
            raise UsageError(f"context_window must be a positive whole number of tokens, got {context_window!r}")
        self._load_snapshot()
        known = self._learned.get(key)
        window = self._learned[key] = LearnedWindow(context_window, source, self._clock())
        self._changed()
        if known is None or (known.window, known.source) != (context_window, source):
            self._save_soon()
            if self._shared is not None and shareable(key):
                self._shared.save(key, window)

    def share_windows(self, store: WindowStore) -> None:
        """Share learned windows with the other hosts of a fleet through ``store``: theirs are read from
        it (newest wins), this one's, learned before and from now on, are saved to it. A local server's
        window stays on its host (another host's "llama/x" is another server).

            catalog.share_windows(RedisWindows.shared(url))   # what Router() does on the Redis backend
        """
        if store is self._shared:
            return
        self._shared, self._shared_seen = store, None
        self._load_snapshot()
        for key, window in self._learned.items():
            if shareable(key):
                store.save(key, window)

    def token_ratio(self, model_id: str) -> float | None:
        """Real / estimated prompt tokens measured for ``model_id``'s model (any provider), or None."""
        return self._ratios.get(model_id.partition("/")[2] or model_id)

    def calibrate(self, model_id: str, ratio: float) -> None:
        """Remember how ``context.estimate_tokens`` compares with ``model_id``'s real token counts (a
        server's ``/tokenize``, a prompt size stated in an overflow error). In memory only: a process
        measures again on its first borderline prompt."""
        self._ratios[model_id.partition("/")[2] or model_id] = ratio

    async def probe(self, registry: Any, model_id: str) -> int | None:
        """The window a local server says ``model_id`` runs with (llama.cpp, Ollama, LM Studio, vLLM),
        asked once a minute at most and learned; None when the provider is not a local server or it
        does not answer (the window then stays as known, maybe unknown).

            window = await catalog.probe(registry, "llama/smollm2")   # the running server's n_ctx
        """
        key = _canonical_key(model_id)
        if key is None:
            return None
        now = self._clock()
        if self._probed.get(key, 0.0) > now:
            known = self._learned.get(key)
            return known.window if known is not None and known.source.startswith("server ") else None
        self._probed[key] = now + PROBE_FAILURE_TTL
        found = await probe_window(registry, model_id)
        if found is None:
            return None
        window, where = found
        self._probed[key] = now + PROBE_TTL
        self.learn(model_id, context_window=window, source=f"server {where}")
        return window

    def _merge(self, key: str) -> tuple[ModelInfo, dict[str, str]] | None:
        # The router asks for every candidate of every call: merged answers are kept until a layer changes.
        found = self._merged.get(key, _MISSING)
        if found is _MISSING:
            found = self._merged[key] = self._merge_layers(key)
        return found  # type: ignore[return-value]

    def _merge_layers(self, key: str) -> tuple[ModelInfo, dict[str, str]] | None:
        provider = key.split("/", 1)[0]
        live = self._live.get(provider, {}).get(key)
        seed = _seed().get(key)
        learned = self._learned.get(key)
        base = live or seed
        if base is None and learned is None:
            return None
        values: dict[str, Any] = {f: None for f in FACT_FIELDS}
        where: dict[str, str] = {}
        for layer in (layer for layer in (seed, live) if layer is not None):
            for field in FACT_FIELDS:
                value = getattr(layer, field)
                if value is not None:
                    values[field], where[field] = value, layer.source
        if learned is not None:
            values["context_window"], where["context_window"] = learned.window, learned.describe()
        source = "; ".join(dict.fromkeys(where.values()))
        info = ModelInfo.model_construct(
            id=key.split("/", 1)[1], provider=provider, source=source,
            fetched_at=base.fetched_at if base is not None else 0.0, **values,
        )
        return info, where

    # -- refreshing

    def ensure_fresh(self) -> asyncio.Task[None] | None:
        """Schedule a background refresh when some configured provider's list is stale; never awaits it.
        Returns the refresh task (None when nothing is due or no event loop is running)."""
        if self.registry is None:
            return None
        if self._task is not None and not self._task.done():
            return self._task
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        now = self._clock()
        if now < self._next_check:
            return None
        self._next_check = now + _CHECK_INTERVAL
        self._load_snapshot()
        if not self._due(force=False):
            return None
        self._task = loop.create_task(self._refresh(force=False))
        self._task.add_done_callback(_log_failure)
        return self._task

    async def refresh(self, force: bool = False) -> None:
        """Merge each configured provider's model list (only stale ones unless ``force``). One refresh
        runs at a time: a second caller waits for the one in flight. Failures land in ``errors``.

            await catalog.refresh(force=True)
        """
        loop = asyncio.get_running_loop()
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._task = loop.create_task(self._refresh(force))
            task.add_done_callback(_log_failure)
        await asyncio.shield(task)

    async def _refresh(self, force: bool) -> None:
        self._load_snapshot()
        providers = self._due(force)
        if not providers:
            return
        results = await asyncio.gather(*(self._fetch(p) for p in providers), return_exceptions=True)
        now = self._clock()
        bugs = []
        for provider, result in zip(providers, results):
            if isinstance(result, BaseException):
                if not isinstance(result, _FETCH_ERRORS):
                    bugs.append(result)
                self.errors[provider] = _describe(result)
                self._fresh[provider] = now + self._retry_after_failure
            else:
                self._live[provider] = result
                self._fetched_at[provider] = now
                self._changed()
                self.errors.pop(provider, None)
                self._fresh[provider] = now + self._ttl
        await run_blocking(self._save_snapshot)
        if bugs:
            raise bugs[0]

    async def _fetch(self, provider: str) -> dict[str, ModelInfo]:
        assert self.registry is not None
        client = self.registry.client(provider)  # the registry's cached client; it closes it, not us
        listed = await asyncio.wait_for(client.list_models(), self._list_timeout)
        now = self._clock()
        models = {}
        for info in listed:
            update = {"provider": provider, "source": info.source or f"{provider} model list",
                      "fetched_at": info.fetched_at or now}
            models[f"{provider}/{info.id}"] = info.model_copy(update=update)
        return models

    def _due(self, force: bool) -> list[str]:
        if self.registry is None:
            return []
        configured = sorted(self.registry.providers())
        return configured if force else [p for p in configured if p not in self._fresh]

    # -- the disk snapshot

    @property
    def snapshot_path(self) -> Path:
        return self._snapshot_arg if self._snapshot_arg is not None else cache_dir() / "catalog.json"

    def _load_snapshot(self) -> None:
        if self._shared is not None and self._shared.version != self._shared_seen:
            self._take_shared(self._shared)
        if self._snapshot_loaded:
            return
        self._snapshot_loaded = True
        providers, learned = read_snapshot(self.snapshot_path)
        for provider, (fetched_at, models) in providers.items():
            if provider not in self._live:
                self._live[provider] = models
                self._fetched_at[provider] = fetched_at
                self._changed()
                self._fresh[provider] = fetched_at + self._ttl
        for key, window in learned.items():
            known = self._learned.get(key)
            if known is None or known.at < window.at:
                self._learned[key] = window
                self._changed()

    def _take_shared(self, store: WindowStore) -> None:
        self._shared_seen = store.version
        for key, window in store.windows().items():
            known = self._learned.get(key)
            if known is None or known.at < window.at:
                self._learned[key] = window
                self._changed()

    def _save_snapshot(self) -> None:
        try:
            self._write_snapshot(self.snapshot_path)
        except OSError as exc:  # a lock timeout too; only a cache: the next refresh writes it again
            logger.warning("could not write the catalog snapshot: %s", exc)

    def _write_snapshot(self, path: Path) -> None:
        with self._save_lock:
            write_snapshot(path, {p: (self._fetched_at.get(p, 0.0), models) for p, models in self._live.items()}, self._learned)

    def _save_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._save_snapshot()
            return
        future = loop.run_in_executor(engine_executor(), self._save_snapshot)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        future.add_done_callback(_log_failure)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out listing models"
    return str(exc) or type(exc).__name__


def _log_failure(future: asyncio.Future[Any]) -> None:
    # Retrieving the exception also keeps asyncio from reporting it as never retrieved.
    if not future.cancelled() and future.exception() is not None:
        logger.warning("catalog background work failed: %r", future.exception())


_defaults: dict[Path, ModelCatalog] = {}
_defaults_lock = threading.Lock()


def default_catalog() -> ModelCatalog:
    """The catalog every part of this process shares, one per ``ASSISTANT_HOME`` (its snapshot is
    ``catalog.json`` in the cache dir there). It refreshes no provider list by itself; ``assistant
    models --refresh`` does, and local servers are probed on first use.

        Router(catalog=default_catalog()) is what Router() does
    """
    path = cache_dir() / "catalog.json"
    with _defaults_lock:
        found = _defaults.get(path)
        if found is None:
            found = _defaults[path] = ModelCatalog(snapshot_path=path)
        return found
