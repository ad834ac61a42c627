"""The record every format's extractor yields: where a call's markup sits and what it holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ._bodies import RawCall
from .lenient_json import IncompleteJSONError

__all__ = ["Found", "Resolve", "found"]

Resolve = Callable[[str], "str | None"]


@dataclass(slots=True)
class Found:
    """A span of the text holding ``calls``. ``explicit`` markup (tags, special tokens) is removed even
    for unknown tools; ``truncated`` when the reply ended inside the call (no call is made from it);
    ``others`` names tools the markup addressed that are not functions (gpt-oss ``to=python``)."""

    start: int
    end: int
    calls: list[RawCall] = field(default_factory=list)
    explicit: bool = True
    truncated: bool = False
    others: list[str] = field(default_factory=list)


def found(start: int, end: int, read: Callable[[], list[RawCall]], *, explicit: bool = True) -> Found:
    """``Found`` for the span, its calls from ``read()``; a call the reply left open is truncated."""
    try:
        return Found(start, end, read(), explicit)
    except IncompleteJSONError:
        return Found(start, end, [], explicit, truncated=True)
