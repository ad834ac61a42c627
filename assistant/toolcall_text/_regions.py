"""Where in a reply a call can be made at all. Text that shows a call without making it is masked
before any format is looked for:

- reasoning: ``<think>``/``<thinking>``/``<seed:think>``/``[THINK]``/``<|START_THINKING|>`` blocks and
  gpt-oss ``analysis`` messages without a recipient. When the template put the opener in the prompt the
  reply starts with reasoning and a stray closer, so everything before a first orphan closer is
  reasoning. An unclosed ``<think>`` ends at a ``<tool_call>``-family opener (Qwen3, GLM: vLLM's and
  renderers' parsers); strict formats (DeepSeek-R1 tokens, harmony) never call from unclosed reasoning.
- examples: fenced blocks in a documentation language (```text, ```xml, ```python ...) or introduced as
  an example ("for example", "the format is", "e.g."), inline code spans, blockquotes. A fence that is
  the whole reply is the reply (small models wrap their real call in ```json), and a ```json or
  ```tool_code fence announced as a call ("Here is the tool call:") carries one.

    found = scan(text)
    found.masked       # same length as text; reasoning and examples blanked out
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Fence", "Regions", "scan", "lead_in", "is_example_lead", "blank"]

_THINK_OPEN = re.compile(r"<(think|thinking|reasoning|seed:think)>|\[THINK\]|<\|START_THINKING\|>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(think|thinking|reasoning|seed:think)>|\[/THINK\]|<\|END_THINKING\|>", re.IGNORECASE)
# Qwen3 / GLM / Seed / MiniMax call openers end a <think> the model left open (vLLM qwen3 reasoning
# parser; renderers test_tool_opener_ends_unclosed_think).
_ENDS_OPEN_THINK = re.compile(r"<(?:\w+:)?tool_calls?>|<function=", re.IGNORECASE)
_HARMONY_ANALYSIS = re.compile(
    r"(?:<\|start\|>)?(?P<pre>[ \t]*(?:assistant)?[ \t]*(?:to=[\w.\-]+)?[ \t]*)"
    r"<\|channel\|>analysis(?P<header>[^<]*(?:<\|constrain\|>[^<]*)?)<\|message\|>"
    r"(?:.*?)(?:<\|end\|>|\Z)",
    re.DOTALL,
)
_FENCE_OPEN = re.compile(r"(?m)^[ \t]*(`{3,}|~{3,})[ \t]*([^\n`]*)\n")
_INLINE_CODE = re.compile(r"(?<!`)(`{1,2})(?!`)([^\n]+?)(?<!`)\1(?!`)")
_BLOCKQUOTE = re.compile(r"(?m)^[ \t]*>(?!>>)[^\n]*")

# Fence languages that carry a call when not shown as an example; others only as the whole reply.
CALL_FENCES = {"", "json", "json5", "jsonc", "tool_code", "tool_call", "tool_calls", "tool", "function_call",
               "functions"}
# Words that introduce an illustration rather than an action. Narrow on purpose: "let me check the
# format of the file" or "it looks like rain" precede real calls.
_EXAMPLE_CUES = re.compile(
    r"\b(?:for example|for instance|e\.g\.|as an example|example:|examples:|an example of|here is an example"
    r"|example (?:call|usage|request|response|output|format)|such as|like this|like so|would look like"
    r"|(?:in|using|with) (?:the|this) (?:following )?format|following format|format (?:is|looks|as follows)"
    r"|(?:call|calling|tool|function) (?:format|syntax)|syntax (?:is|for)|placeholder|chat template|usage:"
    r"|(?:you|one) (?:can|could|would|should|might|may) (?:call|use|write|invoke|emit|try)"
    r"|(?:i|we) (?:can |could |would |might )?suggest)"
    r"|por ejemplo|par exemple|zum beispiel|ad esempio|例如|比如|示例|类似于|например",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Fence:
    start: int
    body_start: int
    body_end: int
    end: int
    lang: str
    carrier: bool


@dataclass(slots=True)
class Regions:
    """``masked`` is the text with reasoning blanked; a call may not start inside an ``inert`` span."""

    masked: str
    reasoning: list[tuple[int, int]] = field(default_factory=list)
    fences: list[Fence] = field(default_factory=list)
    inert: list[tuple[int, int]] = field(default_factory=list)

    def shown_only(self, pos: int) -> bool:
        return any(start <= pos < end for start, end in self.inert)


def blank(text: str, start: int, end: int) -> str:
    """``text`` with ``[start, end)`` replaced by spaces (newlines kept, so lines and offsets hold)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _in_inline_code(text: str, pos: int) -> bool:
    line_start = text.rfind("\n", 0, pos) + 1
    return text.count("`", line_start, pos) % 2 == 1


def _reasoning(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    lowered = text.lower()
    pos = 0 if "think" in lowered or "reasoning" in lowered else len(text)
    first = True
    while pos < len(text):
        opener = _THINK_OPEN.search(text, pos)
        closer = _THINK_CLOSE.search(text, pos)
        while opener is not None and _in_inline_code(text, opener.start()):
            opener = _THINK_OPEN.search(text, opener.end())
        while closer is not None and _in_inline_code(text, closer.start()):
            closer = _THINK_CLOSE.search(text, closer.end())
        if closer is not None and (opener is None or closer.start() < opener.start()):
            # The opener was in the prompt: the reply starts inside reasoning.
            spans.append((0 if first else closer.start(), closer.end()))
            pos = closer.end()
            first = False
            continue
        if opener is None:
            break
        first = False
        close = _THINK_CLOSE.search(text, opener.end())
        if close is not None:
            spans.append((opener.start(), close.end()))
            pos = close.end()
            continue
        end = len(text)
        if opener.group(1) is not None and opener.group(1).lower() in ("think", "thinking"):
            call = _ENDS_OPEN_THINK.search(text, opener.end())
            if call is not None:
                end = call.start()
        spans.append((opener.start(), end))
        pos = end
    for m in _HARMONY_ANALYSIS.finditer(text) if "<|channel|>" in text else ():
        if "to=" not in m.group("pre") + m.group("header"):
            spans.append((m.start(), m.end()))
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def lead_in(text: str, pos: int) -> str:
    """The words that introduce what starts at ``pos``: its line so far, or the line before it."""
    line_start = text.rfind("\n", 0, pos) + 1
    same = text[line_start:pos]
    if same.strip():
        return same
    before = text[:line_start].rstrip()
    return before[before.rfind("\n") + 1 :]


def is_example_lead(text: str) -> bool:
    return _EXAMPLE_CUES.search(text) is not None


def _fences(masked: str) -> list[tuple[int, int, int, int, str]]:
    found = []
    pos = 0
    while True:
        m = _FENCE_OPEN.search(masked, pos)
        if m is None:
            return found
        marker = m.group(1)
        close = re.compile(r"(?m)^[ \t]*" + re.escape(marker[0]) + "{" + str(len(marker)) + ",}").search(masked, m.end())
        body_end = close.start() if close is not None else len(masked)
        end = close.end() if close is not None else len(masked)
        lang = (m.group(2).strip().split() or [""])[0].lower()
        found.append((m.start(), m.end(), body_end, end, lang))
        pos = end


def scan(text: str) -> Regions:
    """Reasoning spans, fences, the spans that only show calls, and the masked text."""
    reasoning = _reasoning(text)
    masked = text
    for start, end in reasoning:
        masked = blank(masked, start, end)
    regions = Regions(masked=masked, reasoning=reasoning)
    for start, body_start, body_end, end, lang in _fences(masked):
        whole = not (masked[:start].strip() or masked[end:].strip())
        introduced = is_example_lead(lead_in(masked, start))
        carrier = whole or (lang in CALL_FENCES and not introduced)
        regions.fences.append(Fence(start, body_start, body_end, end, lang, carrier))
        if not carrier:
            regions.inert.append((start, end))
    for m in _INLINE_CODE.finditer(masked):
        if masked[: m.start()].strip() or masked[m.end() :].strip():
            regions.inert.append((m.start(), m.end()))
    regions.inert.extend((m.start(), m.end()) for m in _BLOCKQUOTE.finditer(masked))
    return regions
