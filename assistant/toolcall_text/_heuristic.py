"""Shapes without markup of their own, found only where they name an offered tool and are not
introduced as an example (``_regions``):

- a ```json / ```tool_code fence holding call objects (xLAM, Command-R ``Action:``, Gemma ``tool_code``)
- ``Action: NAME`` + ``Action Input: {..}`` (ReAct prompts)
- a bare JSON call object or list in the text (Llama 3.x ``{"name", "parameters"}``, xLAM)
- a pythonic list ``[get_weather(city="Paris")]`` (Llama 3.2, Llama 4, ToolACE)
- ``NAME({..})`` written inline, and a reply that is nothing but ``NAME(k=v)``
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from ._bodies import RawCall, calls_from_value, json_sequence, paren_end, parse_args, pythonic_calls
from ._found import Found, Resolve, found
from ._regions import Fence
from .lenient_json import IncompleteJSONError, balanced_end, decode_at

__all__ = ["heuristic_extractors"]

_EXPLICIT_FENCES = {"tool_code", "tool_call", "tool_calls", "tool", "function_call", "functions"}
_REACT = re.compile(r"Action:\s*([\w.\-]+)\s*\n\s*Action Input:\s*(.*?)(?=\n\s*(?:Observation|Thought|Action)\s*:|\Z)", re.DOTALL)
_PY_LIST = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")
_QUOTED_KEY = re.compile(r"(?:\[\s*)?\{\s*[\"']")
_INLINE_CALL = re.compile(r"(?<![\w.])((?:[A-Za-z_]\w*\.)*[A-Za-z_][\w\-]*)\s*\(\s*(?=\{)")
_ARGS_OBJECT = re.compile(r"\(\s*\{")
_WHOLE_CALL = re.compile(r"^\s*((?:[A-Za-z_]\w*\.)*[A-Za-z_][\w\-]*)\s*\(.*\)\s*$", re.DOTALL)


def _known(calls: list[RawCall], resolve: Resolve) -> bool:
    return bool(calls) and all(resolve(name) for name, _ in calls)


def _fence_calls(fence: Fence, body: str) -> list[RawCall]:
    stripped = body.strip()
    if fence.lang == "tool_code" or fence.lang in ("python", "py"):
        return pythonic_calls(stripped, unwrap_print=fence.lang == "tool_code")
    if stripped[:1] in "{[":
        return json_sequence(stripped, strict=fence.lang not in _EXPLICIT_FENCES)
    return []


def _fences(fences: list[Fence]) -> Callable[[str, Resolve], Iterator[Found]]:
    def extract(text: str, resolve: Resolve) -> Iterator[Found]:
        for fence in fences:
            if not fence.carrier:
                continue
            explicit = fence.lang in _EXPLICIT_FENCES
            hit = found(fence.start, fence.end, lambda f=fence: _fence_calls(f, text[f.body_start : f.body_end]),
                        explicit=explicit)
            if explicit or _known(hit.calls, resolve):
                yield hit

    return extract


def _react(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _REACT.finditer(text):
        if resolve(m.group(1)):
            hit = found(m.start(), m.end(), lambda m=m: [(m.group(1), parse_args(m.group(2).strip()))], explicit=False)
            if hit.calls:
                yield hit


def _bare_json(text: str, resolve: Resolve) -> Iterator[Found]:
    i = 0
    while True:
        i = min((p for p in (text.find("{", i), text.find("[", i)) if p >= 0), default=-1)
        if i < 0:
            return
        # Only where an object (or a list of objects) with a quoted key starts: keeps prose and code cheap.
        if _QUOTED_KEY.match(text, i) is None:
            i += 1
            continue
        try:
            decoded = decode_at(text, i)
        except IncompleteJSONError:
            return
        if decoded is not None:
            try:
                calls = calls_from_value(decoded[0], strict=True)
            except IncompleteJSONError:
                calls = []
            if _known(calls, resolve):
                yield Found(i, decoded[1], calls, explicit=False)
                i = decoded[1]
                continue
        i += 1


def _pythonic_lists(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _PY_LIST.finditer(text):
        end = balanced_end(text, m.start())
        if end is None:
            continue
        calls = pythonic_calls(text[m.start() : end])
        if _known(calls, resolve):
            yield Found(m.start(), end, calls, explicit=False)


def _inline_calls(text: str, resolve: Resolve) -> Iterator[Found]:
    if _ARGS_OBJECT.search(text) is None:
        return
    for m in _INLINE_CALL.finditer(text):
        if not resolve(m.group(1)):
            continue
        opening = text.index("(", m.start())
        end = paren_end(text, opening)
        if end is None:
            continue
        inner = text[opening + 1 : end - 1].strip()
        hit = found(m.start(), end, lambda inner=inner, name=m.group(1): [(name, parse_args(inner))], explicit=False)
        if hit.calls and "_raw_arguments" not in hit.calls[0][1]:
            yield hit


def _whole_call(text: str, resolve: Resolve) -> Iterator[Found]:
    m = _WHOLE_CALL.match(text)
    if m is not None and resolve(m.group(1)):
        calls = pythonic_calls(text)
        if len(calls) == 1:
            yield Found(m.start(1), len(text.rstrip()), calls, explicit=False)


def heuristic_extractors(fences: list[Fence]) -> tuple[Callable[[str, Resolve], Iterator[Found]], ...]:
    return (_fences(fences), _react, _bare_json, _pythonic_lists, _inline_calls, _whole_call)
