"""The shapes models really write tool calls in when they write them as text, one extractor each.

``find_calls(text, resolve)`` runs the extractors in order and returns non-overlapping ``Found``
spans. Explicit markup (tags, special tokens) is always found, whatever tool it names, so it never
reaches the user; heuristic shapes (bare JSON, code fences, ``name(...)``) count only when
``resolve`` knows the name, so prose that merely looks like a call is left alone.

Shapes, with the model family each comes from:
- ``<tool_call>{"name": .., "arguments": ..}</tool_call>`` Hermes, Qwen 2.5/3 (also aliases
  ``<function_call>``, ``<tools>``, ``<toolcall>``, ``<minimax:tool_call>``, unclosed at the end)
- ``<tool_call><function=get_weather><parameter=city>Paris</parameter></function></tool_call>`` Qwen3-Coder
- ``<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>`` GLM-4.5+
- ``<|python_tag|>{"name": .., "parameters": ..}<|eom_id|>`` and bare ``{"name", "parameters"}`` Llama 3.x
- ``<function=get_weather>{"city": "Paris"}</function>`` Llama 3.1 custom / Llama 4
- ``[TOOL_CALLS][{"name": .., "arguments": ..}]`` and ``[TOOL_CALLS]name[ARGS]{..}`` Mistral, Devstral
- ``<｜tool▁call▁begin｜>function<｜tool▁sep｜>name\n```json ...```<｜tool▁call▁end｜>`` DeepSeek V3 / V3.1
- ``<|tool_call_begin|>functions.name:0<|tool_call_argument_begin|>{..}`` Kimi K2
- ``<|channel|>commentary to=functions.name <|constrain|>json<|message|>{..}<|call|>`` gpt-oss
- ``functools[{..}]`` FireFunction; ``<|tool_call|>[{..}]`` Granite, Phi-4-mini
- ``<start_function_call>call:name{city:<escape>Paris<escape>}<end_function_call>`` FunctionGemma
- ```` ```tool_code\nprint(default_api.name(city="Paris"))\n``` ```` Gemma; ``[name(city="Paris")]`` Llama 3.2
- ``Action: name`` / ``Action Input: {..}`` ReAct prompts; ``name({"city": "Paris"})`` anywhere
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ._bodies import (
    FUNCTION_TAG,
    RawCall,
    body_calls,
    calls_from_value,
    has_arg_key,
    parse_args,
    pythonic_calls,
    scalar,
)
from .lenient_json import balanced_end, decode_at

__all__ = ["Found", "find_calls", "STRAY_MARKERS"]

Resolve = Callable[[str], "str | None"]


@dataclass(slots=True)
class Found:
    """A span of the text holding ``calls``; ``explicit`` markup is removed even for unknown tools."""

    start: int
    end: int
    calls: list[RawCall] = field(default_factory=list)
    explicit: bool = True


# --- extractors --------------------------------------------------------------------------------

_DS = r"<[｜|]tool[▁_ ]{}[｜|]>"
_DEEPSEEK = re.compile(
    _DS.format("call[▁_ ]begin") + r"(.*?)" + _DS.format("sep") + r"(.*?)"
    + r"(?:" + _DS.format("call[▁_ ]end") + r"|(?=" + _DS.format("call[▁_ ]begin") + r")|$)",
    re.DOTALL,
)
_KIMI = re.compile(
    r"<\|tool_call_begin\|>\s*([^<:\s]+?)(?::\d+)?\s*<\|tool_call_argument_begin\|>(.*?)(?:<\|tool_call_end\|>|$)", re.DOTALL
)
_HARMONY = re.compile(
    r"(?:<\|start\|>assistant)?(?:<\|channel\|>\w+)?\s*to=([\w.\-]+)[^<]*?(?:<\|constrain\|>\s*\w+\s*)?<\|message\|>"
    r"(.*?)(?:<\|call\|>|<\|end\|>|$)",
    re.DOTALL,
)
_MISTRAL = re.compile(r"\[TOOL_CALLS\]\s*")
_MISTRAL_NAMED = re.compile(r"([A-Za-z_][\w.\-]*)\s*(?:\[CALL_ID\]\s*\w+\s*)?(?:\[ARGS\])?\s*")
_PYTHON_TAG = re.compile(r"<\|python_tag\|>(.*?)(?:<\|eom_id\|>|<\|eot_id\|>|$)", re.DOTALL)
_FUNCTOOLS = re.compile(r"functools\s*(?=\[)")
_PIPE_TOOL_CALL = re.compile(r"<\|tool_call\|>(.*?)(?:<\|/tool_call\|>|<\|end_of_text\|>|$)", re.DOTALL)
_FUNCTION_GEMMA = re.compile(r"<start_function_call>\s*call:([\w.\-]+)\{(.*?)\}\s*(?:<end_function_call>|$)", re.DOTALL)
_GEMMA_ARG = re.compile(r"(\w+):(?:<escape>(.*?)<escape>|([^,}]*))", re.DOTALL)
_TAG_NAMES = r"tool_calls?|toolcalls?|tool-call|function_calls?|functioncalls?|function-call|tool_use|tools|tool|call"
_STRONG_TAGS = {"tool_call", "tool_calls", "toolcall", "toolcalls", "tool-call", "function_call", "function_calls",
                "functioncall", "functioncalls", "function-call", "tool_use"}
_OPEN_TAG = re.compile(r"<(?:\w+:)?(" + _TAG_NAMES + r")(?:\s[^<>]*)?>", re.IGNORECASE)
_BRACKET = re.compile(r"\[(TOOL_CALL|TOOL_REQUEST|FUNCTION_CALL)\](.*?)(?:\[/\1\]|(?=\[\1\])|$)", re.DOTALL)
_FENCE_BLOCK = re.compile(r"```([\w\-]*)[ \t]*\n(.*?)(?:```|$)", re.DOTALL)
_EXPLICIT_FENCES = {"tool_code", "tool_call", "tool", "tool_calls", "function_call"}
_CALL_FENCES = _EXPLICIT_FENCES | {"json", "python", "py", ""}
_REACT = re.compile(r"Action:\s*([\w.\-]+)\s*\n\s*Action Input:\s*(.*?)(?=\n\s*(?:Observation|Thought|Action)\s*:|\Z)", re.DOTALL)
_PY_LIST = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")
_QUOTED_KEY = re.compile(r"(?:\[\s*)?\{\s*[\"']")
_CALL_OPEN = re.compile(r"(?<![\w.])((?:[A-Za-z_]\w*\.)*[A-Za-z_][\w\-]*)\s*\(")


def _deepseek(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _DEEPSEEK.finditer(text):
        head, rest = m.group(1).strip(), m.group(2)
        if head in ("function", "") and rest.strip():
            name, _, args = rest.strip().partition("\n")
        else:
            name, args = head, rest
        yield Found(m.start(), m.end(), [(name.strip(), parse_args(args))])


def _kimi(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _KIMI.finditer(text):
        yield Found(m.start(), m.end(), [(m.group(1), parse_args(m.group(2)))])


def _harmony(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _HARMONY.finditer(text):
        yield Found(m.start(), m.end(), [(m.group(1), parse_args(m.group(2)))])


def _mistral(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _MISTRAL.finditer(text):
        i = m.end()
        if i < len(text) and text[i] in "[{":
            decoded = decode_at(text, i)
            if decoded is not None:
                yield Found(m.start(), decoded[1], calls_from_value(decoded[0]))
                continue
        named = _MISTRAL_NAMED.match(text, i)
        if named and named.end() < len(text) and text[named.end()] == "{":
            decoded = decode_at(text, named.end())
            if decoded is not None:
                yield Found(m.start(), decoded[1], [(named.group(1), parse_args(decoded[0]))])
                continue
        yield Found(m.start(), m.end(), [])


def _python_tag(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _PYTHON_TAG.finditer(text):
        yield Found(m.start(), m.end(), body_calls(m.group(1)))


def _functools(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _FUNCTOOLS.finditer(text):
        decoded = decode_at(text, m.end())
        if decoded is not None:
            yield Found(m.start(), decoded[1], calls_from_value(decoded[0]))


def _pipe_tool_call(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _PIPE_TOOL_CALL.finditer(text):
        yield Found(m.start(), m.end(), body_calls(m.group(1)))


def _function_gemma(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _FUNCTION_GEMMA.finditer(text):
        args = {k: (v if v else scalar(bare)) for k, v, bare in _GEMMA_ARG.findall(m.group(2))}
        yield Found(m.start(), m.end(), [(m.group(1), args)])


def _tags(text: str, resolve: Resolve) -> Iterator[Found]:
    opens = list(_OPEN_TAG.finditer(text))
    for idx, m in enumerate(opens):
        tag = m.group(1).lower()
        close = re.compile(r"</(?:\w+:)?" + re.escape(m.group(1)) + r"\s*>", re.IGNORECASE).search(text, m.end())
        next_open = opens[idx + 1].start() if idx + 1 < len(opens) else len(text)
        if close is not None and close.start() <= next_open:
            body, end = text[m.end() : close.start()], close.end()
        else:
            body, end = text[m.end() : next_open], next_open
        calls = body_calls(body)
        if calls or tag in _STRONG_TAGS:
            yield Found(m.start(), end, calls)
    for m in _BRACKET.finditer(text):
        yield Found(m.start(), m.end(), body_calls(m.group(2)))


def _function_tags(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in FUNCTION_TAG.finditer(text):
        yield Found(m.start(), m.end(), body_calls(m.group(0)))


def _fences(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _FENCE_BLOCK.finditer(text):
        lang = m.group(1).lower()
        if lang not in _CALL_FENCES:
            continue
        calls = body_calls(m.group(2))
        explicit = lang in _EXPLICIT_FENCES
        if explicit or (calls and all(resolve(name) for name, _ in calls)):
            yield Found(m.start(), m.end(), calls, explicit=explicit)


def _react(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _REACT.finditer(text):
        if resolve(m.group(1)):
            yield Found(m.start(), m.end(), [(m.group(1), parse_args(m.group(2).strip()))], explicit=False)


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
        decoded = decode_at(text, i)
        if decoded is not None and has_arg_key(decoded[0]):
            calls = calls_from_value(decoded[0])
            if calls and all(resolve(name) for name, _ in calls):
                yield Found(i, decoded[1], calls, explicit=False)
                i = decoded[1]
                continue
        i += 1


def _pythonic_lists(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _PY_LIST.finditer(text):
        end = balanced_end(text, m.start())
        calls = pythonic_calls(text[m.start() : end]) if end is not None else []
        if calls and all(resolve(name) for name, _ in calls):
            yield Found(m.start(), end or len(text), calls, explicit=False)


def _inline_calls(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _CALL_OPEN.finditer(text):
        if not resolve(m.group(1)):
            continue
        end = _paren_end(text, m.end() - 1)
        if end is None:
            continue
        inner = text[m.end() : end - 1].strip()
        if inner.startswith("{"):
            args = parse_args(inner)
            calls = [] if "_raw_arguments" in args else [(m.group(1), args)]
        else:
            calls = pythonic_calls(f"f({inner})")
            calls = [(m.group(1), calls[0][1])] if calls else []
        if calls:
            yield Found(m.start(), end, calls, explicit=False)


def _paren_end(text: str, start: int) -> int | None:
    """Index past the ``)`` closing ``text[start] == "("`` (brackets and strings inside respected)."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            close = text.find(ch, i + 1)
            while close > 0 and text[close - 1] == "\\":
                close = text.find(ch, close + 1)
            if close < 0:
                return None
            i = close
        elif ch in "{[":
            end = balanced_end(text, i)
            if end is None:
                return None
            i = end - 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


_EXTRACTORS = (_deepseek, _kimi, _harmony, _mistral, _python_tag, _functools, _pipe_tool_call, _function_gemma,
               _tags, _function_tags, _fences, _react, _bare_json, _pythonic_lists, _inline_calls)

STRAY_MARKERS = re.compile(
    r"<\|(?:python_tag|eom_id|eot_id|im_end|call|end|/tool_call|tool_call|tool_calls_section_(?:begin|end))\|>"
    r"|</?(?:\w+:)?(?:" + "|".join(sorted(_STRONG_TAGS, key=len, reverse=True)) + r")\s*>"
    r"|\[/?(?:TOOL_CALLS?|ARGS)\]"
    r"|<[｜|]tool[▁_ ]calls?[▁_ ](?:begin|end)[｜|]>"
    r"|<(?:start|end)_function_call>"
    # An orphan close of a reasoning block the client could not split off (Hermes 4, Qwen3).
    r"|</think>",
    re.IGNORECASE,
)


def find_calls(text: str, resolve: Resolve) -> list[Found]:
    """Every call span in ``text``, in text order, none overlapping (earlier extractors win)."""
    taken: list[Found] = []
    for extractor in _EXTRACTORS:
        for found in extractor(text, resolve):
            if not any(found.start < t.end and t.start < found.end for t in taken):
                taken.append(found)
    return sorted(taken, key=lambda f: f.start)
