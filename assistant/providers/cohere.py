"""Cohere's v2 Chat API (``POST /v2/chat``, SSE when streaming), native rather than its OpenAI layer so
``tool_plan``, billed units and Cohere's finish reasons survive.

Shapes from docs.cohere.com/v2/reference/chat and /v2/docs/streaming: assistant text is
``message.content[].text``, tool calls are OpenAI-like with JSON-string arguments, ``tool_choice`` takes
only "REQUIRED" or "NONE", and the stream ends with ``message-end`` (no ``[DONE]``).

    client = create_client("cohere")       # key from COHERE_API_KEY or CO_API_KEY
    resp = await client.chat(ChatRequest(model="command-a-03-2025", messages=[Message.user("hi")]))
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from ..errors import LLMError, TransientError, classify_error
from ..messages import ChatRequest, ChatResponse, FinishReason, Message, ModelInfo, StreamEvent, ToolCall, Usage, new_call_id
from ._framing import SSEDecoder
from ._http import SpecClient
from .base import ResponseBuilder, collect, parse_arguments

__all__ = ["CohereClient", "FINISH_REASONS"]

FINISH_REASONS: Mapping[str, FinishReason] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "error",
    "TIMEOUT": "error",
}
_CHAT = "/v2/chat"


class CohereClient(SpecClient):
    """``LLMClient`` for Cohere v2 chat."""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if request.stream:
            return await collect(self.stream(request))
        data = await self.post_json(_CHAT, _map_request(request, stream=False), model=request.model)
        response = _process_response(data, self.provider, request.model)
        _raise_if_failed(response, data, self.provider)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        reader = _StreamReader(self.provider, request.model)
        try:
            async with self.request("POST", _CHAT, json=_map_request(request, stream=True), model=request.model,
                                    stream=True) as resp:
                # One loop from socket to caller: it runs once per network read.
                decoder = SSEDecoder()
                content = resp.content
                while True:
                    read = await content.readany()
                    for event in reader.read(decoder.feed(read) if read else decoder.close()):
                        yield event
                    if reader.failure is not None:
                        raise reader.failure
                    if not read:
                        break
        except LLMError as err:
            raise reader.builder.fail(err, FINISH_REASONS) from None
        if not reader.ended:
            raise reader.builder.fail(TransientError("stream ended before message-end", provider=self.provider,
                                                     model=request.model), FINISH_REASONS)
        yield reader.builder.done(FINISH_REASONS)

    async def list_models(self) -> list[ModelInfo]:
        data = await self.get_json("/v1/models", params={"endpoint": "chat", "page_size": "1000"},
                                   timeout=min(30.0, self.timeouts.total or 30.0))
        now = time.time()
        return [
            ModelInfo(id=m["name"], provider=self.provider, context_window=m.get("context_length"),
                      supports_tools=None, source="cohere:/v1/models", fetched_at=now)
            for m in data.get("models") or [] if m.get("name")
        ]


def _map_request(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "messages": [_map_message(m) for m in request.messages],
                            "stream": stream}
    if request.tools:
        body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                           "parameters": t.parameters}} for t in request.tools]
        choice = request.tool_choice
        if choice == "required":
            body["tool_choice"] = "REQUIRED"
        elif choice == "none":
            body["tool_choice"] = "NONE"
        elif choice not in (None, "auto"):
            # No named choice on v2: offer only that tool and require a call.
            body["tools"] = [t for t in body["tools"] if t["function"]["name"] == choice] or body["tools"]
            body["tool_choice"] = "REQUIRED"
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.response_schema is not None:
        body["response_format"] = {"type": "json_object", "json_schema": request.response_schema}
    if request.reasoning is not None:
        # Command A Reasoning: {"type": "enabled"|"disabled"} (docs.cohere.com/docs/reasoning).
        body["thinking"] = {"type": "disabled" if request.reasoning == "off" else "enabled"}
    if request.extra:
        body.update(request.extra)
    return body


def _map_message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "",
                "content": [{"type": "document", "document": {"data": message.content or "(empty)"}}]}
    if message.role == "assistant" and message.tool_calls:
        out: dict[str, Any] = {
            "role": "assistant",
            "tool_calls": [{"id": c.id, "type": "function",
                            "function": {"name": c.name, "arguments": orjson.dumps(c.arguments).decode()}}
                           for c in message.tool_calls],
        }
        if message.content:
            # The text before a call is Cohere's tool_plan.
            out["tool_plan"] = message.content
        return out
    # "message must be at least 1 token long" (empty turns are rejected).
    return {"role": message.role, "content": message.content or "(empty)"}


def _usage(raw: Mapping[str, Any]) -> Usage:
    billed = raw.get("billed_units") or {}
    tokens = raw.get("tokens") or {}
    return Usage.model_construct(
        input_tokens=int(tokens.get("input_tokens") or billed.get("input_tokens") or 0),
        output_tokens=int(tokens.get("output_tokens") or billed.get("output_tokens") or 0),
        cached_tokens=int(raw.get("cached_tokens") or 0), reasoning_tokens=0, cache_write_tokens=0, cost=None,
    )


def _process_response(data: Any, provider: str, model: str) -> ChatResponse:
    builder = ResponseBuilder(provider, model, split_think=False)
    message = (data or {}).get("message") or {}
    content = message.get("content")
    for part in content if isinstance(content, list) else ([{"type": "text", "text": content}] if content else []):
        if part.get("type") == "thinking":
            builder.add_reasoning(part.get("thinking") or "")
        elif part.get("type") == "text":
            builder.add_text(part.get("text") or "")
    if message.get("tool_plan") and not builder.text_parts:
        builder.add_text(message["tool_plan"])
    for raw in message.get("tool_calls") or []:
        fn = raw.get("function") or {}
        builder.add_tool_call(ToolCall.model_construct(id=raw.get("id") or new_call_id(), name=fn.get("name") or "",
                                                       arguments=parse_arguments(fn.get("arguments")), signature=None))
    if isinstance((data or {}).get("usage"), dict):
        builder.set_usage(_usage(data["usage"]))
    builder.raw_finish = (data or {}).get("finish_reason")
    return builder.response(FINISH_REASONS)


def _raise_if_failed(response: ChatResponse, data: Any, provider: str) -> None:
    # A 200 whose finish_reason is ERROR/TIMEOUT is a failure, not an answer.
    if response.raw_finish_reason in ("ERROR", "TIMEOUT"):
        err = classify_error(provider, 500, orjson.dumps({"message": f"Cohere finished with {response.raw_finish_reason}"}))
        err.partial = response
        raise err


class _StreamReader:
    """Cohere's SSE events, a network read at a time: content deltas in a row become one ``text`` event.
    An error (``message-end`` with ERROR or TIMEOUT, a malformed event) is left in ``failure``, to raise
    after passing on the events before it."""

    __slots__ = ("builder", "ended", "failure", "_calls")

    def __init__(self, provider: str, model: str) -> None:
        self.builder = ResponseBuilder(provider, model, split_think=False)
        self.ended = False
        self.failure: BaseException | None = None
        self._calls: dict[int, dict[str, Any]] = {}

    def read(self, events: list[tuple[str, bytes]]) -> list[StreamEvent]:
        builder = self.builder
        out: list[StreamEvent] = []
        text: list[str] = []
        for _name, data in events:
            try:
                chunk = _loads(data)
            except orjson.JSONDecodeError as exc:
                self.failure = exc
                break
            kind = chunk.get("type") if isinstance(chunk, dict) else None
            if kind == "content-delta":
                content = ((chunk.get("delta") or {}).get("message") or {}).get("content") or {}
                if not content.get("thinking"):
                    text.append(content.get("text") or "")
                    continue
            if text:
                out += builder.add_text("".join(text))
                text.clear()
            if kind == "message-end":
                delta = chunk.get("delta") or {}
                builder.raw_finish = delta.get("finish_reason")
                if isinstance(delta.get("usage"), dict):
                    out.append(builder.set_usage(_usage(delta["usage"])))
                if isinstance(delta.get("error"), str) or builder.raw_finish in ("ERROR", "TIMEOUT"):
                    message = delta.get("error") or builder.raw_finish
                    self.failure = classify_error(builder.provider, 500, orjson.dumps({"message": message}))
                    break
                self.ended = True
            elif kind is not None:
                out += _stream_event(kind, chunk, builder, self._calls)
        if text:
            out += builder.add_text("".join(text))
        return out


_loads = orjson.loads


def _stream_event(kind: str, chunk: dict[str, Any], builder: ResponseBuilder, calls: dict[int, dict[str, Any]]) -> list[StreamEvent]:
    message = (chunk.get("delta") or {}).get("message") or {}
    index = int(chunk.get("index") or 0)
    if kind == "content-delta":
        content = message.get("content") or {}
        if content.get("thinking"):
            return builder.add_reasoning(content["thinking"])
        return builder.add_text(content.get("text") or "")
    if kind == "tool-plan-delta":
        return builder.add_text(message.get("tool_plan") or "")
    if kind in ("tool-call-start", "tool-call-delta"):
        raw = message.get("tool_calls") or {}
        if isinstance(raw, list):  # documented as a one-element list in places
            raw = raw[0] if raw else {}
        entry = calls.setdefault(index, {"id": None, "name": "", "args": []})
        entry["id"] = raw.get("id") or entry["id"]
        fn = raw.get("function") or {}
        entry["name"] = fn.get("name") or entry["name"]
        entry["args"].append(fn.get("arguments") or "")
        return []
    if kind == "tool-call-end":
        entry = calls.pop(index, None)
        if entry is None:
            return []
        call = ToolCall.model_construct(id=entry["id"] or new_call_id(), name=entry["name"],
                                        arguments=parse_arguments("".join(entry["args"])), signature=None)
        return [builder.add_tool_call(call)]
    return []
