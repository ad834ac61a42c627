"""One client for every OpenAI-compatible provider; per-provider quirks come from its ``ProviderSpec``.

Only maps: ``_map_*`` builds the wire body, ``_process_*`` reads answers. No retry, fallback or sleep.
"""

from __future__ import annotations

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
from ._attachments import openai_content
from ._cache_control import add_openai_breakpoints, wants_breakpoints
from ._http import SSEDecoder, SpecClient, drain, loads, translate_errors
from .base import ResponseBuilder, parse_arguments
from .reasoning import apply_openai_style

__all__ = ["OpenAICompatClient", "FINISH_REASONS"]

FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "eos": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",  # vLLM / Mistral when the window ends the answer
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "safety": "content_filter",
    "error": "error",
}

_EFFORT_BUDGET = {"low": 1024, "medium": 4096, "high": 16384}


class OpenAICompatClient(SpecClient):
    """``/chat/completions`` and ``/models`` for any provider whose ``spec.family`` is "openai"."""

    @property
    def _prefix(self) -> str:
        # llama.cpp serves the OpenAI routes under /v1 of its root.
        return "/v1" if self.spec.api_prefix == "" else ""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        body = self._map_request(request, stream=False)
        data = await self.post_json(self._prefix + "/chat/completions", body, model=request.model)
        return self._process_response(data, request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Events as the answer arrives; the last one is ``done``. Plain text that arrived in one network
        read comes as one ``text`` event (never held back for more bytes); reasoning, tool calls, usage
        and errors keep their own events and their order.

            async for event in client.stream(request): ...
        """
        body = self._map_request(request, stream=True)
        builder = ResponseBuilder(self.provider, request.model)
        calls = _ToolCallAssembler()
        async with self.request("POST", self._prefix + "/chat/completions", json=body, model=request.model) as response:
            with translate_errors(self.provider, request.model):
                if not _is_event_stream(response.headers.get("Content-Type", "")):
                    # Some servers ignore "stream": true and answer with one JSON document.
                    whole = self._process_response(loads(await response.read()), request.model)
                    for event in _replay(whole):
                        yield event
                    return
                # One loop from socket to caller (no generator per layer): it runs once per read.
                decoder = SSEDecoder()
                content = response.content
                finished = False
                while not finished:
                    read = await content.readany()
                    text: list[str] = []
                    for event_name, data in decoder.feed(read) if read else decoder.close():
                        if data == b"[DONE]":
                            finished = True
                            break
                        try:
                            chunk = _loads(data)
                        except orjson.JSONDecodeError:
                            if text:  # what arrived before the broken chunk is still delivered first
                                for event in builder.add_text("".join(text)):
                                    yield event
                            raise
                        piece = _plain_text(chunk) if event_name == "message" else None
                        if piece is not None:
                            # Most chunks of most streams: one piece of answer text, nothing else to read.
                            model = chunk.get("model")
                            if model and builder.model != model:
                                builder.model = model
                            text.append(piece)
                            continue
                        if text:
                            for event in builder.add_text("".join(text)):
                                yield event
                            text = []
                        if event_name == "error" or (isinstance(chunk, dict) and chunk.get("error")):
                            self._absorb_usage(chunk, builder)
                            raise builder.fail(self._stream_error(chunk, request.model), FINISH_REASONS)
                        for event in self._process_chunk(chunk, builder, calls):
                            yield event
                    if text:
                        for event in builder.add_text("".join(text)):
                            yield event
                    if not read:
                        break
                if finished:
                    await drain(response)
        if builder.raw_finish is None:
            # Only a choice with a finish_reason says the answer is whole; a body that just ends
            # (a proxy timing out, a server restarting) would otherwise pass a prefix off as the answer.
            raise builder.broken_off("a finish_reason", FINISH_REASONS)
        for call in calls.finish():
            yield builder.add_tool_call(call)
        for event in builder.flush():
            yield event
        yield builder.done(FINISH_REASONS)

    async def list_models(self) -> list[ModelInfo]:
        data = await self.get_json(self._prefix + self.spec.models_path, timeout=min(30.0, self.timeouts.total or 30.0))
        return [_model_info(self.provider, item) for item in _model_items(data)]

    # --- request ------------------------------------------------------------------------------

    def _map_request(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        spec = self.spec
        body: dict[str, Any] = {"model": request.model, "messages": [self._map_message(m) for m in request.messages]}
        if request.tools:
            body["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in request.tools
            ]
            choice = self._map_tool_choice(request.tool_choice)
            if choice is not None:
                body["tool_choice"] = choice
        if request.max_tokens is not None:
            body[spec.max_tokens_field] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop"] = request.stop
        if request.response_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": request.response_schema, "strict": True},
            } if spec.supports_json_schema else {"type": "json_object"}
        if request.reasoning is not None:
            self._map_reasoning(request.reasoning, body)
        if stream:
            body["stream"] = True
            if spec.supports_stream_usage:
                body["stream_options"] = {"include_usage": True}
        if spec.usage_accounting:
            body["usage"] = {"include": True}
        if spec.cache_breakpoints and wants_breakpoints(spec.cache_breakpoints, request.model):
            add_openai_breakpoints(body)
        if request.extra:
            body.update(request.extra)
        return body

    def _map_message(self, message: Message) -> dict[str, Any]:
        if message.role == "tool":
            out: dict[str, Any] = {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content}
            if message.name:
                out["name"] = message.name
            return out
        if message.role == "assistant" and message.tool_calls:
            out = {
                "role": "assistant",
                "content": message.content if message.content or self.spec.empty_content_with_tool_calls else None,
                "tool_calls": [
                    {"id": c.id, "type": "function",
                     "function": {"name": c.name, "arguments": orjson.dumps(c.arguments).decode()}}
                    for c in message.tool_calls
                ],
            }
        else:
            out = {"role": message.role, "content": openai_content(message) if message.attachments else message.content}
        if message.role == "assistant" and self.spec.echo_reasoning and message.reasoning:
            out["reasoning_content"] = message.reasoning
        return out

    def _map_tool_choice(self, choice: str | None) -> Any:
        if choice is None or not self.spec.supports_tool_choice:
            return None
        if choice in ("auto", "none"):
            return choice
        if choice == "required":
            return "required" if self.spec.supports_tool_choice_required else "auto"
        return {"type": "function", "function": {"name": choice}}

    def _map_reasoning(self, effort: str, body: dict[str, Any]) -> None:
        apply_openai_style(self.spec.reasoning_style, effort, body)

    # --- response -----------------------------------------------------------------------------

    def _process_response(self, data: Any, model: str) -> ChatResponse:
        if not isinstance(data, dict):
            raise TransientError("provider answered HTTP 200 with something other than a JSON object",
                                 provider=self.provider, model=model, body=orjson.dumps(data).decode()[:500])
        if data.get("error"):
            # OpenRouter and some gateways answer HTTP 200 with an error object.
            raise self._stream_error(data, model)
        choices = data.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            # HTTP 200 without an answer in it (an overloaded gateway's placeholder): nothing to read.
            raise TransientError("provider answered HTTP 200 without choices", provider=self.provider, model=model,
                                 body=orjson.dumps(data).decode()[:500], code="no_choices")
        builder = ResponseBuilder(self.provider, data.get("model") or model, streaming=False)
        self._absorb_usage(data, builder)
        choice = choices[0]
        message = choice.get("message") or {}
        for piece in _reasoning_of(message):
            builder.add_reasoning(piece)
        for kind, piece in _content_parts(message.get("content")):
            (builder.add_reasoning if kind == "reasoning" else builder.add_text)(piece)
        builder.flush()
        for i, raw in enumerate(message.get("tool_calls") or []):
            fn = raw.get("function") or {}
            builder.add_tool_call(
                ToolCall.model_construct(
                    id=raw.get("id") or new_call_id(), name=fn.get("name") or "",
                    arguments=parse_arguments(fn.get("arguments")), signature=None,
                )
            )
        legacy = message.get("function_call")
        if legacy and not builder.tool_calls:
            builder.add_tool_call(
                ToolCall.model_construct(id=new_call_id(), name=legacy.get("name") or "",
                                         arguments=parse_arguments(legacy.get("arguments")), signature=None)
            )
        builder.raw_finish = choice.get("finish_reason")
        return builder.response(FINISH_REASONS)

    def _process_chunk(self, chunk: dict[str, Any], builder: ResponseBuilder, calls: _ToolCallAssembler) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if chunk.get("model") and builder.model != chunk["model"]:
            builder.model = chunk["model"]
        for choice in chunk.get("choices") or ():
            if not _is_answer_choice(choice):
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            for piece in _reasoning_of(delta):
                events.extend(builder.add_reasoning(piece))
            content = delta.get("content")
            if content:
                for kind, piece in _content_parts(content):
                    events.extend(builder.add_reasoning(piece) if kind == "reasoning" else builder.add_text(piece))
            raw_calls = delta.get("tool_calls")
            if raw_calls:
                calls.add(raw_calls)
            legacy = delta.get("function_call")
            if legacy:
                calls.add([{"index": 0, "function": legacy}])
            finish = choice.get("finish_reason")
            if finish:
                builder.raw_finish = finish
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if usage:
            events.append(builder.set_usage(_usage(usage)))
        return events

    def _absorb_usage(self, data: dict[str, Any], builder: ResponseBuilder) -> None:
        usage = data.get("usage")
        if isinstance(usage, dict):
            builder.usage = _usage(usage)  # no event: a whole answer, or an error ending the stream

    def _stream_error(self, chunk: Any, model: str) -> LLMError:
        error = chunk.get("error") if isinstance(chunk, dict) else None
        status = 0
        if isinstance(error, dict):
            for field in ("code", "status_code", "status"):
                value = error.get(field)
                if isinstance(value, int) and 100 <= value < 600:
                    status = value
                    break
        err = classify_error(self.provider, status, orjson.dumps(chunk))
        err.model = err.model or model
        return err


class _ToolCallAssembler:
    """Streamed tool-call deltas, merged by index (id or position when a server sends no index)."""

    __slots__ = ("_calls", "_order")

    def __init__(self) -> None:
        self._calls: dict[Any, dict[str, Any]] = {}
        self._order: list[Any] = []

    def add(self, deltas: list[dict[str, Any]]) -> None:
        for pos, delta in enumerate(deltas):
            key = delta.get("index")
            if key is None:
                key = delta.get("id") or pos
            slot = self._calls.get(key)
            if slot is None:
                slot = {"id": None, "name": "", "args": []}
                self._calls[key] = slot
                self._order.append(key)
            if delta.get("id"):
                slot["id"] = delta["id"]
            fn = delta.get("function") or {}
            name = fn.get("name")
            # Some servers repeat the whole name in every chunk; others split it.
            if name and not slot["name"].endswith(name):
                slot["name"] += name
            args = fn.get("arguments")
            if args:
                if isinstance(args, dict):
                    slot["args"] = [orjson.dumps(args).decode()]
                else:
                    slot["args"].append(args)

    def finish(self) -> list[ToolCall]:
        out = []
        for key in self._order:
            slot = self._calls[key]
            if not slot["name"]:
                continue
            out.append(
                ToolCall.model_construct(
                    id=slot["id"] or new_call_id(), name=slot["name"],
                    arguments=parse_arguments("".join(slot["args"])), signature=None,
                )
            )
        return out


def _is_answer_choice(choice: Any) -> bool:
    # With ``n`` > 1 the choices of one stream arrive interleaved and only ``choices[].index`` keeps them
    # apart; the answer is choice 0 (a server that leaves the index out sends one choice).
    return isinstance(choice, dict) and (choice.get("index") or 0) == 0


def _is_event_stream(content_type: str) -> bool:
    return "event-stream" in content_type or not content_type


def _replay(response: ChatResponse) -> list[StreamEvent]:
    events = []
    if response.reasoning:
        events.append(StreamEvent.make("reasoning", text=response.reasoning))
    if response.text:
        events.append(StreamEvent.make("text", text=response.text))
    for call in response.tool_calls:
        events.append(StreamEvent.make("tool_call", tool_call=call))
    events.append(StreamEvent.make("usage", usage=response.usage))
    events.append(StreamEvent.make("done", response=response))
    return events


_PLAIN_DELTA = frozenset({"content", "role"})
_loads = orjson.loads  # the stream loop's; ``loads`` elsewhere


def _plain_text(chunk: Any) -> str | None:
    """The text of a chunk whose only news is one piece of choice 0's answer text, else None (the
    general path then reads it: reasoning, tool calls, finish, usage, errors, several choices).

    Checks exactly what ``_process_chunk`` and the error check would read, nothing more: other
    top-level keys (id, created, system_fingerprint, provider, ...) are ignored there too. Runs for
    nearly every chunk of a stream, hence one ``try`` in place of a type check per level."""
    try:
        (choice,) = chunk["choices"]
        delta = choice["delta"]
        content = delta["content"]
    except (KeyError, TypeError, ValueError):
        return None
    if (
        type(content) is str
        and choice.get("finish_reason") is None
        and not choice.get("index")
        and (len(delta) == 1 or delta.keys() <= _PLAIN_DELTA)
        and not chunk.get("usage")
        and not chunk.get("error")
        and "x_groq" not in chunk
    ):
        return content
    return None


def _reasoning_of(message: Mapping[str, Any]) -> list[str]:
    # DeepSeek and llama.cpp: reasoning_content; OpenRouter and Groq: reasoning. Never both in practice.
    value = message.get("reasoning_content") or message.get("reasoning")
    return [value] if isinstance(value, str) and value else []


def _content_parts(content: Any) -> list[tuple[str, str]]:
    """``(kind, text)`` pieces of a content field: a string, or Mistral's array of typed chunks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [("text", content)] if content else []
    parts: list[tuple[str, str]] = []
    for item in content if isinstance(content, list) else [content]:
        if isinstance(item, str):
            parts.append(("text", item))
        elif isinstance(item, dict):
            kind = item.get("type")
            if kind == "text" and item.get("text"):
                parts.append(("text", item["text"]))
            elif kind == "thinking":
                # Mistral magistral: {"type":"thinking","thinking":[{"type":"text","text":...}]}
                inner = item.get("thinking")
                if isinstance(inner, str):
                    parts.append(("reasoning", inner))
                else:
                    parts.extend(("reasoning", t) for k, t in _content_parts(inner) if t)
    return parts


def _usage(raw: Mapping[str, Any]) -> Usage:
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    cost = raw.get("cost")
    return Usage.make(
        input_tokens=int(raw.get("prompt_tokens") or raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or raw.get("output_tokens") or 0),
        cached_tokens=int(prompt_details.get("cached_tokens") or raw.get("prompt_cache_hit_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        cache_write_tokens=int(prompt_details.get("cache_write_tokens") or 0),
        cost=float(cost) if isinstance(cost, (int, float)) else None,
    )


def _model_items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        items = data.get("data")
        if items is None:
            items = data.get("models")
        return [i for i in items or [] if isinstance(i, dict)]
    return [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []


def _model_info(provider: str, item: dict[str, Any]) -> ModelInfo:
    """One entry of ``/models``: plain OpenAI, OpenRouter (context_length, pricing, supported_parameters)
    or llama.cpp (``meta.n_ctx``)."""
    model_id = str(item.get("id") or item.get("name") or item.get("model") or "")
    meta = item.get("meta") or {}
    window = item.get("context_length") or item.get("context_window") or item.get("max_model_len") or meta.get("n_ctx")
    top = item.get("top_provider") or {}
    max_out = top.get("max_completion_tokens") or item.get("max_completion_tokens") or item.get("max_output_tokens")
    params = item.get("supported_parameters")
    tools = ("tools" in params) if isinstance(params, list) else None
    if tools is None and isinstance(item.get("capabilities"), dict):
        caps = item["capabilities"]
        tools = caps.get("function_calling", caps.get("tool_calling"))
    arch = item.get("architecture") or {}
    modalities = arch.get("input_modalities")
    vision = ("image" in modalities) if isinstance(modalities, list) else None
    pdf = ("file" in modalities) if isinstance(modalities, list) else None
    pricing = None
    free = None
    raw_pricing = item.get("pricing")
    if isinstance(raw_pricing, dict):
        pricing = {k: float(v) for k, v in raw_pricing.items() if _is_number(v)}
        free = all(v == 0 for k, v in pricing.items() if k in ("prompt", "completion")) if pricing else None
    if model_id.endswith(":free"):
        free = True
    return ModelInfo.model_construct(
        id=model_id, provider=provider, context_window=int(window) if window else None,
        max_output_tokens=int(max_out) if max_out else None, supports_tools=tools, supports_vision=vision,
        supports_pdf=pdf, free=free, pricing=pricing, source=f"{provider}:/models", fetched_at=0.0,
    )


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
