"""One classification rule and the helpers the rule tables are written with."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .hierarchy import ErrorKind

__all__ = ["Family", "Rule", "rule", "any_of"]

Family = Literal["openai", "anthropic", "gemini", "ollama"]


class Rule(BaseModel):
    """One declarative classification rule: every condition it names must hold, ``unless`` vetoes."""

    model_config = ConfigDict(defer_build=True, frozen=True, arbitrary_types_allowed=True)

    kind: ErrorKind
    codes: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    status: frozenset[int] = frozenset()
    phrase: re.Pattern[str] | None = None
    unless: re.Pattern[str] | None = None
    never_passes: bool = False

    @property
    def tier(self) -> int:
        """0 for rules on codes, 1 for rules on types, 2 for rules on words only."""
        return 0 if self.codes else 1 if self.types else 2


def rule(
    kind: ErrorKind,
    *,
    codes: tuple[str, ...] = (),
    types: tuple[str, ...] = (),
    status: tuple[int, ...] = (),
    phrase: str | None = None,
    unless: str | None = None,
    never_passes: bool = False,
) -> Rule:
    flags = re.IGNORECASE
    return Rule(
        kind=kind,
        codes=frozenset(c.lower() for c in codes),
        types=frozenset(t.lower() for t in types),
        status=frozenset(status),
        phrase=re.compile(phrase, flags) if phrase else None,
        unless=re.compile(unless, flags) if unless else None,
        never_passes=never_passes,
    )


def any_of(*alternatives: str) -> str:
    """One regex alternative per argument, so long phrase lists read one phrasing per line."""
    return "|".join(f"(?:{a})" for a in alternatives)
