"""The pieces compaction writes with: the condensed-history note, head-and-tail cuts, transcripts, and
a summariser backed by the router's ``summary`` model role.

The note lives at the end of the first system message, under ``NOTE_HEADER``: every provider and chat
template accepts a system prompt, while a second system message or two user turns in a row break some
(Qwen's chat template raises "System message must be at the beginning."; Gemma's demands strict
user/model alternation).

    system = with_note(messages[0], "The user is planning a trip to Lisbon ...")
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..errors import LLMError
from ..messages import Message
from .tokens import estimate_text

__all__ = [
    "Summarize",
    "NOTE_HEADER",
    "split_note",
    "with_note",
    "shorten_text",
    "first_sentences",
    "render_transcript",
    "router_summarizer",
    "SUMMARY_INSTRUCTIONS",
]

Summarize = Callable[[str], Awaitable[str]]

NOTE_HEADER = "[Earlier conversation, condensed to fit the context window]"

SUMMARY_INSTRUCTIONS = (
    "You condense conversations so they can continue in a small context window. Rewrite the summary so "
    "far and the new turns below as one concise summary. Keep every fact, decision, name, number, file "
    "path, tool result that still matters, open question and what the user asked for. Write in the "
    "conversation's language, in plain sentences, with no preamble."
)

_TRANSCRIPT_CHARS = 2000


def split_note(content: str) -> tuple[str, str | None]:
    """``(system text, note)`` of a system message compaction may have written a note into."""
    base, sep, note = content.partition("\n\n" + NOTE_HEADER + "\n")
    if sep:
        return base, note
    if content.startswith(NOTE_HEADER + "\n"):
        return "", content[len(NOTE_HEADER) + 1 :]
    return content, None


def with_note(system: Message | None, note: str | None) -> Message | None:
    """``system`` with ``note`` as its condensed-history block (replacing any earlier one); a new system
    message when there was none; the bare system prompt when ``note`` is None."""
    base = split_note(system.content)[0] if system is not None else ""
    if not note:
        if system is None:
            return None
        return system if base == system.content else system.model_copy(update={"content": base})
    content = f"{base}\n\n{NOTE_HEADER}\n{note}" if base else f"{NOTE_HEADER}\n{note}"
    if system is None:
        return Message.system(content)
    return system.model_copy(update={"content": content})


def first_sentences(text: str, max_tokens: int, *, model_id: str | None = None) -> str:
    """The whole sentences of ``text`` from its start that fit ``max_tokens`` (a summary cut with a
    marker in its middle reads as junk to a small model, and the note is what it sees of the past);
    a first sentence longer than that is cut at a word and ends with "...".

        first_sentences("Tram 28 is old. It climbs hills.", 6)  # -> "Tram 28 is old."
    """
    text = text.strip()
    if estimate_text(text, model_id=model_id) <= max_tokens:
        return text
    kept = ""
    for match in _SENTENCE.finditer(text):
        candidate = text[: match.end()].strip()
        if estimate_text(candidate, model_id=model_id) > max_tokens:
            break
        kept = candidate
    if kept:
        return kept
    words = text.split()
    while words and estimate_text(" ".join(words) + "...", model_id=model_id) > max_tokens:
        words = words[: max(len(words) * 3 // 4, len(words) - 1)] if len(words) > 1 else []
    return " ".join(words) + "..." if words else ""


_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n+|$)")


def shorten_text(text: str, max_tokens: int, *, model_id: str | None = None, what: str = "tool result") -> str:
    """``text`` cut to about ``max_tokens``: the head (2/3) and tail (1/3) are kept, at line breaks when
    one is near, and a marker in the middle says how much was cut.

        shorten_text(log, 500)   # "...first lines...\\n[... 48213 characters (about 12000 tokens) ...]\\n...last lines"
    """
    total = estimate_text(text, model_id=model_id)
    if total <= max_tokens:
        return text
    chars_per_token = len(text) / total
    keep = max(0, int((max_tokens - 40) * chars_per_token))
    head_end = _snap(text, keep * 2 // 3, backwards=True)
    tail_start = _snap(text, len(text) - (keep - keep * 2 // 3), backwards=False)
    if tail_start <= head_end:
        return text
    cut = text[head_end:tail_start]
    marker = (
        f"\n[... {len(cut)} characters (about {estimate_text(cut, model_id=model_id)} tokens) of this {what} "
        "were cut to fit the context window; its start and end are kept ...]\n"
    )
    return text[:head_end] + marker + text[tail_start:]


def _snap(text: str, index: int, *, backwards: bool) -> int:
    """Move ``index`` to a nearby line break (within 20% of the kept part) so cuts fall between lines."""
    reach = max(1, index // 5) if backwards else max(1, (len(text) - index) // 5)
    if backwards:
        found = text.rfind("\n", max(0, index - reach), index)
        return found + 1 if found >= 0 else index
    found = text.find("\n", index, min(len(text), index + reach))
    return found + 1 if found >= 0 else index


def render_transcript(messages: Sequence[Message], previous: str | None = None, *, max_chars: int = 12000) -> str:
    """The text a summariser reads: the summary so far, then each turn on its own lines; long messages
    keep their head and tail so the whole stays near ``max_chars`` (a small summary model must fit it)."""
    limit = min(_TRANSCRIPT_CHARS, max(300, max_chars // max(1, len(messages))))
    lines: list[str] = []
    if previous:
        lines += ["Summary so far:", previous, "", "New turns:"]
    for message in messages:
        content = _clip(message.content, limit)
        if message.role == "tool":
            lines.append(f"Tool result ({message.name or 'tool'}): {content}")
        elif message.role == "assistant" and message.tool_calls:
            calls = ", ".join(f"{c.name}({_clip(repr(c.arguments), 300)})" for c in message.tool_calls)
            lines.append(f"Assistant: {content}\nAssistant called: {calls}" if content else f"Assistant called: {calls}")
        else:
            lines.append(f"{message.role.capitalize()}: {content}")
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    return f"{text[:head]} [... {len(text) - limit} characters cut ...] {text[-(limit - head):]}"


def router_summarizer(
    router: Any,
    *,
    model: str | None = None,
    max_tokens: int = 400,
    timeout: float = 90.0,
    fallback: str | None = None,
) -> Summarize:
    """A ``Summarize`` that asks ``router`` (anything with ``async chat(model, messages, **kw)``) for a
    summary with the ``summary`` model role (``ASSISTANT_MODEL_SUMMARY`` / ``[models] summary``).
    When that role is not set and its default (the free-model chain) cannot answer, ``fallback`` (the
    model the conversation is compacted for: it is reachable, it just answered) writes it.

        compactor = Compactor(router_summarizer(router))
    """

    async def summarize(text: str) -> str:
        chosen = model or _summary_model()
        request = [Message.system(SUMMARY_INSTRUCTIONS), Message.user(text)]
        try:
            response = await asyncio.wait_for(
                router.chat(chosen, request, max_tokens=max_tokens, temperature=0.2), timeout=timeout
            )
        except LLMError:
            if model or not fallback or fallback == chosen or not _summary_role_unset():
                raise
            response = await asyncio.wait_for(
                router.chat(fallback, request, max_tokens=max_tokens, temperature=0.2), timeout=timeout
            )
        return (response.text or "").strip()

    return summarize


def _summary_role_unset() -> bool:
    from ..free_models.roles import role_settings

    return any(s.role == "summary" and s.source == "default" for s in role_settings())


def _summary_model() -> str:
    from ..free_models.roles import model_for_role

    return model_for_role("summary")
