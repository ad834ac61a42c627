"""Ollama over its native ``/api/chat`` (a local server, or Ollama Cloud with a key).

Ollama streams unless told otherwise, so every body says ``"stream"`` explicitly. A stream is NDJSON:
one object per line, the last with ``done: true`` and the token counts; Ollama Cloud sends the same
lines under ``Content-Type: application/json``. Thinking arrives in ``message.thinking`` (or, for
models without a parser, as ``<think>`` at the start of the content); tool calls arrive whole, with
arguments already an object and often no id.

    client = OllamaClient(get_spec("ollama"), base_url="http://127.0.0.1:11434")
    resp = await client.chat(ChatRequest(model="llama3.2", messages=[Message.user("hi")]))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from ..errors import LLMError, TransientError, classify_error
from ..messages import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    Message,
    ModelInfo,
    StreamEvent,
    ToolCall,
    Usage,
    new_call_id,
)
from ._attachments import ollama_images
from ._framing import NDJSONDecoder
from ._http import SpecClient
from .base import ResponseBuilder, parse_arguments
from .reasoning import nearest_level

__all__ = ["OllamaClient", "build_body", "FINISH_REASONS"]

FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length"}
# "load" / "unload" answer a request with no messages (or keep_alive 0): not a generation's end.
_NOT_A_FINISH = frozenset({"load", "unload"})
_SHOW_CONCURRENCY = 4


def build_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The ``/api/chat`` body for ``request``; ``extra["num_ctx"]`` and ``extra["options"]`` go to options.

        body = build_body(ChatRequest(model="llama3.2", messages=[Message.user("hi")]), stream=False)
    """
    body: dict[str, Any] = {"model": request.model, "messages": _messages(request.messages), "stream": stream}
    # Ollama has no tool_choice; "none" is honoured by not offering the tools at all.
    if request.tools and request.tool_choice != "none":
        body["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools
        ]
    if request.reasoning is not None:
        # false is safe everywhere; true (or a level) on a model without thinking is a 400
        # '"gemma3:1b" does not support thinking', so it is only sent when asked for.
        # Ollama's levels are low/medium/high (gpt-oss); minimal and xhigh go to the nearest.
        body["think"] = False if request.reasoning == "off" else nearest_level(request.reasoning, ("low", "medium", "high"))
    if request.response_schema is not None:
        body["format"] = request.response_schema
    options: dict[str, Any] = {}
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.stop:
        options["stop"] = list(request.stop)
    extra = dict(request.extra)
    if "num_ctx" in extra:
        options["num_ctx"] = extra.pop("num_ctx")
    extra_options = extra.pop("options", None)
    if isinstance(extra_options, Mapping):
        options.update(extra_options)
    if options:
        body["options"] = options
    body.update(extra)
    return body


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    out: list[dict[str, Any]] = []
    for message in messages:
        entry: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.attachments:
            entry["images"] = ollama_images(message)
        if message.role == "assistant" and message.tool_calls:
            entry["tool_calls"] = [
                {"id": c.id, "function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls
            ]
            # Reasoning models (gpt-oss) continue a tool-calling turn from their own thinking.
            if message.reasoning:
                entry["thinking"] = message.reasoning
        elif message.role == "tool":
            entry["tool_name"] = message.name or names.get(message.tool_call_id or "", "")
            if message.tool_call_id:
                entry["tool_call_id"] = message.tool_call_id
        out.append(entry)
    return out


def _usage(chunk: Mapping[str, Any]) -> Usage:
    return Usage(input_tokens=chunk.get("prompt_eval_count") or 0, output_tokens=chunk.get("eval_count") or 0)


def _feed(builder: ResponseBuilder, chunk: Mapping[str, Any]) -> list[StreamEvent]:
    """Fold one ``/api/chat`` object (a stream line or the whole answer) into ``builder``."""
    if "error" in chunk:
        # Ollama's in-stream errors carry no status; a failure mid-generation is the server's.
        raise builder.fail(classify_error(builder.provider, 500, orjson.dumps(chunk)), FINISH_REASONS)
    if chunk.get("model"):
        builder.model = chunk["model"]
    events: list[StreamEvent] = []
    message = chunk.get("message") or {}
    events.extend(builder.add_reasoning(message.get("thinking") or ""))
    events.extend(builder.add_text(message.get("content") or ""))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        tool_call = ToolCall.model_construct(
            id=call.get("id") or new_call_id(),
            name=function.get("name", ""),
            arguments=parse_arguments(function.get("arguments")),
            signature=None,
        )
        events.append(builder.add_tool_call(tool_call))
    if chunk.get("done"):
        reason = chunk.get("done_reason")
        if reason and reason not in _NOT_A_FINISH:
            builder.raw_finish = reason
        builder.usage = _usage(chunk)
    return events


class _StreamReader:
    """NDJSON lines a network read at a time: lines that carry only answer text, in a row, become one
    ``text`` event. An error (an error line, a line that is not a JSON object) is left in ``failure``,
    to raise after passing on the events before it."""

    __slots__ = ("builder", "done", "failure")

    def __init__(self, provider: str, model: str) -> None:
        self.builder = ResponseBuilder(provider, model)
        self.done = False
        self.failure: BaseException | None = None

    def read(self, lines: list[bytes]) -> list[StreamEvent]:
        builder = self.builder
        events: list[StreamEvent] = []
        text: list[str] = []
        model = None
        for line in lines:
            try:
                chunk = _loads(line)
            except orjson.JSONDecodeError as exc:
                if not line.strip():
                    continue  # a blank line (a CR before the LF is JSON whitespace)
                self.failure = exc
                break
            if type(chunk) is dict and "error" not in chunk and not chunk.get("done"):
                message = chunk.get("message")
                if type(message) is dict and not message.get("thinking") and not message.get("tool_calls"):
                    # Most lines of most streams: a piece of answer text and nothing else.
                    text.append(message.get("content") or "")
                    model = chunk.get("model") or model
                    continue
            if text:
                events += self._text(text, model)
                text.clear()
                model = None
            if not isinstance(chunk, dict):
                self.failure = TransientError("Ollama streamed a line that is not a JSON object",
                                              provider=builder.provider, model=builder.model)
                break
            try:
                events += _feed(builder, chunk)
            except LLMError as err:
                self.failure = err
                break
            self.done = self.done or bool(chunk.get("done"))
        if text:
            events += self._text(text, model)
        return events

    def _text(self, text: list[str], model: Any) -> list[StreamEvent]:
        if model:
            self.builder.model = model
        return self.builder.add_text("".join(text))


_loads = orjson.loads


class OllamaClient(SpecClient):
    """``LLMClient`` for Ollama's native API (``ollama`` and providers declared over it)."""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One whole answer.

            resp = await client.chat(ChatRequest(model="llama3.2", messages=msgs))
        """
        data = await self.post_json("/api/chat", build_body(request, stream=False), model=request.model)
        builder = ResponseBuilder(self.provider, request.model)
        if not isinstance(data, dict):
            raise TransientError("Ollama answered HTTP 200 with something other than a JSON object",
                                 provider=self.provider, model=request.model)
        _feed(builder, data)
        if not data.get("done"):
            raise TransientError("Ollama answered without done: true (an unfinished answer)",
                                 provider=self.provider, model=request.model, code="stream_incomplete")
        builder.flush()
        return builder.response(FINISH_REASONS)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Events as they arrive; the last is ``done`` with the whole answer.

            async for event in client.stream(request): ...
        """
        reader = _StreamReader(self.provider, request.model)
        builder = reader.builder
        body = build_body(request, stream=True)
        try:
            async with self.request("POST", "/api/chat", json=body, model=request.model, stream=True) as response:
                # One loop from socket to caller: it runs once per network read.
                decoder = NDJSONDecoder()
                content = response.content
                while True:
                    read = await content.readany()
                    for event in reader.read(decoder.feed(read) if read else decoder.close()):
                        yield event
                    if reader.failure is not None:
                        raise reader.failure
                    if not read:
                        break
        except LLMError as err:
            raise builder.fail(err, FINISH_REASONS) from None
        if not reader.done:
            # The last line of a whole answer says done: true; without it the answer was cut.
            raise builder.broken_off("a line with done: true", FINISH_REASONS)
        for event in builder.flush():
            yield event
        if builder.usage is not None:
            yield builder.set_usage(builder.usage)
        yield builder.done(FINISH_REASONS)

    async def list_models(self) -> list[ModelInfo]:
        """Installed models from ``/api/tags``, each enriched by ``/api/show`` (context, capabilities).

            models = await client.list_models()
        """
        tags = await self.get_json("/api/tags")
        names = [m.get("model") or m.get("name") for m in tags.get("models") or []]
        limit = asyncio.Semaphore(_SHOW_CONCURRENCY)
        now = time.time()

        async def describe(name: str) -> ModelInfo:
            async with limit:
                try:
                    details = await self.post_json("/api/show", {"model": name}, model=name)
                except LLMError:
                    # A model that cannot be described (a broken blob, a cloud stub) is still listed.
                    details = {}
            return _model_info(name, details, self.provider, now, free=True if self.spec.local else None)

        return list(await asyncio.gather(*(describe(n) for n in names if n)))


def _model_info(name: str, details: Mapping[str, Any], provider: str, now: float, *, free: bool | None) -> ModelInfo:
    info = details.get("model_info") or {}
    arch = info.get("general.architecture")
    context = info.get(f"{arch}.context_length") if arch else None
    caps = details.get("capabilities")
    return ModelInfo(
        id=name,
        provider=provider,
        context_window=context if isinstance(context, int) else None,
        supports_tools=("tools" in caps) if isinstance(caps, list) else None,
        supports_vision=("vision" in caps) if isinstance(caps, list) else None,
        free=free,
        source=f"{provider}:/api/show" if details else f"{provider}:/api/tags",
        fetched_at=now,
    )
