"""The client seam (``LLMClient``) and the pieces every wire format shares when reading answers.

A client maps ``ChatRequest`` to its wire body and the wire back to ``ChatResponse`` / ``StreamEvent``.
``ResponseBuilder`` accumulates a streamed (or whole) answer the same way for every format, so the
``done`` event always carries exactly what the deltas said.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol, runtime_checkable

import orjson

from ..errors import LLMError, StreamInterruptedError
from ..messages import (
    INCOMPLETE_ARGUMENTS,
    ChatRequest,
    ChatResponse,
    FinishReason,
    ModelInfo,
    StreamEvent,
    ToolCall,
    Usage,
)

__all__ = [
    "LLMClient",
    "ResponseBuilder",
    "ThinkSplitter",
    "normalize_finish",
    "parse_arguments",
    "left_open",
]


@runtime_checkable
class LLMClient(Protocol):
    """What the registry and router need from a provider client."""

    provider: str

    async def chat(self, request: ChatRequest) -> ChatResponse: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def aclose(self) -> None: ...


def normalize_finish(raw: str | None, table: Mapping[str, FinishReason], has_tool_calls: bool) -> FinishReason:
    """Map a provider's finish reason through its table; tool calls win over a plain "stop"."""
    if has_tool_calls and (raw is None or table.get(raw, "stop") == "stop"):
        return "tool_calls"
    if raw is None:
        return "stop"
    return table.get(raw, table.get(raw.lower(), "stop"))


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def parse_arguments(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Tool-call arguments as a dict: "" means {}, a JSON string is parsed, fences and trailing commas
    are forgiven. Text that ends with an object, array or string still open was cut off (an output
    limit, a broken stream): it lands under ``INCOMPLETE_ARGUMENTS`` and is never repaired, so no tool
    runs on values the model did not finish. Anything else lands under ``_raw_arguments`` so the
    agent can send it back."""
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    text = raw.strip()
    if not text:
        return {}
    for candidate in (text, _unfence(text), _TRAILING_COMMA.sub(r"\1", _unfence(text))):
        try:
            value = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, str):  # double-encoded: "{\"a\": 1}"
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        if isinstance(value, dict):
            return value
        break
    if left_open(_unfence(text)):
        return {INCOMPLETE_ARGUMENTS: raw}
    return {"_raw_arguments": raw}


def left_open(text: str) -> bool:
    """True when ``text`` ends inside a string or with a ``{``/``[`` not closed (string-aware)."""
    depth = 0
    quote = ""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch == '"' or ch == "'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return bool(quote) or depth > 0


def _unfence(text: str) -> str:
    m = _FENCE.match(text)
    return m.group(1) if m else text


class ThinkSplitter:
    """Routes ``<think>...</think>`` at the start of an answer to reasoning (models without a parser).

    Feed text deltas; get back ``(reasoning, text)`` pieces. Tags split across deltas are handled.
    """

    _OPEN = ("<think>", "<thinking>", "<reasoning>")

    def __init__(self) -> None:
        self._state = "start"  # start -> thinking -> after_think -> answer
        self._pending = ""
        self._close = ""

    def feed(self, delta: str) -> tuple[str, str]:
        if self._state == "answer":
            return "", delta
        if self._state == "after_think":
            delta = delta.lstrip("\n")
            if delta:
                self._state = "answer"
            return "", delta
        text = self._pending + delta
        self._pending = ""
        if self._state == "start":
            stripped = text.lstrip()
            if stripped[:1] != "<":  # every tag starts so: plain answer text (or only whitespace yet)
                self._state = "answer"
                return "", text
            for tag in self._OPEN:
                if stripped.startswith(tag):
                    self._state = "thinking"
                    self._close = "</" + tag[1:]
                    text = stripped[len(tag) :]
                    break
                if tag.startswith(stripped) and stripped:
                    self._pending = text
                    return "", ""
            else:
                self._state = "answer"
                return "", text
        # thinking
        idx = text.find(self._close)
        if idx >= 0:
            rest = text[idx + len(self._close) :].lstrip("\n")
            self._state = "answer" if rest else "after_think"
            return text[:idx], rest
        keep = _partial_suffix(text, self._close)
        if keep:
            self._pending = text[-keep:]
            text = text[:-keep]
        return text, ""

    def flush(self) -> tuple[str, str]:
        pending, self._pending = self._pending, ""
        if self._state == "thinking":
            return pending, ""
        return "", pending


def _partial_suffix(text: str, tag: str) -> int:
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class ResponseBuilder:
    """Accumulates one answer; each ``add_*`` returns the events to stream. ``streaming=False`` (a whole
    answer read at once) skips building the text and reasoning events nobody would see."""

    __slots__ = ("provider", "model", "text_parts", "reasoning_parts", "tool_calls", "usage", "raw_finish", "opaque",
                 "_think", "_streaming")

    def __init__(self, provider: str, model: str, *, split_think: bool = True, streaming: bool = True) -> None:
        self._streaming = streaming
        self.provider = provider
        self.model = model
        self.text_parts: list[str] = []
        self.reasoning_parts: list[str] = []
        self.tool_calls: list[ToolCall] = []
        self.usage: Usage | None = None
        self.raw_finish: str | None = None
        self.opaque: dict[str, Any] = {}
        self._think = ThinkSplitter() if split_think else None

    def add_text(self, delta: str) -> list[StreamEvent]:
        if not delta:
            return []
        think = self._think
        if think is None:
            self.text_parts.append(delta)
            return [StreamEvent.make("text", text=delta)] if self._streaming else []
        reasoning, text = think.feed(delta)
        if think._state == "answer":
            # Past any think block for good (nothing pending): the rest is answer text as it comes.
            self._think = None
        return self._emit(reasoning, text)

    def _emit(self, reasoning: str, text: str) -> list[StreamEvent]:
        events = []
        if reasoning:
            events.extend(self.add_reasoning(reasoning))
        if text:
            self.text_parts.append(text)
            if self._streaming:
                events.append(StreamEvent.make("text", text=text))
        return events

    def add_reasoning(self, delta: str) -> list[StreamEvent]:
        if not delta:
            return []
        self.reasoning_parts.append(delta)
        return [StreamEvent.make("reasoning", text=delta)] if self._streaming else []

    def add_tool_call(self, call: ToolCall) -> StreamEvent:
        self.tool_calls.append(call)
        return StreamEvent.make("tool_call", tool_call=call)

    def set_usage(self, usage: Usage) -> StreamEvent:
        self.usage = usage
        return StreamEvent.make("usage", usage=usage)

    def flush(self) -> list[StreamEvent]:
        if self._think is None:
            return []
        reasoning, text = self._think.flush()
        return self._emit(reasoning, text)

    def response(self, table: Mapping[str, FinishReason]) -> ChatResponse:
        reasoning = "".join(self.reasoning_parts)
        return ChatResponse.make(
            text="".join(self.text_parts),
            reasoning=reasoning or None,
            tool_calls=self.tool_calls,
            finish_reason=normalize_finish(self.raw_finish, table, bool(self.tool_calls)),
            raw_finish_reason=self.raw_finish,
            usage=self.usage if self.usage is not None else Usage.make(),
            model=self.model,
            provider=self.provider,
            attempts=[],
            opaque=self.opaque,
        )

    def done(self, table: Mapping[str, FinishReason]) -> StreamEvent:
        return StreamEvent.make("done", response=self.response(table))

    @property
    def started(self) -> bool:
        return bool(self.text_parts or self.reasoning_parts or self.tool_calls)

    def broken_off(self, missing: str, table: Mapping[str, FinishReason]) -> StreamInterruptedError:
        """The error for a body that ended cleanly before the wire said the answer was complete
        (``missing`` names the marker that never came). Transient: a retry usually gets it whole."""
        err = StreamInterruptedError(f"stream ended before {missing}", provider=self.provider, model=self.model,
                                     code="stream_incomplete")
        if self.started:
            self.fail(err, table)
        return err

    def fail(self, err: LLMError, table: Mapping[str, FinishReason]) -> LLMError:
        """Attach what arrived before an in-stream error to the error, and return it for ``raise``."""
        if err.partial is None:
            err.partial = self.response(table)
        if not err.model:
            err.model = self.model
        return err


async def collect(events: AsyncIterator[StreamEvent]) -> ChatResponse:
    """Drain a stream into its final response."""
    response = None
    async for event in events:
        if event.type == "done":
            response = event.response
    assert response is not None, "stream ended without a done event"
    return response
