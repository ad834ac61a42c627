"""What one call cost in USD: the provider's own figure when it states one (OpenRouter's
``usage.cost``), else the catalog's prices times the tokens, cache reads and writes at their rates.

    cost = call_cost(catalog.get("anthropic/claude-haiku-4-5"), usage, family="anthropic")

Prices are USD per token as in OpenRouter's ``pricing`` (``prompt``, ``completion``,
``input_cache_read``, ``input_cache_write``). None means the price is not known.
"""

from __future__ import annotations

from ..messages import ModelInfo, Usage

__all__ = ["call_cost"]

# Per wire family: does input_tokens include the cached and cache-written tokens, and the cache read /
# write rates (times the prompt price) used when the catalog has no cache prices.
# Anthropic: input_tokens counts only what follows the last breakpoint; reads cost 0.1x and 5-minute
# writes 1.25x the base input price (docs.anthropic.com/en/docs/build-with-claude/prompt-caching#pricing).
# Elsewhere the prompt count includes cached tokens; their discount varies by model, so an unknown one
# is charged at the full prompt price (an upper bound, never an under-count).
_FAMILIES: dict[str, tuple[bool, float, float]] = {"anthropic": (False, 0.1, 1.25)}
_DEFAULT = (True, 1.0, 1.0)


def call_cost(info: ModelInfo | None, usage: Usage, *, family: str = "openai", local: bool = False) -> float | None:
    """USD for one answered call, or None when neither the provider nor the catalog says."""
    if usage.cost is not None:
        return usage.cost
    if local:
        return 0.0
    if info is None:
        return None
    if info.id.endswith(":free") or (info.free and not info.pricing):
        return 0.0
    pricing = info.pricing or {}
    prompt, completion = pricing.get("prompt"), pricing.get("completion")
    if prompt is None or completion is None:
        return None
    counts_cache, read_rate, write_rate = _FAMILIES.get(family, _DEFAULT)
    read = pricing.get("input_cache_read", prompt * read_rate)
    write = pricing.get("input_cache_write", prompt * write_rate)
    cached, written = usage.cached_tokens, usage.cache_write_tokens
    plain = usage.input_tokens - (cached + written if counts_cache else 0)
    return max(plain, 0) * prompt + cached * read + written * write + usage.output_tokens * completion
