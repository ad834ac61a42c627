"""Prompt-cache breakpoints where a provider caches only what it is asked to: Anthropic's
``cache_control`` blocks, natively and through OpenRouter (which forwards them to Anthropic and Gemini).

Anthropic caches the prefix up to each marked block, in the order tools -> system -> messages, with at
most 4 breakpoints (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching). Marked here:
the last tool, the system prompt, the last block of the final message (the whole conversation so far,
so the next step of an agent loop reads it back) and the last block of the previous user turn (a hit
when the final message changed). A prefix below the model's minimum (1,024-4,096 tokens) is simply not
cached, without an error. A request whose caller already placed ``cache_control`` is left alone.

    add_anthropic_breakpoints(body)        # a /v1/messages body
    add_openai_breakpoints(body)           # an OpenRouter chat body for anthropic/... or google/... models
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["add_anthropic_breakpoints", "add_openai_breakpoints", "wants_breakpoints", "EPHEMERAL"]

EPHEMERAL = {"type": "ephemeral"}
_MAX_BREAKPOINTS = 4
# "cache_control cannot be set on thinking blocks"; an empty text block is refused as well.
_UNMARKABLE = ("thinking", "redacted_thinking")


def wants_breakpoints(prefixes: tuple[str, ...], model: str) -> bool:
    """True when ``model`` matches one of a spec's ``cache_breakpoints`` prefixes ("" matches every model)."""
    return any(model.startswith(p) for p in prefixes)


def _already_marked(body: dict[str, Any]) -> bool:
    return b'"cache_control"' in orjson.dumps(body)


def add_anthropic_breakpoints(body: dict[str, Any]) -> None:
    if _already_marked(body):
        return
    budget = _MAX_BREAKPOINTS
    tools = body.get("tools")
    if tools:
        tools[-1] = {**tools[-1], "cache_control": EPHEMERAL}
        budget -= 1
    system = body.get("system")
    if isinstance(system, str) and system:
        body["system"] = [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
        budget -= 1
    turns = body.get("messages") or []
    marked = 0
    for index in _conversation_marks(turns):
        if marked < budget and _mark_last_block(turns[index]):
            marked += 1


def _conversation_marks(turns: list[dict[str, Any]]) -> list[int]:
    """The final turn, then the user turn before it."""
    if not turns:
        return []
    found = [len(turns) - 1]
    for index in range(len(turns) - 2, -1, -1):
        if turns[index].get("role") == "user":
            found.append(index)
            break
    return found


def _mark_last_block(turn: dict[str, Any]) -> bool:
    content = turn.get("content")
    if isinstance(content, str):
        if not content:
            return False
        turn["content"] = [{"type": "text", "text": content, "cache_control": EPHEMERAL}]
        return True
    for i in range(len(content or []) - 1, -1, -1):
        block = content[i]
        if block.get("type") in _UNMARKABLE or (block.get("type") == "text" and not block.get("text")):
            continue
        content[i] = {**block, "cache_control": EPHEMERAL}
        return True
    return False


def add_openai_breakpoints(body: dict[str, Any]) -> None:
    """OpenAI-shape messages: the system message and the last user or tool message become text parts
    carrying ``cache_control`` (OpenRouter's format for Anthropic and Gemini models)."""
    if _already_marked(body):
        return
    messages = body.get("messages") or []
    chosen = [i for i, m in enumerate(messages) if m.get("role") == "system"][:1]
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") in ("user", "tool")), None)
    if last is not None and last not in chosen:
        chosen.append(last)
    for index in chosen:
        message = messages[index]
        content = message.get("content")
        if isinstance(content, str) and content:
            messages[index] = {**message, "content": [{"type": "text", "text": content, "cache_control": EPHEMERAL}]}
