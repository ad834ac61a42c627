"""Reading Anthropic answers: one assembler for whole messages and for the SSE event stream.

A non-stream message is read as if each content block had streamed in one piece, so both paths give
the same ``ChatResponse``. Signed thinking is kept in ``opaque[provider]["thinking"]`` so the next
request can send it back; server-side tool blocks (``server_tool_use``, ``*_tool_result``) are the
provider's own business and never become client tool calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import LLMError, StreamInterruptedError, classify_error
from ..messages import ChatResponse, FinishReason, StreamEvent, ToolCall, Usage
from ._anthropic_request import SCHEMA_TOOL
from .base import ResponseBuilder, parse_arguments

__all__ = ["FINISH_REASONS", "AnthropicAssembler", "process_message", "as_message", "stream_error"]

FINISH_REASONS: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    # A server tool loop paused; the caller may resend to continue. Nothing was cut off.
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# The HTTP status each error type has outside a stream (docs "HTTP errors"), so an ``event: error``
# inside a 200 stream is classified like the same error arriving as a status.
_ERROR_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class _Block:
    """One content block being assembled (by its stream index)."""

    __slots__ = ("kind", "id", "name", "start_input", "parts", "signature")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.kind: str = str(raw.get("type") or "")
        self.id: str = str(raw.get("id") or "")
        self.name: str = str(raw.get("name") or "")
        self.start_input = raw.get("input")
        self.parts: list[str] = []
        self.signature: str = str(raw.get("signature") or "")


class AnthropicAssembler:
    """Feeds Anthropic events (or a whole message) into a ``ResponseBuilder``; each call returns the
    stream events to pass on.

        asm = AnthropicAssembler("anthropic", "claude-haiku-4-5")
        events = asm.feed({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}})
    """

    def __init__(self, provider: str, model: str, *, schema_answer: bool = False) -> None:
        self.builder = ResponseBuilder(provider, model, split_think=False)
        self.provider = provider
        self.started = False
        self.finished = False
        self.failure: BaseException | None = None
        self._model = model
        self._schema_answer = schema_answer
        self._answered_by_schema = False
        self._blocks: dict[int, _Block] = {}
        self._thinking: list[dict[str, str]] = []

    def read(self, events: list[tuple[str, bytes]]) -> list[StreamEvent]:
        """The stream events of the SSE events one network read completed: text deltas in a row become
        one ``text`` event. An error (``event: error``, a malformed event) is left in ``failure``, to
        raise after passing these on."""
        out: list[StreamEvent] = []
        text: list[str] = []
        for name, data in events:
            try:
                payload = _loads(data)
            except orjson.JSONDecodeError as exc:
                self.failure = exc
                break
            kind = payload.get("type") if type(payload) is dict else None
            if kind == "content_block_delta" and name != "error":
                delta = payload.get("delta")
                if type(delta) is dict and delta.get("type") == "text_delta":
                    text.append(str(delta.get("text") or ""))
                    continue
            if text:
                out += self.builder.add_text("".join(text))
                text.clear()
            if name == "error" or kind == "error":
                # The documented in-stream error, after a 200 and some content:
                # event: error / data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                self.failure = self.fail(stream_error(self.provider, payload, self._model))
                break
            if type(payload) is dict:
                out += self.feed(payload)
        if text:
            out += self.builder.add_text("".join(text))
        return out

    def feed(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        kind = event.get("type")
        if kind == "message_start":
            self.start_message(event.get("message") or {})
        elif kind == "content_block_start":
            return self.start_block(int(event.get("index") or 0), event.get("content_block") or {})
        elif kind == "content_block_delta":
            return self._delta(int(event.get("index") or 0), event.get("delta") or {})
        elif kind == "content_block_stop":
            return self.stop_block(int(event.get("index") or 0))
        elif kind == "message_delta":
            return self._message_delta(event)
        elif kind == "message_stop":
            self.finished = True
        # "ping" and event types added later carry nothing for us.
        return []

    def absorb_message(self, message: Mapping[str, Any]) -> list[StreamEvent]:
        """A whole (non-stream) message, block by block, as the stream would have told it."""
        self.start_message(message)
        events: list[StreamEvent] = []
        for index, block in enumerate(message.get("content") or ()):
            if isinstance(block, Mapping):
                events.extend(self.start_block(index, block))
                events.extend(self.stop_block(index))
        self.builder.raw_finish = message.get("stop_reason")
        if self.builder.usage is not None:
            events.append(self.builder.set_usage(self.builder.usage))
        self.finished = True
        return events

    def start_message(self, message: Mapping[str, Any]) -> None:
        self.started = True
        if message.get("model"):
            self.builder.model = str(message["model"])
        usage = message.get("usage")
        if isinstance(usage, Mapping):
            self.builder.usage = _usage(usage)
        if message.get("stop_reason"):
            self.builder.raw_finish = message["stop_reason"]

    def start_block(self, index: int, raw: Mapping[str, Any]) -> list[StreamEvent]:
        block = _Block(raw)
        self._blocks[index] = block
        if block.kind == "text":
            return self.builder.add_text(str(raw.get("text") or ""))
        if block.kind == "thinking":
            text = str(raw.get("thinking") or "")
            block.parts.append(text)
            return self.builder.add_reasoning(text)
        if block.kind == "redacted_thinking" and raw.get("data"):
            self._thinking.append({"type": "redacted_thinking", "data": str(raw["data"])})
        return []

    def _delta(self, index: int, delta: Mapping[str, Any]) -> list[StreamEvent]:
        kind = delta.get("type")
        block = self._blocks.get(index)
        if kind == "text_delta":
            return self.builder.add_text(str(delta.get("text") or ""))
        if kind == "thinking_delta":
            text = str(delta.get("thinking") or "")
            if block is not None:
                block.parts.append(text)
            return self.builder.add_reasoning(text)
        if block is None:
            return []
        if kind == "signature_delta":
            block.signature += str(delta.get("signature") or "")
        elif kind == "input_json_delta":
            piece = str(delta.get("partial_json") or "")
            block.parts.append(piece)
            if self._is_schema_block(block):
                self._answered_by_schema = True
                return self.builder.add_text(piece)
        # citations_delta and newer delta types add nothing to text, reasoning or calls.
        return []

    def stop_block(self, index: int) -> list[StreamEvent]:
        block = self._blocks.pop(index, None)
        if block is None:
            return []
        if block.kind == "thinking" and block.signature:
            self._thinking.append({"type": "thinking", "thinking": "".join(block.parts), "signature": block.signature})
        if block.kind != "tool_use":
            return []
        raw = "".join(block.parts)
        if self._is_schema_block(block):
            self._answered_by_schema = True
            # A whole message carries the input as an object; a stream sent it as text already.
            return [] if raw else self.builder.add_text(orjson.dumps(block.start_input or {}).decode())
        # An empty concatenation of input_json_delta means no arguments: {}.
        arguments = parse_arguments(raw) if raw.strip() else parse_arguments(block.start_input)
        call = ToolCall.model_construct(id=block.id, name=block.name, arguments=arguments, signature=None)
        return [self.builder.add_tool_call(call)]

    def _message_delta(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        delta = event.get("delta") or {}
        if delta.get("stop_reason"):
            self.builder.raw_finish = delta["stop_reason"]
        raw = event.get("usage")
        if not isinstance(raw, Mapping):
            return []
        # message_delta counts are cumulative and win over message_start: input grows while Anthropic runs
        # server tools (702 at start, 1591 at the end in anthropic-stream-server-tool-then-tool-use), and
        # cache counts may arrive late. A field the delta leaves out keeps its message_start value; counts
        # never shrink, so a compatible server that sends 0 there does not erase the start's count.
        base = self.builder.usage
        latest = _usage(raw)
        if base is None:
            return [self.builder.set_usage(latest)]
        merged = {
            field: max(getattr(base, field), getattr(latest, field)) if key in raw else getattr(base, field)
            for key, field in _USAGE_FIELDS
        }
        return [self.builder.set_usage(base.model_copy(update=merged))]

    def _is_schema_block(self, block: _Block) -> bool:
        return self._schema_answer and block.kind == "tool_use" and block.name == SCHEMA_TOOL

    def response(self) -> ChatResponse:
        if self._thinking:
            self.builder.opaque = {self.provider: {"thinking": list(self._thinking)}}
        response = self.builder.response(FINISH_REASONS)
        if self._answered_by_schema and not response.tool_calls and response.finish_reason == "tool_calls":
            # The forced answer tool is how the answer arrived, not a call for the agent to run.
            response.finish_reason = "stop"
        return response

    def done(self) -> StreamEvent:
        return StreamEvent.model_construct(
            type="done", text=None, tool_call=None, usage=None, response=self.response(), attempt=None
        )

    def fail(self, err: LLMError) -> LLMError:
        """Attach what arrived so far to ``err`` (once) and return it for ``raise``."""
        if err.partial is None:
            err.partial = self.response()
        if not err.model:
            err.model = self.builder.model
        return err

    def broken_off(self) -> LLMError:
        """The error for a stream that ended without ``message_stop`` or a stop reason."""
        err = StreamInterruptedError("stream ended before message_stop", provider=self.provider,
                                     model=self.builder.model, code="stream_incomplete")
        return self.fail(err)


def process_message(data: Any, provider: str, model: str, *, schema_answer: bool = False) -> ChatResponse:
    """A whole ``POST /v1/messages`` answer as a ``ChatResponse``.

        response = process_message(orjson.loads(body), "anthropic", "claude-haiku-4-5")
    """
    assembler = AnthropicAssembler(provider, model, schema_answer=schema_answer)
    assembler.absorb_message(as_message(data, provider, model))
    return assembler.response()


def as_message(data: Any, provider: str, model: str = "") -> Mapping[str, Any]:
    """``data`` if it is a message object; an error object (or anything else) is raised, classified."""
    if not isinstance(data, Mapping) or data.get("type") == "error":
        raise stream_error(provider, data, model)
    return data


def stream_error(provider: str, payload: Any, model: str = "") -> LLMError:
    """An error delivered inside a 200 answer (``event: error``), classified like its HTTP twin.

        err = stream_error("anthropic", {"type": "error", "error": {"type": "overloaded_error", "message": "..."}})
    """
    error = payload.get("error") if isinstance(payload, Mapping) else None
    kind = error.get("type") if isinstance(error, Mapping) else None
    status = _ERROR_STATUS.get(str(kind), 500) if kind else 502
    err = classify_error(provider, status, orjson.dumps(payload))
    if model and not err.model:
        err.model = model
    return err


_loads = orjson.loads

_USAGE_FIELDS = (
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_input_tokens", "cached_tokens"),
    ("cache_creation_input_tokens", "cache_write_tokens"),
)


def _usage(raw: Mapping[str, Any]) -> Usage:
    return Usage.model_construct(
        input_tokens=int(raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=int(raw.get("cache_read_input_tokens") or 0),
        reasoning_tokens=0,
        cache_write_tokens=int(raw.get("cache_creation_input_tokens") or 0),
        cost=None,
    )
