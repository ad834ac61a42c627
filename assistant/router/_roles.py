"""What the caller's ``model`` stands for before candidates are planned: role names (``"high_end"``),
``hint:`` routes, bare provider names, the config's fallback providers and per-model fallbacks, and the
``flash_fallback`` / ``free_fallback`` roles that follow an explicit chain. ``overflow`` is asked for
separately, when no window holds the prompt.

    ids, then_auto = expand_model("openai/gpt-4o", registry)
"""

from __future__ import annotations

from collections.abc import Sequence

from ..files.paths import CONFIG_ENV
from ..free_models.roles import configured_role, is_role, model_for_role
from ..registry import LLMRegistry
from ..registry.config import ConfigFile
from .policies import Breaker, RouterPolicy, WaitExponentialJitter, stop_after_attempt

__all__ = ["expand_model", "stamp_names", "overflow_model", "policy_from_config"]

# The roles that follow an explicit chain (``expand_model``).
_FOLLOWERS = ("flash_fallback", "free_fallback")


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


def stamp_names(model: str | Sequence[str]) -> tuple[str, ...]:
    """The variables ``expand_model(model, ...)`` reads besides the registry and the config file: where
    the config file is (``CONFIG_ENV``) and the ``ASSISTANT_MODEL_<ROLE>`` variables of the roles
    involved. While a ``ConfigWatch`` on them sees no change, the expansion stays the same (for the same
    registry).

        watch = ConfigWatch(stamp_names("high_end")); ids, then_auto = expand_model("high_end", registry)
    """
    roles = [m for m in ([model] if isinstance(model, str) else model) if is_role(m)]
    return CONFIG_ENV + tuple(f"ASSISTANT_MODEL_{r.strip().lower().replace('-', '_').upper()}"
                              for r in (*roles, *_FOLLOWERS))


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
