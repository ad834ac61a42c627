"""Forgiving JSON for what models write by hand: fences, trailing commas, single quotes, Python
literals (``True``/``None``) and smart quotes. Never a guess at what a cut answer would have said: a
value the text leaves open (a string, object or list still open at its end) raises
``IncompleteJSONError``, so a tool never runs on arguments the model did not finish.

    value = loads_lenient("{'city': 'Paris', 'days': 3,}")      # {"city": "Paris", "days": 3}
    end = balanced_end('f({"a": [1, 2]}) tail', 2)               # index just past the object
"""

from __future__ import annotations

import ast
import re
from typing import Any

import orjson

__all__ = ["loads_lenient", "balanced_end", "decode_at", "IncompleteJSONError"]

_FENCE = re.compile(r"^\s*```[\w\-]*[ \t]*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_PY_LITERALS = re.compile(r"\b(True|False|None)\b")
_JSON_LITERALS = {"True": "true", "False": "false", "None": "null"}
_CLOSERS = {"{": "}", "[": "]"}


class IncompleteJSONError(ValueError):
    """The text ends inside a JSON value (a reply cut by an output limit or a broken stream)."""


def loads_lenient(text: str, *, close_open: bool = False) -> Any:
    """Parse JSON a model wrote, repairing the usual slips; ``ValueError`` when nothing works and
    ``IncompleteJSONError`` (a ``ValueError``) when the value is left open at the end of the text.
    ``close_open=True`` closes it instead: only for a caller that knows the model finished.

        loads_lenient('{"a": 1')    # raises IncompleteJSONError
    """
    candidate = text.strip()
    fenced = _FENCE.match(candidate)
    if fenced:
        candidate = fenced.group(1).strip()
    for attempt in _repairs(candidate, close_open):
        try:
            return orjson.loads(attempt)
        except orjson.JSONDecodeError:
            pass
        try:
            # Single-quoted strings and Python literals: what small models copy from Python examples.
            value = ast.literal_eval(attempt)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            continue
        if isinstance(value, (dict, list, str, int, float, bool)) or value is None:
            return _jsonable(value)
    if not close_open and _left_open(candidate):
        raise IncompleteJSONError(f"JSON left open at the end: {text[-80:]!r}")
    raise ValueError(f"not JSON: {text[:80]!r}")


def _repairs(text: str, close_open: bool) -> list[str]:
    fixed = _TRAILING_COMMA.sub(r"\1", text.translate(_SMART_QUOTES))
    out = [text, fixed]
    if close_open:
        out.append(_close_open_brackets(fixed))
    if _PY_LITERALS.search(out[-1]):
        out.append(_PY_LITERALS.sub(lambda m: _JSON_LITERALS[m.group(1)], out[-1]))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _scan(text: str, start: int) -> tuple[int | None, list[str], str | None]:
    """Walk brackets from ``start`` (string-aware, both quote styles).

    Returns (index just past the matching close or None, brackets still open, open quote or None).
    """
    stack: list[str] = []
    quote: str | None = None
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            # An apostrophe inside a bare word ("don't") is not a string delimiter.
            if ch == '"' or not (i > 0 and text[i - 1].isalnum()):
                quote = ch
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]":
            if not stack:
                return i, stack, None
            stack.pop()
            if not stack:
                return i + 1, stack, None
        i += 1
    return None, stack, quote


def _left_open(text: str) -> bool:
    start = next((i for i, ch in enumerate(text) if ch in "{["), None)
    if start is None:
        return text.lstrip()[:1] == '"' and _scan(text, text.index('"'))[2] is not None
    end, stack, _ = _scan(text, start)
    return end is None and bool(stack)


def balanced_end(text: str, start: int) -> int | None:
    """Index just past the bracket group opening at ``text[start]``; None when it never closes."""
    end, _, _ = _scan(text, start)
    return end


def _close_open_brackets(text: str) -> str:
    start = next((i for i, ch in enumerate(text) if ch in "{["), None)
    if start is None:
        return text
    end, stack, quote = _scan(text, start)
    if end is not None or not stack:
        return text
    return text + (quote or "") + "".join(_CLOSERS[b] for b in reversed(stack))


def decode_at(text: str, start: int) -> tuple[Any, int] | None:
    """Decode the JSON value opening at ``text[start]`` (``{`` or ``[``); returns (value, end), None
    when no value starts there. Raises ``IncompleteJSONError`` when the value runs to the end of the
    text without closing: a cut reply is never completed by guessing.

        decode_at('x {"a": 1} y', 2)    # ({"a": 1}, 10)
    """
    end = balanced_end(text, start)
    if end is None:
        raise IncompleteJSONError(f"JSON left open at the end: {text[start:start + 80]!r}")
    try:
        return loads_lenient(text[start:end]), end
    except ValueError:
        return None
