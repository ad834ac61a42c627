"""Google Gemini over its native ``generateContent`` API (``/v1beta/models/{model}:generateContent``).

Maps ``ChatRequest`` to ``contents`` / ``systemInstruction`` / ``tools`` / ``generationConfig`` and the
answer's ``candidates[0].content.parts`` back (``thought: true`` parts are reasoning). Streams come as
SSE (``alt=sse``, CRLF separators) or, without ``alt=sse``, as one JSON array that grows element by
element; both are read here. The key travels in the ``x-goog-api-key`` header, never in the URL.

    client = GeminiClient(get_spec("google"), api_key=key, base_url="https://generativelanguage.googleapis.com")
    resp = await client.chat(ChatRequest(model="gemini-2.5-flash", messages=[Message.user("hi")]))
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from ..errors import LLMError, TransientError
from ..messages import ChatRequest, ChatResponse, Message, ModelInfo, StreamEvent
from ._attachments import gemini_parts
from ._gemini_response import FINISH_REASONS, AnswerReader
from ._gemini_schema import is_empty_object, to_gemini_schema
from ._framing import JSONArrayDecoder, SSEDecoder
from ._http import SpecClient

__all__ = ["GeminiClient", "build_body", "FINISH_REASONS"]

_TOOL_CHOICE = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_THINKING_BUDGET = {"off": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576}
# "Budget 0 is invalid. This model only works in thinking mode." (2.5 Pro and the 3.x Pro models):
# for them "off" means "leave the model's default".
_ALWAYS_THINKS = re.compile(r"gemini-(?:2\.5|[3-9](?:\.\d+)?)-pro")
# Gemini 3 answers 400 "Function call is missing a thought_signature in functionCall parts" for calls it
# did not make itself; the documented sentinel tells it to skip that check for replayed history.
_NEEDS_SIGNATURE = re.compile(r"gemini-(?:[3-9]|\d{2,})")
_SKIP_SIGNATURE = "skip_thought_signature_validator"


def build_body(request: ChatRequest, provider: str = "google") -> dict[str, Any]:
    """The ``generateContent`` body for ``request``; ``provider`` decides whose opaque state is ours.

        body = build_body(ChatRequest(model="gemini-2.5-flash", messages=[Message.user("hi")]))
    """
    model = _bare_model(request.model)
    system = "\n\n".join(m.content for m in request.messages if m.role == "system" and m.content)
    contents = _contents(request.messages, provider, model)
    body: dict[str, Any] = {"contents": contents}
    if system:
        if model.startswith("gemma-"):
            # "Developer instruction is not enabled for models/gemma-3-27b-it": Gemma on the Gemini API
            # has no system role, so the instruction leads the first user turn instead.
            _prepend_text(contents, system)
        else:
            body["systemInstruction"] = {"parts": [{"text": system}]}
    if request.tools:
        declarations = [_declaration(t.name, t.description, t.parameters) for t in request.tools]
        body["tools"] = [{"functionDeclarations": declarations}]
        if request.tool_choice:
            mode = _TOOL_CHOICE.get(request.tool_choice, "ANY")
            config: dict[str, Any] = {"mode": mode}
            if request.tool_choice not in _TOOL_CHOICE:
                config["allowedFunctionNames"] = [request.tool_choice]
            body["toolConfig"] = {"functionCallingConfig": config}
    generation = _generation_config(request, model)
    if generation:
        body["generationConfig"] = generation
    return _merge(body, request.extra)


def _contents(messages: list[Message], provider: str, model: str) -> list[dict[str, Any]]:
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    # Ids Gemini itself put on function calls go back on the call and its response; our own made-up
    # ids mean nothing to it (and Vertex rejects unknown ids).
    own_ids = {i for m in messages for i in (m.opaque.get(provider) or {}).get("call_ids", [])}
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "user":
            contents.append({"role": "user", "parts": [{"text": message.content}, *gemini_parts(message)]})
        elif message.role == "assistant":
            parts = _model_parts(message, provider, model, own_ids)
            if parts:
                contents.append({"role": "model", "parts": parts})
        elif message.role == "tool":
            part = _function_response(message, names, own_ids)
            last = contents[-1] if contents else None
            # Parallel results must share one turn: Gemini matches them to the calls of the model turn before.
            if last and last["role"] == "user" and all("functionResponse" in p for p in last["parts"]):
                last["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
    return contents


def _model_parts(message: Message, provider: str, model: str, own_ids: set[str]) -> list[dict[str, Any]]:
    ours = message.opaque.get(provider)
    parts: list[dict[str, Any]] = []
    if message.content:
        part: dict[str, Any] = {"text": message.content}
        if ours and ours.get("text_signature"):
            part["thoughtSignature"] = ours["text_signature"]
        parts.append(part)
    for index, call in enumerate(message.tool_calls):
        fc: dict[str, Any] = {"name": call.name, "args": call.arguments}
        if call.id in own_ids:
            fc["id"] = call.id
        part = {"functionCall": fc}
        # A signature is only valid for the provider that issued it: "Invalid value at
        # 'thought_signature' (TYPE_BYTES), Base64 decoding failed" for anything else.
        if ours is not None and call.signature:
            part["thoughtSignature"] = call.signature
        elif index == 0 and _NEEDS_SIGNATURE.search(model):
            part["thoughtSignature"] = _SKIP_SIGNATURE
        parts.append(part)
    return parts


def _function_response(message: Message, names: Mapping[str, str], own_ids: set[str]) -> dict[str, Any]:
    name = message.name or names.get(message.tool_call_id or "", "") or "tool"
    result: Any = message.content
    stripped = message.content.strip()
    if stripped.startswith("{"):
        try:
            parsed = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            result = parsed
    response: dict[str, Any] = {"name": name, "response": {"result": result}}
    if message.tool_call_id in own_ids:
        response["id"] = message.tool_call_id
    return {"functionResponse": response}


def _declaration(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": name, "description": description}
    # "parameters.properties: should be non-empty for OBJECT type" for a tool without arguments.
    if not is_empty_object(parameters):
        declaration["parameters"] = to_gemini_schema(parameters)
    return declaration


def _generation_config(request: ChatRequest, model: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if request.response_schema is not None:
        config["responseMimeType"] = "application/json"
        config["responseSchema"] = to_gemini_schema(request.response_schema)
    if request.reasoning == "off":
        if not _ALWAYS_THINKS.search(model):
            config["thinkingConfig"] = {"thinkingBudget": 0}
    elif request.reasoning is not None:
        config["thinkingConfig"] = {"thinkingBudget": _THINKING_BUDGET[request.reasoning], "includeThoughts": True}
    return config


def _prepend_text(contents: list[dict[str, Any]], text: str) -> None:
    for turn in contents:
        if turn["role"] == "user" and "text" in turn["parts"][0]:
            turn["parts"][0] = {"text": f"{text}\n\n{turn['parts'][0]['text']}"}
            return
    contents.insert(0, {"role": "user", "parts": [{"text": text}]})


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = _merge(dict(base[key]), value)
        else:
            base[key] = value
    return base


def _bare_model(model: str) -> str:
    return model.removeprefix("models/")


def _model_path(model: str) -> str:
    # Tuned models live under their own collection; everything else is "models/<name>".
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


class GeminiClient(SpecClient):
    """``LLMClient`` for the Gemini API (``google`` and providers declared over it)."""

    def _auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key} if self._api_key else {}

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One whole answer.

            resp = await client.chat(ChatRequest(model="gemini-2.5-flash", messages=msgs))
        """
        path = f"/v1beta/{_model_path(request.model)}:generateContent"
        data = await self.post_json(path, build_body(request, self.provider), model=request.model)
        reader = AnswerReader(self.provider, request.model)
        if not isinstance(data, dict):
            raise TransientError("Gemini answered HTTP 200 with something other than a JSON object",
                                 provider=self.provider, model=request.model)
        reader.feed(data)
        if not reader.finished:
            raise TransientError("Gemini answered HTTP 200 without a candidate that has a finishReason",
                                 provider=self.provider, model=request.model, code="no_choices")
        return reader.response()

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Events as they arrive; the last is ``done`` with the whole answer.

            async for event in client.stream(request): ...
        """
        path = f"/v1beta/{_model_path(request.model)}:streamGenerateContent"
        reader = AnswerReader(self.provider, request.model)
        body = build_body(request, self.provider)
        try:
            async with self.request("POST", path, json=body, model=request.model, params={"alt": "sse"},
                                    stream=True) as response:
                sse = "event-stream" in response.headers.get("Content-Type", "")
                # Without alt=sse (or from a proxy that drops it) the answer is "[{...}\n,\r\n{...}]".
                decoder, scanner = (SSEDecoder(), None) if sse else (None, JSONArrayDecoder())
                content = response.content
                # One loop from socket to caller: it runs once per network read.
                while True:
                    read = await content.readany()
                    if decoder is not None:
                        payloads = decoder.messages(read) if read else None
                        if payloads is None:
                            payloads = [data for _event, data in (decoder.feed(read) if read else decoder.close())]
                        events = reader.read(payloads)
                    else:
                        assert scanner is not None
                        events = reader.read_values(scanner.feed(read, final=not read))
                    for event in events:
                        yield event
                    if reader.failure is not None:
                        raise reader.failure
                    if not read:
                        break
        except LLMError as err:
            raise reader.fail(err) from None
        builder = reader.builder
        if not reader.finished:
            # The last chunk of a whole answer has a candidate with finishReason (or the prompt's
            # blockReason); without it the body ended mid-answer.
            raise reader.fail(builder.broken_off("a finishReason", FINISH_REASONS))
        response = reader.response()
        if builder.usage is not None:
            yield builder.set_usage(builder.usage)
        yield StreamEvent.model_construct(
            type="done", text=None, tool_call=None, usage=None, response=response, attempt=None
        )

    async def list_models(self) -> list[ModelInfo]:
        """Models that can ``generateContent``, with their token limits (all pages).

            models = await client.list_models()
        """
        models: list[ModelInfo] = []
        token = ""
        now = time.time()
        while True:
            params = {"pageSize": "1000", **({"pageToken": token} if token else {})}
            data = await self.get_json("/v1beta/models", params=params)
            for entry in data.get("models") or []:
                info = _model_info(entry, self.provider, now)
                if info is not None:
                    models.append(info)
            token = data.get("nextPageToken") or ""
            if not token:
                return models


def _model_info(entry: Mapping[str, Any], provider: str, now: float) -> ModelInfo | None:
    methods = entry.get("supportedGenerationMethods") or []
    if "generateContent" not in methods:
        return None  # embedding, AQA and imagen models
    model_id = _bare_model(entry.get("name", ""))
    # "Function calling is not enabled for models/gemma-3-12b-it": the hosted Gemma models take no tools.
    tools = False if model_id.startswith("gemma-") else True if model_id.startswith("gemini-") else None
    return ModelInfo(
        id=model_id,
        provider=provider,
        context_window=entry.get("inputTokenLimit"),
        max_output_tokens=entry.get("outputTokenLimit"),
        supports_tools=tools,
        supports_vision=True if model_id.startswith("gemini-") else None,
        source=f"{provider}:/v1beta/models",
        fetched_at=now,
    )
