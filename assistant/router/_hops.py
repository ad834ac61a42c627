"""How the router reports what happened: attempt details, status events, the partial answer of a
broken stream, and the summary of a call where every candidate failed.

    raise AllModelsFailedError(summary(attempts), attempts=attempts)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from ..errors import LLMError, StreamInterruptedError
from ..messages import Attempt, ChatResponse, StreamEvent, ToolCall, Usage

__all__ = ["Partial", "aclose", "is_empty", "describe", "status_event", "summary"]

_CONTENT = frozenset({"text", "reasoning", "tool_call"})


class Partial:
    """What a stream delivered before it broke (for ``StreamInterruptedError.partial``)."""

    __slots__ = ("text", "reasoning", "calls", "started")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: list[ToolCall] = []
        self.started = False

    def add(self, event: StreamEvent) -> None:
        if event.type not in _CONTENT:
            return
        self.started = True
        if event.type == "text":
            self.text.append(event.text or "")
        elif event.type == "reasoning":
            self.reasoning.append(event.text or "")
        elif event.tool_call is not None:
            self.calls.append(event.tool_call)

    def interrupted(self, err: LLMError, provider: str, model: str, attempts: list[Attempt]) -> StreamInterruptedError:
        partial = ChatResponse.model_construct(
            text="".join(self.text), reasoning="".join(self.reasoning) or None, tool_calls=list(self.calls),
            finish_reason="error", raw_finish_reason=None, usage=err.partial.usage if err.partial else Usage(),
            model=model, provider=provider, attempts=list(attempts), opaque={},
        )
        return StreamInterruptedError(
            f"stream from {provider}/{model} broke off after output: {err.message}",
            cause=err, provider=provider, model=model, status=err.status, partial=partial,
        )


async def aclose(events: AsyncIterator[StreamEvent]) -> None:
    # A consumer that stops early must not leave the provider's HTTP response open.
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


def is_empty(response: ChatResponse) -> bool:
    # An empty "stop" is how overloaded free endpoints fail quietly; a retry usually answers.
    return not response.tool_calls and not response.text.strip() and response.finish_reason in ("stop", "error")


def describe(err: LLMError, action: str) -> str:
    """``HTTP 429 <message>; <what the router does next>`` (the message is already redacted)."""
    status = f"HTTP {err.status} " if err.status else ""
    message = err.message if len(err.message) <= 200 else err.message[:197] + "..."
    return f"{status}{message}" + (f"; {action}" if action else "")


def status_event(text: str) -> StreamEvent:
    return StreamEvent.model_construct(type="status", text=text, tool_call=None, usage=None, response=None, attempt=None)


def summary(attempts: Sequence[Attempt]) -> str:
    if not attempts:
        return "no candidate model to try"
    parts = [f"{a.provider}/{a.model}: {a.kind} ({a.detail[:120]})" for a in attempts[-6:]]
    more = f" (+{len(attempts) - 6} earlier)" if len(attempts) > 6 else ""
    return f"every candidate failed after {len(attempts)} attempts{more}: " + "; ".join(parts)
