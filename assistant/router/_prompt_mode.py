"""Prompt-guided tools: the router's fallback for a model that answered "tools unsupported".

The tool protocol goes into the system prompt, the history is rendered as plain text (tool calls as
``<tool_call>`` blocks, results as ``<tool_response>`` blocks), and the reply is parsed back into
``ToolCall`` records by the tolerant parser in ``assistant.toolcall_text``.

    request = prompt_request(request)            # no native tools on the wire
    response = parse_reply(await client.chat(request), tools)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from ..messages import ChatRequest, ChatResponse, Message, StreamEvent, ToolSpec

__all__ = ["available", "prompt_request", "parse_reply", "stream_reply"]


def available() -> bool:
    """True when the text tool-call parser is installed (it ships with the engine)."""
    try:
        from .. import toolcall_text  # noqa: F401
    except ImportError:  # pragma: no cover - part of the package; kept for partial installs
        return False
    return True


def prompt_request(request: ChatRequest) -> ChatRequest:
    """The same request with its tools described in the system prompt instead of sent natively."""
    from ..toolcall_text import render_text_history, tool_prompt

    protocol = tool_prompt(request.tools)
    messages = render_text_history(request.messages)
    if messages and messages[0].role == "system":
        first = messages[0]
        messages[0] = Message.system(f"{first.content}\n\n{protocol}" if first.content else protocol)
    else:
        messages.insert(0, Message.system(protocol))
    return request.model_copy(update={"messages": messages, "tools": [], "tool_choice": None})


def parse_reply(response: ChatResponse, tools: Sequence[ToolSpec]) -> ChatResponse:
    """Lift tool calls the model wrote as text into ``tool_calls``; the markup leaves the text."""
    from ..toolcall_text import parse_tool_calls

    text, calls = parse_tool_calls(response.text, {t.name for t in tools}, specs=tools)
    if not calls and text == response.text:
        return response
    update: dict[str, object] = {"text": text, "tool_calls": [*response.tool_calls, *calls]}
    if calls:
        update["finish_reason"] = "tool_calls"
    return response.model_copy(update=update)


async def stream_reply(events: AsyncIterator[StreamEvent], tools: Sequence[ToolSpec]) -> AsyncIterator[StreamEvent]:
    """Stream text until call markup may begin, then emit the rest, the parsed calls and ``done``."""
    from ..toolcall_text import TextGuard

    guard = TextGuard()
    try:
        async for event in events:
            if event.type == "text":
                shown = guard.feed(event.text or "")
                if shown:
                    yield _event("text", text=shown)
            elif event.type == "done":
                assert event.response is not None
                response = parse_reply(event.response, tools)
                rest = guard.finish(response.text)
                if rest:
                    yield _event("text", text=rest)
                for call in response.tool_calls:
                    yield _event("tool_call", tool_call=call)
                yield _event("done", response=response)
            elif event.type != "tool_call":
                yield event
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


def _event(type_: str, **fields: object) -> StreamEvent:
    values: dict[str, object] = {"text": None, "tool_call": None, "usage": None, "response": None, "attempt": None}
    values.update(fields)
    return StreamEvent.model_construct(type=type_, **values)
