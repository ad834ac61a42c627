"""What the caller's ``model`` stands for before candidates are planned: role names (``"high_end"``),
``hint:`` routes, bare provider names, the config's fallback providers and per-model fallbacks, and the
``flash_fallback`` / ``free_fallback`` roles that follow an explicit chain. ``overflow`` is asked for
separately, when no window holds the prompt.

    ids, then_auto = expand_model("openai/gpt-4o", registry)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..files.paths import CONFIG_ENV, config_stamp_of
from ..free_models.roles import configured_role, is_role, model_for_role
from ..registry import LLMRegistry
from ..registry.config import ConfigFile
from .policies import Breaker, RouterPolicy, WaitExponentialJitter, stop_after_attempt

__all__ = ["expand_model", "Expansions", "overflow_model", "policy_from_config"]

# The roles that follow an explicit chain (``expand_model``).
_FOLLOWERS = ("flash_fallback", "free_fallback")
_MEMO_SIZE = 256


def expand_model(model: str | Sequence[str], registry: LLMRegistry) -> tuple[str | list[str], bool]:
    """``(model or ids to plan, whether the free chain follows them)``; "auto" stays "auto"."""
    if isinstance(model, str):
        if is_role(model):
            model = model_for_role(model)
        if model.strip().lower() == "auto":
            return "auto", False
        asked = [model]
    else:
        asked = [model_for_role(m) if is_role(m) else m for m in model]
    ids: list[str] = []
    for entry in asked:
        if entry.strip().lower() == "auto":
            continue
        ids.extend(registry.expand(entry))
    then_auto = False
    for role in _FOLLOWERS:
        target = configured_role(role)
        if target is None:
            continue
        if target == "auto":
            then_auto = True
        else:
            ids.extend(registry.expand(target))
    if any(m.strip().lower() == "auto" for m in asked):
        then_auto = True
    return list(dict.fromkeys(ids)), then_auto


class Expansions:
    """``expand_model`` for one registry, answered from memory while nothing it reads has changed: the
    registry's providers and config (``registry.generation``), the config file's model roles (its
    ``config_stamp``: one ``access`` or ``stat``) and the ``ASSISTANT_MODEL_<ROLE>`` variables involved.
    The ids come as a tuple: the memo's own, not to be changed.

        model, then_auto = Expansions(registry)("openai/gpt-4o")
    """

    def __init__(self, registry: LLMRegistry) -> None:
        self.registry = registry
        self._memo: dict[Any, tuple[tuple[str, ...], int, tuple[Any, ...], str | tuple[str, ...], bool]] = {}

    def __call__(self, model: str | Sequence[str]) -> tuple[str | tuple[str, ...], bool]:
        asked = model if isinstance(model, str) else tuple(model)
        hit = self._memo.get(asked)
        if hit is not None:
            names, generation, stamp, ids, then_auto = hit
            if generation == self.registry.generation and stamp == config_stamp_of(names):
                return ids, then_auto
        roles = [m for m in ([asked] if isinstance(asked, str) else asked) if is_role(m)]
        names = CONFIG_ENV + tuple(f"ASSISTANT_MODEL_{r.strip().lower().replace('-', '_').upper()}"
                                   for r in (*roles, *_FOLLOWERS))
        generation, stamp = self.registry.generation, config_stamp_of(names)
        found, then_auto = expand_model(model, self.registry)
        ids = found if isinstance(found, str) else tuple(found)
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[asked] = (names, generation, stamp, ids, then_auto)
        return ids, then_auto


def overflow_model(registry: LLMRegistry) -> list[str]:
    """The ``overflow`` role's ids (a big-window model), or [] when not configured."""
    target = configured_role("overflow")
    if target is None or target == "auto":
        return []
    return registry.expand(target)


def policy_from_config(config: ConfigFile) -> RouterPolicy:
    """The router policy with zeroclaw's ``[reliability]`` numbers where the file set them."""
    rel = config.reliability
    changes: dict[str, object] = {}
    fields = rel.model_fields_set
    if "provider_retries" in fields:
        changes["retry"] = stop_after_attempt(rel.provider_retries + 1)
    if "provider_backoff_ms" in fields:
        changes["backoff"] = WaitExponentialJitter(base=rel.provider_backoff_ms / 1000.0)
    if rel.circuit_breaker_threshold is not None or rel.circuit_breaker_cooldown_ms is not None:
        default = Breaker()
        threshold = rel.circuit_breaker_threshold
        changes["breaker"] = Breaker(
            # zeroclaw counts failures; our breaker judges a failure rate once this many calls ended in
            # its window, so N failures in a row still open it. 0 (or unset) turns the breaker off.
            min_calls=default.min_calls if threshold is None else (threshold or 1_000_000),
            window_s=default.window_s,
            reset_s=default.reset_s if rel.circuit_breaker_cooldown_ms is None else rel.circuit_breaker_cooldown_ms / 1000.0,
        )
    return RouterPolicy(**changes)  # type: ignore[arg-type]
