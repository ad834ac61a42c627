"""The health document every process shares (records and the small operations on them): providers'
auto-disables, cooldowns, circuits with their call buckets, and request timestamps under rate-limit keys.
``health.HealthStore`` keeps it in a file; ``redis_state.RedisHealthStore`` in Redis.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "HealthDoc", "ProviderHealth", "Circuit", "Disabled", "Cooldown", "Successes", "key_hash", "circuit_key", "circuit_of",
    "count_call", "provider_of", "prune", "DAY", "VERSION",
]

VERSION = 1
DAY = 86400.0


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

    def empty(self) -> bool:
        return self.disabled is None


class Circuit(_Record):
    """One endpoint's breaker: call counts per time bucket ``[start, calls, failed]`` and when it opened."""

    buckets: list[list[float]] = Field(default_factory=list)
    opened_at: float | None = None

    def empty(self) -> bool:
        return not self.buckets and self.opened_at is None


class HealthDoc(_Record):
    """The file's content. ``windows`` maps a rate-limit key to request times (sorted); ``circuits``
    maps a ``circuit_key`` to its breaker."""

    version: int = VERSION
    providers: dict[str, ProviderHealth] = Field(default_factory=dict)
    circuits: dict[str, Circuit] = Field(default_factory=dict)
    cooldowns: dict[str, Cooldown] = Field(default_factory=dict)
    windows: dict[str, list[float]] = Field(default_factory=dict)


def key_hash(keys: Sequence[str]) -> str:
    """A short, one-way fingerprint of a provider's key set (for "the key changed" checks)."""
    if not keys:
        return ""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:12]


def circuit_key(provider: str, base_url: str | None) -> str:
    """The breaker key of one endpoint: ``"llama http://10.0.0.5:8080"`` (the provider alone without a URL)."""
    return f"{provider} {base_url}" if base_url else provider


def circuit_of(doc: HealthDoc, key: str) -> Circuit:
    entry = doc.circuits.get(key)
    if entry is None:
        entry = doc.circuits[key] = Circuit()
    return entry


def count_call(circuit: Circuit, bucket: float, failed: bool, keep_after: float, calls: int = 1) -> None:
    buckets = circuit.buckets
    found = buckets[-1] if buckets else None
    if found is None or found[0] != bucket:
        # Calls land in the newest bucket but once per bucket_s: then forget the ones past the window.
        buckets = circuit.buckets = [b for b in buckets if b[0] > keep_after]
        found = next((b for b in buckets if b[0] == bucket), None)
        if found is None:
            found = [bucket, 0, 0]
            buckets.append(found)
    found[1] += calls
    if failed:
        found[2] += calls


class Successes:
    """The everyday successes (no circuit closed, nothing re-enabled) counted since the last flush, as
    one operation: one per flush instead of one per call. ``_pending_ops`` and ``_change`` seal it, so
    what a flush writes never grows afterwards and operations keep their order."""

    __slots__ = ("counts", "keep_after")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, float], int] = {}
        self.keep_after: dict[str, float] = {}

    def add(self, key: str, bucket: float, keep_after: float) -> None:
        slot = key, bucket
        counts = self.counts
        counts[slot] = counts.get(slot, 0) + 1
        self.keep_after[key] = keep_after

    def __call__(self, doc: HealthDoc) -> None:
        for (key, bucket), calls in self.counts.items():
            count_call(circuit_of(doc, key), bucket, False, self.keep_after[key], calls)


def provider_of(doc: HealthDoc, name: str) -> ProviderHealth:
    entry = doc.providers.get(name)
    if entry is None:
        entry = doc.providers[name] = ProviderHealth()
    return entry


def prune(doc: HealthDoc, now: float) -> None:
    doc.cooldowns = {k: v for k, v in doc.cooldowns.items() if v.until > now}
    doc.windows = {k: kept for k, v in doc.windows.items() if (kept := [t for t in v if t > now - DAY])}
    for name, entry in list(doc.providers.items()):
        if entry.empty():
            del doc.providers[name]
    for key, circuit in list(doc.circuits.items()):
        # Buckets older than a day are dead weight whatever the window; an open circuit stays.
        circuit.buckets = [b for b in circuit.buckets if b[0] > now - DAY]
        if circuit.empty():
            del doc.circuits[key]


