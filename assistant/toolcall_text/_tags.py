"""Formats written as XML-ish tags:

- ``<tool_call>{"name": .., "arguments": ..}</tool_call>`` Hermes, Qwen 2.5/3, Granite 4 (aliases
  ``<function_call>``, ``<tools>``, ``<toolcall>``; ``<tool_calls>`` Hunyuan, Jamba, MiniMax-M1;
  ``<TOOLCALL>`` Nemotron; namespaced ``<seed:tool_call>``, ``<minimax:tool_call>``); the closing tag
  may be missing at the end of the reply
- ``<tool_call><function=NAME><parameter=K>V</parameter></function></tool_call>`` Qwen3-Coder, Seed-OSS
- ``<tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value></tool_call>`` GLM-4.5/4.6/4.7
- ``<invoke name=NAME><parameter name=K>V</parameter></invoke>`` MiniMax-M2
- ``<function=NAME>{..}</function>`` Llama 3.1 custom tools, Functionary v3.1
- ``[TOOL_CALL]{..}[/TOOL_CALL]`` and friends
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ._bodies import FUNCTION_TAG, body_calls
from ._found import Found, Resolve, found
from .lenient_json import IncompleteJSONError, decode_at

__all__ = ["TAG_EXTRACTORS", "STRONG_TAGS"]

_TAG_NAMES = r"tool_calls?|toolcalls?|tool-call|function_calls?|functioncalls?|function-call|tool_use|tools|tool|call"
STRONG_TAGS = ("tool_call", "tool_calls", "toolcall", "toolcalls", "tool-call", "function_call", "function_calls",
               "functioncall", "functioncalls", "function-call", "tool_use")
_OPEN_TAG = re.compile(r"<(?:\w+:)?(" + _TAG_NAMES + r")(?:\s[^<>]*)?>", re.IGNORECASE)
_BRACKET = re.compile(r"\[(TOOL_CALL|TOOL_REQUEST|FUNCTION_CALL)\](.*?)(\[/\1\]|(?=\[\1\])|\Z)", re.DOTALL)


def _tags(text: str, resolve: Resolve) -> Iterator[Found]:
    opens = list(_OPEN_TAG.finditer(text))
    for idx, m in enumerate(opens):
        tag = m.group(1).lower()
        close = re.compile(r"</(?:\w+:)?" + re.escape(m.group(1)) + r"\s*>", re.IGNORECASE).search(text, m.end())
        next_open = opens[idx + 1].start() if idx + 1 < len(opens) else len(text)
        json_end = _json_end(text, m.end())
        if json_end is not None and close is not None and close.start() < json_end:
            # The JSON object itself says where the call ends, whatever tags its strings hold.
            after = re.compile(r"\s*</(?:\w+:)?" + re.escape(m.group(1)) + r"\s*>", re.IGNORECASE).match(text, json_end)
            body, end, closed = text[m.end() : json_end], after.end() if after else json_end, True
        elif close is not None and close.start() <= next_open:
            body, end, closed = text[m.end() : close.start()], close.end(), True
        else:
            body, end, closed = text[m.end() : next_open], next_open, next_open < len(text)
        hit = found(m.start(), end, lambda body=body, closed=closed: body_calls(body, closed=closed))
        if hit.calls or hit.truncated or tag in STRONG_TAGS:
            yield hit
    for m in _BRACKET.finditer(text):
        yield found(m.start(), m.end(), lambda m=m: body_calls(m.group(2), closed=bool(m.group(3))))


def _json_end(text: str, start: int) -> int | None:
    """End of the JSON value starting the body at ``start`` when a closing tag sits inside one of its strings."""
    i = len(text) - len(text[start:].lstrip())
    if i >= len(text) or text[i] not in "{[":
        return None
    try:
        decoded = decode_at(text, i)
    except IncompleteJSONError:
        return None
    return decoded[1] if decoded is not None else None


def _function_tags(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in FUNCTION_TAG.finditer(text):
        closed = bool(m.group(3)) or m.end() < len(text)
        yield found(m.start(), m.end(), lambda m=m, closed=closed: body_calls(m.group(0), closed=closed))


TAG_EXTRACTORS = (_tags, _function_tags)
