"""Bedrock Converse bodies: ``ChatRequest`` to the wire, and a whole answer back.

Shapes from docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html. Converse knows
only "user" and "assistant": system text goes to ``system``, tool results ride in a user turn, turns of
the same role are merged (the API requires alternation), and blank text blocks are never sent
("The text field in the ContentBlock object is blank").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..messages import ChatRequest, ChatResponse, FinishReason, Message, ToolCall, Usage, new_call_id
from .base import ResponseBuilder
from .reasoning import budget_tokens

__all__ = ["map_request", "process_response", "usage_of", "FINISH_REASONS", "SCHEMA_TOOL"]

FINISH_REASONS: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "error",
    "malformed_tool_use": "error",
}
# response_schema is emulated with a forced tool whose input is the answer (Converse has no JSON mode
# on every model); the response side turns its input back into text.
SCHEMA_TOOL = "json_answer"
_BLANK = "(empty)"
_DEFAULT_MAX_TOKENS = 4096


def map_request(request: ChatRequest, provider: str) -> dict[str, Any]:
    """The Converse/ConverseStream body for ``request``."""
    tools = list(request.tools)
    native_tools = bool(tools) and request.tool_choice != "none"
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            if message.content.strip():
                system.append({"text": message.content})
            continue
        role, blocks = _map_message(message, provider, native_tools)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"text": "(continue)"}]})
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    if request.max_tokens is not None:
        inference["maxTokens"] = request.max_tokens
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.stop:
        inference["stopSequences"] = list(request.stop)
    tool_config = _tool_config(request, tools, native_tools)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    budget = budget_tokens("anthropic", request.reasoning)
    forced = tool_config is not None and ("any" in tool_config.get("toolChoice", {}) or "tool" in tool_config.get("toolChoice", {}))
    if budget and "anthropic." in request.model and not forced:
        # Claude through Converse takes Anthropic's thinking object; the budget must stay below maxTokens.
        body["additionalModelRequestFields"] = {"thinking": {"type": "enabled", "budget_tokens": budget}}
        wanted = inference.get("maxTokens", _DEFAULT_MAX_TOKENS)
        inference["maxTokens"] = wanted if wanted > budget else budget + wanted
        inference.pop("temperature", None)  # thinking requires the default temperature
    if inference:
        body["inferenceConfig"] = inference
    if request.extra:
        body.update(request.extra)
    return body


def _tool_config(request: ChatRequest, tools: list[Any], native: bool) -> dict[str, Any] | None:
    specs = [
        {"toolSpec": {"name": t.name, "description": t.description or t.name, "inputSchema": {"json": t.parameters}}}
        for t in tools
    ] if native else []
    choice: dict[str, Any] = {"auto": {}}
    if request.response_schema is not None and not native:
        specs = [{"toolSpec": {"name": SCHEMA_TOOL, "description": "Give your final answer as this tool's input.",
                               "inputSchema": {"json": request.response_schema}}}]
        choice = {"tool": {"name": SCHEMA_TOOL}}
    elif request.tool_choice == "required":
        choice = {"any": {}}
    elif request.tool_choice not in (None, "auto", "none"):
        choice = {"tool": {"name": request.tool_choice}}
    if not specs:
        return None
    return {"tools": specs, "toolChoice": choice}


def _map_message(message: Message, provider: str, native_tools: bool) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "tool":
        if not native_tools:
            return "user", [{"text": f"Result of tool {message.name or ''}: {message.content or _BLANK}"}]
        return "user", [{"toolResult": {"toolUseId": message.tool_call_id or "", "content": [{"text": message.content or _BLANK}],
                                        "status": "success"}}]
    if message.role == "user":
        return "user", [{"text": message.content or _BLANK}]
    blocks: list[dict[str, Any]] = []
    opaque = message.opaque.get(provider) if isinstance(message.opaque.get(provider), dict) else None
    if opaque and opaque.get("reasoning") and message.tool_calls:
        # Claude with thinking needs its signed reasoning back in front of the tool use it led to.
        blocks.append({"reasoningContent": opaque["reasoning"]})
    if message.content.strip():
        blocks.append({"text": message.content})
    for call in message.tool_calls:
        if native_tools:
            blocks.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}})
        else:
            blocks.append({"text": f"(called tool {call.name} with {orjson.dumps(call.arguments).decode()})"})
    if not any("text" in b or "toolUse" in b for b in blocks):
        blocks.append({"text": _BLANK})
    return "assistant", blocks


def usage_of(raw: Mapping[str, Any]) -> Usage:
    return Usage.model_construct(
        input_tokens=int(raw.get("inputTokens") or 0),
        output_tokens=int(raw.get("outputTokens") or 0),
        cached_tokens=int(raw.get("cacheReadInputTokens") or 0),
        reasoning_tokens=0,
        cache_write_tokens=int(raw.get("cacheWriteInputTokens") or 0),
        cost=None,
    )


def process_response(data: Any, provider: str, model: str, *, schema_answer: bool = False) -> ChatResponse:
    """A whole Converse answer as a ``ChatResponse``."""
    builder = ResponseBuilder(provider, model, split_think=False)
    message = ((data or {}).get("output") or {}).get("message") or {}
    signed: dict[str, Any] = {}
    for block in message.get("content") or []:
        if "text" in block:
            builder.add_text(block["text"])
        elif "reasoningContent" in block:
            text = (block["reasoningContent"].get("reasoningText") or {})
            builder.add_reasoning(text.get("text") or "")
            if text.get("signature"):
                signed = {"reasoningText": {"text": "".join(builder.reasoning_parts), "signature": text["signature"]}}
        elif "toolUse" in block:
            use = block["toolUse"]
            call = ToolCall.model_construct(id=use.get("toolUseId") or new_call_id(), name=use.get("name") or "",
                                            arguments=use.get("input") if isinstance(use.get("input"), dict) else {},
                                            signature=None)
            if schema_answer and call.name == SCHEMA_TOOL:
                builder.add_text(orjson.dumps(call.arguments).decode())
            else:
                builder.add_tool_call(call)
    if signed:
        builder.opaque[provider] = {"reasoning": signed}
    if isinstance(data, dict) and isinstance(data.get("usage"), dict):
        builder.set_usage(usage_of(data["usage"]))
    builder.raw_finish = (data or {}).get("stopReason")
    if schema_answer and builder.raw_finish == "tool_use" and not builder.tool_calls:
        builder.raw_finish = "end_turn"
    return builder.response(FINISH_REASONS)
