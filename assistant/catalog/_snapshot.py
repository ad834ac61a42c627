"""The catalog's snapshot file and the learned windows in it: ``catalog.json`` in the cache dir, versioned
with ordered migrations, merged with what other processes wrote under its lock (newest fetch and newest
learned window win), and the ``WindowStore`` seam through which a fleet shares learned windows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from ..errors import UsageError
from ..files.store import BrokenFileError, file_lock, read_json, write_json_atomic
from ..messages import ModelInfo
from ..providers.specs import get_spec

__all__ = ["LearnedWindow", "WindowStore", "OVERFLOW_SOURCE", "read_snapshot", "write_snapshot", "shareable"]

logger = logging.getLogger("assistant.catalog")

OVERFLOW_SOURCE = "a context overflow error"
_SNAPSHOT_VERSION = 2

Snapshot = dict[str, tuple[float, dict[str, ModelInfo]]]


@dataclass(frozen=True, slots=True)
class LearnedWindow:
    """A window learned at run time: how many tokens, where it was read (``source``) and when (``at``)."""

    window: int
    source: str
    at: float

    def describe(self) -> str:
        return f"learned from {self.source}"


class WindowStore(Protocol):
    """Learned windows shared with other hosts. ``windows()`` answers from memory and ``version``
    changes whenever it may hold news (the catalog compares it on every read); ``save`` never blocks."""

    version: int

    def windows(self) -> dict[str, LearnedWindow]: ...

    def save(self, model_id: str, window: LearnedWindow) -> None: ...


def shareable(key: str) -> bool:
    """A window of a known remote provider: the same for every host (a local server's is its host's own)."""
    try:
        return not get_spec(key.split("/", 1)[0]).local
    except UsageError:
        return False  # a provider the user declared: often a local server


def _v1_to_v2(document: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept a learned window as a bare number; every one came from an overflow error."""
    learned = document.get("learned", {})
    document["learned"] = {k: {"window": v, "source": OVERFLOW_SOURCE, "at": 0.0} for k, v in learned.items()}
    document["version"] = 2
    return document


# Ordered migrations: version N's document goes through _MIGRATIONS[N] to become version N + 1.
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def _learned_entry(value: Any) -> LearnedWindow | None:
    if not isinstance(value, dict):
        return None
    window, source, at = value.get("window"), value.get("source"), value.get("at", 0.0)
    if isinstance(window, bool) or not isinstance(window, int) or window <= 0 or not isinstance(source, str):
        return None
    return LearnedWindow(window, source, float(at) if isinstance(at, (int, float)) else 0.0)


def read_snapshot(path: Path) -> tuple[dict[str, tuple[float, dict[str, ModelInfo]]], dict[str, LearnedWindow]]:
    """The snapshot's providers and learned windows; a missing or unreadable snapshot is empty (it is
    only a cache: the next refresh rebuilds it)."""
    try:
        loaded = read_json(path)
        if loaded is None:
            return {}, {}
        document = loaded[0]
        if not isinstance(document, dict):
            return {}, {}
        while isinstance(document.get("version"), int) and document["version"] in _MIGRATIONS:
            document = _MIGRATIONS[document["version"]](document)
        if document.get("version") != _SNAPSHOT_VERSION:
            return {}, {}
        providers = {}
        for provider, entry in document.get("providers", {}).items():
            models = [ModelInfo.model_validate(m) for m in entry.get("models", [])]
            providers[provider] = (float(entry.get("fetched_at", 0.0)), {m.model_id: m for m in models})
        learned = {k: entry for k, v in document.get("learned", {}).items() if (entry := _learned_entry(v)) is not None}
        return providers, learned
    except (OSError, BrokenFileError, ValidationError, AttributeError, TypeError, ValueError) as exc:
        logger.warning("ignoring unreadable catalog snapshot %s: %s", path, exc)
        return {}, {}



def write_snapshot(path: Path, providers: Snapshot, learned: dict[str, LearnedWindow]) -> None:
    """Write ``providers`` (fetch time, models) and ``learned`` windows to ``path``, merged under its lock
    with what another process may have refreshed or learned meanwhile (the newer of each wins)."""
    with file_lock(path):
        on_disk, known = read_snapshot(path)
        for provider, (fetched_at, models) in providers.items():
            if provider not in on_disk or on_disk[provider][0] <= fetched_at:
                on_disk[provider] = (fetched_at, models)
        for key, window in learned.items():
            if key not in known or known[key].at <= window.at:
                known[key] = window
        write_json_atomic(path, {
            "version": _SNAPSHOT_VERSION,
            "providers": {
                p: {"fetched_at": t, "models": [m.model_dump(mode="json") for m in models.values()]}
                for p, (t, models) in sorted(on_disk.items())
            },
            "learned": {k: {"window": w.window, "source": w.source, "at": w.at} for k, w in sorted(known.items())},
        })
