"""Reasoning levels ``off|minimal|low|medium|high|xhigh`` mapped onto each provider's own knob.

Vendors take different vocabularies (research: /work/corpus notes; primary pages cited per line):
OpenAI ``reasoning_effort`` none..xhigh; OpenRouter/Vercel ``reasoning: {effort}`` none..xhigh;
Perplexity ``reasoning_effort`` minimal..high; DeepSeek a ``thinking`` toggle (effort low/high, minimal
mapped server-side to low); Z.ai/GLM ``thinking.type``; Qwen ``enable_thinking`` + ``thinking_budget``;
Volcengine Ark ``thinking.type`` + ``reasoning_effort`` minimal..xhigh; MiniMax ``thinking.type``
disabled/adaptive; Venice ``venice_parameters.disable_thinking``; Anthropic and Gemini token budgets;
Ollama ``think`` true/false or low/medium/high. A level a vendor lacks goes to its nearest one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EFFORTS", "budget_tokens", "nearest_level", "apply_openai_style"]

EFFORTS: tuple[str, ...] = ("off", "minimal", "low", "medium", "high", "xhigh")

# Anthropic: budget_tokens >= 1024 (docs "Extended thinking"); Gemini 2.5 Flash tops out at 24576.
_BUDGETS: dict[str, dict[str, int]] = {
    "anthropic": {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768},
    "gemini": {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576},
    "qwen": {"minimal": 512, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768},
}


def budget_tokens(family: str, effort: str | None) -> int | None:
    """Thinking tokens for a level (None for off / not asked)."""
    if effort is None or effort == "off":
        return None
    return _BUDGETS[family][effort]


def nearest_level(effort: str, offered: tuple[str, ...]) -> str:
    """The closest level a vendor offers: ``nearest_level("xhigh", ("low", "medium", "high"))`` -> "high"."""
    if effort in offered:
        return effort
    order = EFFORTS[1:]
    rank = order.index(effort)
    return min(offered, key=lambda level: (abs(order.index(level) - rank), -order.index(level)))


_THREE = ("low", "medium", "high")


def apply_openai_style(style: str, effort: str, body: dict[str, Any]) -> None:
    """Put ``effort`` into an OpenAI-shape request ``body`` the way ``style`` (a spec's
    ``reasoning_style``) takes it."""
    off = effort == "off"
    if style == "openai":
        # gpt-5 family: "minimal" and (5.1-codex-max+) "xhigh" exist; older models ignore off.
        if not off:
            body["reasoning_effort"] = effort
    elif style == "perplexity":
        if not off:
            body["reasoning_effort"] = nearest_level(effort, ("minimal", *_THREE))
    elif style == "openrouter":
        body["reasoning"] = {"enabled": False} if off else {"effort": effort}
    elif style == "groq":
        body["reasoning_format"] = "hidden" if off else "parsed"
    elif style == "llama":
        body["chat_template_kwargs"] = {"enable_thinking": not off}
        if not off:
            body["reasoning_format"] = "deepseek"
    elif style == "zai":
        body["thinking"] = {"type": "disabled" if off else "enabled"}
    elif style == "deepseek":
        if not off:
            body["thinking"] = {"type": "enabled"}
    elif style == "qwen":
        body["enable_thinking"] = not off
        if not off:
            body["thinking_budget"] = budget_tokens("qwen", effort)
    elif style == "ark":
        body["thinking"] = {"type": "disabled" if off else "enabled"}
        if not off:
            body["reasoning_effort"] = effort
    elif style == "minimax":
        body["thinking"] = {"type": "disabled" if off else "adaptive"}
    elif style == "venice":
        body.setdefault("venice_parameters", {})["disable_thinking"] = off
