"""One client for every OpenAI-compatible provider; per-provider quirks come from its ``ProviderSpec``.

Only maps: ``_map_*`` builds the wire body, ``_process_*`` reads answers. No retry, fallback or sleep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

import orjson

from ..messages import ChatRequest, ChatResponse, Message, ModelInfo, StreamEvent
from ._attachments import openai_content
from ._cache_control import add_openai_breakpoints, wants_breakpoints
from ._http import SpecClient, drain, loads
from ._openai_response import FINISH_REASONS, StreamReader, process_response, replay
from .reasoning import apply_openai_style

__all__ = ["OpenAICompatClient", "FINISH_REASONS"]

_EFFORT_BUDGET = {"low": 1024, "medium": 4096, "high": 16384}


class OpenAICompatClient(SpecClient):
    """``/chat/completions`` and ``/models`` for any provider whose ``spec.family`` is "openai"."""

    @cached_property
    def _prefix(self) -> str:
        # llama.cpp serves the OpenAI routes under /v1 of its root.
        return "/v1" if self.spec.api_prefix == "" else ""

    @cached_property
    def _chat_path(self) -> str:
        return self._prefix + "/chat/completions"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        body = self._map_request(request, stream=False)
        data = await self.post_json(self._chat_path, body, model=request.model)
        return process_response(data, self.provider, request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Events as the answer arrives; the last one is ``done``. Plain text that arrived in one network
        read comes as one ``text`` event (never held back for more bytes); reasoning, tool calls, usage
        and errors keep their own events and their order.

            async for event in client.stream(request): ...
        """
        body = self._map_request(request, stream=True)
        reader = StreamReader(self.provider, request.model)
        async with self.request("POST", self._chat_path, json=body, model=request.model,
                                stream=True) as response:
            if not _is_event_stream(response.headers.get("Content-Type", "")):
                # Some servers ignore "stream": true and answer with one JSON document.
                for event in replay(process_response(loads(await response.read()), self.provider, request.model)):
                    yield event
                return
            # One loop from socket to caller (no generator per layer): it runs once per network read.
            content = response.content
            while True:
                read = await content.readany()
                for event in reader.feed(read) if read else reader.close():
                    yield event
                if reader.failure is not None:
                    raise reader.failure
                if not read:
                    break
                if reader.finished:
                    await drain(response)
                    break
        for event in reader.end():
            yield event

    async def list_models(self) -> list[ModelInfo]:
        data = await self.get_json(self._prefix + self.spec.models_path, timeout=min(30.0, self.timeouts.total or 30.0))
        return [_model_info(self.provider, item) for item in _model_items(data)]

    # --- request ------------------------------------------------------------------------------

    def _map_request(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        spec = self.spec
        body: dict[str, Any] = {"model": request.model, "messages": list(map(self._map_message, request.messages))}
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
        role = message.role  # read once: a pydantic attribute costs a trip through BaseModel.__getattr__'s hook
        if role == "tool":
            out: dict[str, Any] = {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content}
            if message.name:
                out["name"] = message.name
            return out
        if role == "assistant" and message.tool_calls:
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
            out = {"role": role, "content": openai_content(message) if message.attachments else message.content}
        if role == "assistant" and self.spec.echo_reasoning and message.reasoning:
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


def _is_event_stream(content_type: str) -> bool:
    return "event-stream" in content_type or not content_type


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
