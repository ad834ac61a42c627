"""Tools for models without native tool calling: the prompt that teaches the protocol, the tolerant
parser that reads what they write back, and the history rendered as plain text.

    system += "\\n\\n" + tool_prompt(specs)
    text, calls = parse_tool_calls(reply_text, allowed={"calculator"})

The protocol is ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``; the parser also reads the
formats of the open-weight model families (``_formats`` lists them) and never lets call markup or
reasoning reach the user. A call is made only where a reply makes it: not in reasoning, not in an
example (``_regions``), not in a reply that was cut inside the call.

Part: tool calls that models write as text: the regions a call may sit in (``_regions``), the formats
(``_formats``, ``_tokens``, ``_harmony``, ``_tags``, ``_heuristic``), their bodies (``_bodies``), values
typed by the tool schema (``_values``), the lenient JSON reader (``lenient_json``), the prompt
(``_prompt``) and the streaming guard (``_guard``). Pure, no I/O. May import: messages.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..messages import ToolCall, ToolSpec, new_call_id
from ._guard import TextGuard
from ._prompt import render_text_history, tool_prompt
from ._values import typed_arguments

__all__ = [
    "parse_tool_calls",
    "extract_tool_calls",
    "TextParse",
    "resolve_tool_name",
    "tool_prompt",
    "render_text_history",
    "TextGuard",
]


@dataclass(slots=True)
class TextParse:
    """What ``extract_tool_calls`` found: the clean text, the calls to offered tools, the names of
    calls to tools that were not offered (so the caller can tell the model), the names of calls the
    reply was cut inside (never made), and the reasoning the text held."""

    text: str
    calls: list[ToolCall] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    truncated: int = 0
    reasoning: str = ""


# Namespaces models put before a function's name (gpt-oss ``functions.``, Gemini ``default_api.``);
# any other dotted name (``browser.search``) is a different tool.
_PREFIXES = re.compile(r"^(?:functions|function|default_api|tools|tool)\.", re.IGNORECASE)


def _norm(name: str) -> str:
    name = name.strip().strip("`'\"").split(":", 1)[0]
    name = _PREFIXES.sub("", name)
    if name.endswith(".call"):  # Llama 3.1 built-ins: brave_search.call(query=...)
        name = name[: -len(".call")]
    return name.lower().replace("-", "_")


def resolve_tool_name(raw: str, allowed: Collection[str]) -> str | None:
    """The offered tool ``raw`` means (``functions.get_weather``, ``Get-Weather`` -> ``get_weather``).

        resolve_tool_name("default_api.calculator", {"calculator"})  # "calculator"
    """
    if raw in allowed:
        return raw
    wanted = _norm(raw)
    found = next((name for name in allowed if _norm(name) == wanted), None)
    if found is None and wanted == "python":
        from ._tokens import CODE_TOOLS

        # The code tool of Llama 3.1 / Functionary goes by several names.
        found = next((name for name in allowed if _norm(name) in CODE_TOOLS), None)
    return found


_BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)+")


def _schemas(specs: Iterable[ToolSpec] | Mapping[str, Any] | None) -> dict[str, Any]:
    if specs is None:
        return {}
    if isinstance(specs, Mapping):
        return dict(specs)
    return {spec.name: spec.parameters for spec in specs}


def extract_tool_calls(
    text: str, allowed: Collection[str], *, specs: Iterable[ToolSpec] | Mapping[str, Any] | None = None
) -> TextParse:
    """Find tool calls written as text; see ``parse_tool_calls``. Pure, no I/O.

        parsed = extract_tool_calls('<tool_call>{"name": "nope"}</tool_call>', {"calculator"})
        parsed.unknown  # ["nope"]
    """
    # The formats are about sixty patterns: compiled for the first reply, not by importing the engine.
    from ._formats import STRAY_MARKERS, find_calls

    if not text:
        return TextParse(text="")
    allowed = set(allowed)
    schemas = _schemas(specs)

    def resolve(name: str) -> str | None:
        return resolve_tool_name(name, allowed)

    scanned = find_calls(text, resolve)
    regions = scanned.regions
    strays = [m.span() for m in STRAY_MARKERS.finditer(regions.masked) if not regions.shown_only(m.start())]
    removed = sorted([(f.start, f.end) for f in scanned.found] + regions.reasoning + strays)
    calls: list[ToolCall] = []
    unknown: list[str] = []
    truncated = 0
    for hit in scanned.found:
        truncated += hit.truncated
        unknown.extend(hit.others)
        for raw_name, arguments in hit.calls:
            name = resolve(raw_name)
            if name is None:
                unknown.append(raw_name)
                continue
            arguments = typed_arguments(arguments, schemas.get(name))
            calls.append(ToolCall.model_construct(id=new_call_id("call"), name=name, arguments=arguments, signature=None))
    clean = _BLANK_LINES.sub("\n\n", _without(text, removed)).strip()
    reasoning = "\n".join(_reasoning_text(text[s:e]) for s, e in scanned.regions.reasoning).strip()
    return TextParse(text=clean, calls=calls, unknown=unknown, truncated=truncated, reasoning=reasoning)


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    pieces: list[str] = []
    pos = 0
    for start, end in spans:
        if end <= pos:
            continue
        before = text[pos : max(pos, start)]
        if pieces and pieces[-1].endswith(" ") and before.startswith(" "):
            before = before[1:]
        pieces.append(before)
        pos = max(pos, end)
    after = text[pos:]
    if pieces and pieces[-1].endswith(" ") and after.startswith(" "):
        after = after[1:]
    pieces.append(after)
    return "".join(pieces)


_REASONING_MARKUP = re.compile(
    r"</?(?:think|thinking|reasoning|seed:think|seed:cot_budget_reflect)>|\[/?THINK\]|<\|(?:START|END)_THINKING\|>"
    r"|(?:<\|start\|>assistant)?<\|channel\|>analysis<\|message\|>|<\|end\|>",
    re.IGNORECASE,
)


def _reasoning_text(span: str) -> str:
    return _REASONING_MARKUP.sub("", span).strip()


def parse_tool_calls(
    text: str, allowed: Collection[str], *, specs: Iterable[ToolSpec] | Mapping[str, Any] | None = None
) -> tuple[str, list[ToolCall]]:
    """Tool calls a model wrote as text: returns the text with every call's markup (and any reasoning)
    removed and the calls to tools in ``allowed``, arguments parsed to dicts. Values written as text
    (XML-style formats) are typed by the tools' JSON Schemas when ``specs`` gives them. Pure, no I/O.

        text, calls = parse_tool_calls('Sure. <tool_call>{"name": "calculator", '
                                       '"arguments": {"expression": "2+2"}}</tool_call>', {"calculator"})
    """
    parsed = extract_tool_calls(text, allowed, specs=specs)
    return parsed.text, parsed.calls
