"""Which wire family (error dialect) each provider name speaks, as ``providers.specs`` declares them.

Kept apart from the rule tables so declaring a provider never loads the classifier.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Family", "declare_family", "declared_family"]

Family = Literal["openai", "anthropic", "gemini", "ollama"]

_DECLARED: dict[str, Family] = {}


def declare_family(provider: str, family: Family) -> None:
    """Tell the classifier which wire family a provider name speaks (``providers.specs`` declares every row),
    so that family's rules are tried first. Unknown names fall back to hints in the name."""
    _DECLARED[provider.lower()] = family


def declared_family(provider: str) -> Family | None:
    return _DECLARED.get(provider.lower())
