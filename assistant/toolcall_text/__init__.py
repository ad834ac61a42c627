"""Tools for models without native tool calling: the prompt that teaches the protocol, the tolerant
parser that reads what they write back, and the history rendered as plain text.

    system += "\\n\\n" + tool_prompt(specs)
    text, calls = parse_tool_calls(reply_text, allowed={"calculator"})

The protocol is ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``; the parser also accepts
every variant listed in ``_formats`` and never lets call markup reach the user.

Part: tool calls that models write as text: the formats (``_formats``), their bodies (``_bodies``),
the lenient JSON reader (``lenient_json``), the prompt that describes tools and the streaming guard. Pure,
no I/O. May import: messages.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import orjson

from ..messages import Message, ToolCall, ToolSpec, new_call_id
from ._formats import STRAY_MARKERS, find_calls

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
    """What ``extract_tool_calls`` found: the clean text, the calls to offered tools, and the names
    of calls to tools that were not offered (so the caller can tell the model)."""

    text: str
    calls: list[ToolCall] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _norm(name: str) -> str:
    name = name.strip().strip("`'\"").split(":", 1)[0]
    return name.rsplit(".", 1)[-1].lower().replace("-", "_")


def resolve_tool_name(raw: str, allowed: Collection[str]) -> str | None:
    """The offered tool ``raw`` means (``functions.get_weather``, ``Get-Weather`` -> ``get_weather``).

        resolve_tool_name("default_api.calculator", {"calculator"})  # "calculator"
    """
    if raw in allowed:
        return raw
    wanted = _norm(raw)
    return next((name for name in allowed if _norm(name) == wanted), None)


_BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)+")


def extract_tool_calls(text: str, allowed: Collection[str]) -> TextParse:
    """Find tool calls written as text; see ``parse_tool_calls``. Pure, no I/O.

        parsed = extract_tool_calls('<tool_call>{"name": "nope"}</tool_call>', {"calculator"})
        parsed.unknown  # ["nope"]
    """
    if not text:
        return TextParse(text="")
    allowed = set(allowed)

    def resolve(name: str) -> str | None:
        return resolve_tool_name(name, allowed)

    found = find_calls(text, resolve)
    calls: list[ToolCall] = []
    unknown: list[str] = []
    pieces: list[str] = []
    pos = 0
    for span in found:
        before = text[pos : span.start]
        if pieces and pieces[-1].endswith(" ") and before.startswith(" "):
            before = before[1:]
        pieces.append(before)
        pos = span.end
        for raw_name, arguments in span.calls:
            name = resolve(raw_name)
            if name is None:
                unknown.append(raw_name)
            else:
                calls.append(ToolCall.model_construct(id=new_call_id("call"), name=name, arguments=arguments, signature=None))
    after = text[pos:]
    if found and pieces[-1].endswith(" ") and after.startswith(" "):
        after = after[1:]
    pieces.append(after)
    clean = STRAY_MARKERS.sub("", "".join(pieces))
    clean = _BLANK_LINES.sub("\n\n", clean).strip()
    return TextParse(text=clean, calls=calls, unknown=unknown)


def parse_tool_calls(text: str, allowed: Collection[str]) -> tuple[str, list[ToolCall]]:
    """Tool calls a model wrote as text: returns the text with every call's markup removed and the
    calls to tools in ``allowed`` (arguments parsed to dicts). Pure, no I/O.

        text, calls = parse_tool_calls('Sure. <tool_call>{"name": "calculator", '
                                       '"arguments": {"expression": "2+2"}}</tool_call>', {"calculator"})
    """
    parsed = extract_tool_calls(text, allowed)
    return parsed.text, parsed.calls


# --- the prompt ---------------------------------------------------------------------------------

_PLACEHOLDER = {"string": "...", "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}


def _example_arguments(parameters: dict) -> dict:
    props = parameters.get("properties") or {}
    required = parameters.get("required") or list(props)[:1]
    example = {}
    for name in required:
        prop = props.get(name) or {}
        kind = prop.get("type")
        if "enum" in prop and prop["enum"]:
            example[name] = prop["enum"][0]
        else:
            example[name] = _PLACEHOLDER.get(kind if isinstance(kind, str) else "string", "...")
    return example


def tool_prompt(tools: Iterable[ToolSpec]) -> str:
    """The protocol text added to the system prompt when the model has no native tool calling.

        system = "You are helpful.\\n\\n" + tool_prompt([calculator.spec()])
    """
    specs = list(tools)
    listing = "\n".join(
        orjson.dumps({"name": s.name, "description": s.description, "parameters": s.parameters}).decode() for s in specs
    )
    first = specs[0] if specs else ToolSpec(name="tool_name")
    example = orjson.dumps({"name": first.name, "arguments": _example_arguments(first.parameters)}).decode()
    return (
        "# Tools\n\n"
        "You can call the tools below. Each line is one tool: its name, what it does, and a JSON Schema "
        "of its arguments.\n"
        f"<tools>\n{listing}\n</tools>\n\n"
        "To call a tool, write a <tool_call> block holding a JSON object with the tool's name and its "
        "arguments, exactly like this:\n"
        f"<tool_call>{example}</tool_call>\n"
        "Write one block per call (several blocks call several tools) and stop after the last block: "
        "the results come back in the next message inside <tool_response> blocks. "
        "When you have what you need, reply with the answer as plain text, without any <tool_call> block."
    )


def render_text_history(messages: Iterable[Message], *, call_format: str = "tool_call") -> list[Message]:
    """The history for a model that only reads text: tool calls as ``<tool_call>`` blocks (or the
    JSON action objects of the grammar protocol with ``call_format="action"``), tool results as
    ``<tool_response>`` blocks in a user turn, and no two user turns in a row.

        wire_messages = render_text_history(history)
    """
    out: list[Message] = []
    for message in messages:
        if message.role == "assistant":
            blocks = [_render_call(call, call_format) for call in message.tool_calls]
            content = "\n".join(part for part in (message.content.strip(), *blocks) if part)
            out.append(Message.model_construct(role="assistant", content=content, tool_calls=[], tool_call_id=None,
                                               name=None, reasoning=None, opaque={}))
        elif message.role == "tool":
            text = f'<tool_response name="{message.name or "tool"}">\n{message.content}\n</tool_response>'
            _append_user(out, text)
        elif message.role == "user":
            _append_user(out, message.content)
        else:
            out.append(message)
    return out


def _render_call(call: ToolCall, call_format: str) -> str:
    if call_format == "action":
        return orjson.dumps({"tool": call.name, "arguments": call.arguments}).decode()
    return "<tool_call>" + orjson.dumps({"name": call.name, "arguments": call.arguments}).decode() + "</tool_call>"


def _append_user(out: list[Message], text: str) -> None:
    # Several chat templates (Mistral, Gemma) reject two user turns in a row.
    if out and out[-1].role == "user":
        out[-1] = Message.user(out[-1].content + "\n\n" + text)
    else:
        out.append(Message.user(text))


# --- streaming ------------------------------------------------------------------------------------

_OPENER = re.compile(
    r"<\s*/?\s*(?:\w+:)?(?:tool|function|start_function_call|invoke)|<\||<｜"
    r"|\[(?:TOOL_CALLS?|TOOL_REQUEST|FUNCTION_CALL)\]|\[\s*\{|```|functools\["
    r"|\{\s*[\"'](?:name|tool|tool_name|function|action)[\"']",
    re.IGNORECASE,
)
# What the held-back tail may still grow into (a partial opener at the end of a delta).
_PARTIAL = re.compile(r"(?:<[\w|｜/:\s]*|\[[\w{\s]*|`{1,3}|\{\s*(?:[\"']\w*)?|functools)$", re.IGNORECASE)
_WINDOW = 24


class TextGuard:
    """Streams text until tool-call markup may begin, then holds the rest for the parser.

        guard = TextGuard()
        shown = guard.feed(delta)            # safe to show now
        rest = guard.finish(clean_text)      # the remainder of the cleaned text, at the end
    """

    __slots__ = ("_buffer", "_holding", "emitted")

    def __init__(self) -> None:
        self._buffer = ""
        self._holding = False
        self.emitted = ""

    def feed(self, delta: str) -> str:
        if self._holding:
            self._buffer += delta
            return ""
        text = self._buffer + delta
        m = _OPENER.search(text)
        if m is not None:
            self._holding = True
            safe, self._buffer = text[: m.start()], text[m.start() :]
        else:
            tail = _PARTIAL.search(text, max(0, len(text) - _WINDOW))
            cut = tail.start() if tail is not None else len(text)
            safe, self._buffer = text[:cut], text[cut:]
        self.emitted += safe
        return safe

    def finish(self, clean_text: str) -> str:
        """What of ``clean_text`` (the parsed, markup-free reply) has not been shown yet."""
        self._buffer = ""
        shown = self.emitted.strip()
        if not clean_text.startswith(shown):
            return ""
        rest = clean_text[len(shown) :]
        if self.emitted != self.emitted.rstrip():
            rest = rest.lstrip()
        self.emitted += rest
        return rest
