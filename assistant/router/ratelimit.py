"""Client-side request limits: RPM/RPD sliding windows, shared by every process through the health file.

A limit is a key ("groq", "openrouter:free") and its windows. Asking for a slot reserves the earliest
time every window allows and records it at once, so concurrent callers queue up instead of bursting;
the caller sleeps until then (and tells the user how long). Local providers have no limits.

OpenRouter's ``:free`` variants share account-wide limits (https://openrouter.ai/docs, "Free Variant"):
"every request against a :free model counts toward the account-wide free-model rate limits" - 20 per
minute, and 50 per day (1000 per day once at least 10 credits were ever purchased).

    limiter = RateLimiter(health)
    wait = limiter.reserve(limit_rules("groq", "llama-3.3-70b", rpm=30), now=time.time())
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .health import HealthStore

__all__ = [
    "Window",
    "Rule",
    "next_slot",
    "limit_rules",
    "RateLimiter",
    "FREE_RPM",
    "FREE_RPD",
    "FREE_RPD_WITH_CREDITS",
]

MINUTE = 60.0
DAY = 86400.0
FREE_RPM = 20
FREE_RPD = 50
FREE_RPD_WITH_CREDITS = 1000


class Window(NamedTuple):
    """At most ``limit`` requests in any ``period_s`` seconds."""

    limit: int
    period_s: float


class Rule(NamedTuple):
    key: str
    windows: tuple[Window, ...]


def next_slot(times: Sequence[float], windows: Sequence[Window], now: float) -> float:
    """The earliest time >= ``now`` one more request fits every window, given sorted ``times``
    (which may hold reserved future slots).

        next_slot([0.0, 1.0], [Window(2, 60.0)], now=5.0)  # 60.0
    """
    slot = now
    for window in windows:
        if window.limit <= 0:
            return float("inf")
        if len(times) >= window.limit:
            # A window holding the new slot then holds at most the limit - 1 times after
            # times[-limit], so the new request fits every window it falls into.
            slot = max(slot, times[-window.limit] + window.period_s)
    return slot


def limit_rules(
    provider: str,
    model: str,
    *,
    local: bool = False,
    rpm: int | None = None,
    rpd: int | None = None,
    free_suffix: str | None = None,
    credits: bool = False,
) -> tuple[Rule, ...]:
    """The limits one request to ``provider/model`` must respect.

        limit_rules("openrouter", "z-ai/glm-4.5-air:free", free_suffix=":free")
    """
    if local or not (rpm or rpd or (free_suffix and model.endswith(free_suffix))):
        return ()
    rules: list[Rule] = []
    own = ((Window(rpm, MINUTE),) if rpm else ()) + ((Window(rpd, DAY),) if rpd else ())
    if own:
        rules.append(Rule(provider, own))
    if free_suffix and model.endswith(free_suffix):
        daily = FREE_RPD_WITH_CREDITS if credits else FREE_RPD
        rules.append(Rule(f"{provider}{free_suffix}", (Window(FREE_RPM, MINUTE), Window(daily, DAY))))
    return tuple(rules)


class RateLimiter:
    """Reserves slots in the shared windows; no I/O of its own (the health store writes behind)."""

    def __init__(self, health: HealthStore) -> None:
        self.health = health

    def wait_for(self, rules: Sequence[Rule], now: float) -> float:
        """Seconds until a request fits every rule (0 when it fits now); reserves nothing."""
        slot = now
        for rule in rules:
            slot = max(slot, next_slot(self.health.window(rule.key), rule.windows, now))
        return slot - now

    def reserve(self, rules: Sequence[Rule], now: float, max_wait: float) -> float:
        """Reserve the earliest slot and return the wait; when it exceeds ``max_wait`` nothing is
        reserved and the (long) wait is returned for the caller to skip this candidate."""
        if not rules:
            return 0.0
        wait = self.wait_for(rules, now)
        if wait > max_wait:
            return wait
        for rule in rules:
            self.health.note_request(rule.key, now + wait, keep_s=max(w.period_s for w in rule.windows))
        return wait

    async def reserve_async(self, rules: Sequence[Rule], now: float, max_wait: float) -> float:
        """``reserve`` for the router's loop (a shared backend answers over the network)."""
        return self.reserve(rules, now, max_wait)
