"""AWS Bedrock through the Converse API: ``POST /model/{id}/converse`` and ``/converse-stream``.

Auth is SigV4 (service ``bedrock``) from the AWS credential chain, or a Bedrock API key as a bearer
token (``AWS_BEARER_TOKEN_BEDROCK``). Streams are AWS event-stream frames whose ``:event-type`` names
the event; errors come as ``x-amzn-errortype`` + ``{"message": ...}`` (classified by the shared rules)
or, mid-stream, as ``:message-type: exception`` frames.

    client = create_client("bedrock")      # region from AWS_REGION, keys from the AWS chain
    resp = await client.chat(ChatRequest(model="amazon.nova-lite-v1:0", messages=[Message.user("hi")]))
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson
import yarl

from ..errors import LLMError, TransientError, classify_error
from ..messages import ChatRequest, ChatResponse, ModelInfo, StreamEvent, ToolCall, new_call_id
from ._bedrock_map import FINISH_REASONS, SCHEMA_TOOL, map_request, process_response, usage_of
from ._eventstream import EventStreamDecoder
from ._http import SpecClient, loads, translate_errors
from .base import ResponseBuilder, collect, parse_arguments
from .bedrock_auth import check_credentials, region, sign_v4

__all__ = ["BedrockClient", "FINISH_REASONS"]

# Status a mid-stream exception would have had as an HTTP answer (API reference, "Errors").
_EXCEPTION_STATUS = {
    "validationexception": 400, "throttlingexception": 429, "serviceunavailableexception": 503,
    "internalserverexception": 500, "modelstreamerrorexception": 424, "modeltimeoutexception": 408,
    "accessdeniedexception": 403, "resourcenotfoundexception": 404,
}


class BedrockClient(SpecClient):
    """``LLMClient`` for Bedrock's Converse API."""

    def _auth_headers(self) -> dict[str, str]:
        # A Bedrock API key is a bearer token; without one every request is signed (see _signed).
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _region(self) -> str:
        host = yarl.URL(self.base_url).host or ""
        parts = host.split(".")
        # A VPC endpoint or proxy has its own host name: the region then comes from the AWS chain.
        return parts[1] if len(parts) > 3 and parts[0] == "bedrock-runtime" else region()

    def _signed(self, method: str, url: str, body: bytes) -> dict[str, str]:
        if self._api_key:
            return {}
        parsed = yarl.URL(url)
        host = parsed.host or ""
        if parsed.explicit_port and not parsed.is_default_port():
            host = f"{host}:{parsed.port}"
        return sign_v4(method, host, parsed.raw_path, body, check_credentials(), region=self._region(),
                       query=parsed.raw_query_string)

    def _path(self, model: str, op: str) -> str:
        # The model id (may hold ":" or be an ARN with "/") is one path segment.
        return f"{self.base_url}/model/{quote(model, safe='')}/{op}"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One whole answer.

            resp = await client.chat(ChatRequest(model="amazon.nova-lite-v1:0", messages=[Message.user("hi")]))
        """
        if request.stream:
            return await collect(self.stream(request))
        body = map_request(request, self.provider)
        url = self._path(request.model, "converse")
        raw = orjson.dumps(body)
        async with self.request("POST", url, json=body, model=request.model, headers=self._signed("POST", url, raw)) as resp:
            data = await resp.read()
        with translate_errors(self.provider, request.model):
            return process_response(loads(data), self.provider, request.model,
                                    schema_answer=request.response_schema is not None)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Text, reasoning, tool-call and usage events as they arrive; the last one is ``done``."""
        body = map_request(request, self.provider)
        url = self._path(request.model, "converse-stream")
        raw = orjson.dumps(body)
        state = _StreamState(self.provider, request.model, request.response_schema is not None)
        decoder = EventStreamDecoder()
        async with self.request("POST", url, json=body, model=request.model, headers=self._signed("POST", url, raw),
                                stream=True) as resp:
            try:
                with translate_errors(self.provider, request.model):
                    async for chunk in resp.content.iter_any():
                        for headers, payload in decoder.feed(chunk):
                            for event in state.handle(headers, payload):
                                yield event
            except LLMError as err:
                raise state.builder.fail(err, FINISH_REASONS) from None
        if decoder.pending or not state.stopped:
            # No messageStop: the answer was cut; what arrived rides on the error.
            raise state.builder.fail(
                TransientError("stream ended before messageStop", provider=self.provider, model=request.model),
                FINISH_REASONS,
            )
        yield state.builder.done(FINISH_REASONS)

    async def list_models(self) -> list[ModelInfo]:
        """Text models of the region (``GET bedrock.{region}/foundation-models``, the control plane)."""
        host = yarl.URL(self.base_url).host or ""
        base = self.base_url.replace("bedrock-runtime", "bedrock", 1) if host.startswith("bedrock-runtime") else self.base_url
        url = f"{base}/foundation-models?byOutputModality=TEXT"
        async with self.request("GET", url, headers=self._signed("GET", url, b""), limit=False,
                                timeout=min(30.0, self.timeouts.total or 30.0)) as resp:
            data = loads(await resp.read())
        now = time.time()
        return [
            ModelInfo(id=m["modelId"], provider=self.provider, source="bedrock:foundation-models", fetched_at=now,
                      supports_vision="IMAGE" in (m.get("inputModalities") or []))
            for m in data.get("modelSummaries") or []
            if m.get("modelId") and "ON_DEMAND" in (m.get("inferenceTypesSupported") or ["ON_DEMAND"])
        ]


class _StreamState:
    """Reads ConverseStream events (payloads carry no wrapper key; ``:event-type`` names them)."""

    def __init__(self, provider: str, model: str, schema_answer: bool) -> None:
        self.builder = ResponseBuilder(provider, model, split_think=False)
        self.provider = provider
        self.schema_answer = schema_answer
        self.tools: dict[int, dict[str, Any]] = {}
        self.signature = ""
        self.stopped = False

    def handle(self, headers: dict[str, object], payload: bytes) -> list[StreamEvent]:
        kind = headers.get(":message-type", "event")
        if kind != "event":
            raise self._exception(headers, payload)
        event = headers.get(":event-type")
        data = loads(payload) if payload else {}
        if event == "contentBlockStart":
            use = (data.get("start") or {}).get("toolUse")
            if use:
                self.tools[int(data.get("contentBlockIndex") or 0)] = {"id": use.get("toolUseId"), "name": use.get("name"), "input": []}
        elif event == "contentBlockDelta":
            return self._delta(int(data.get("contentBlockIndex") or 0), data.get("delta") or {})
        elif event == "contentBlockStop":
            return self._finish_tool(int(data.get("contentBlockIndex") or 0))
        elif event == "messageStop":
            self.builder.raw_finish = data.get("stopReason")
            if self.schema_answer and self.builder.raw_finish == "tool_use" and not self.builder.tool_calls:
                self.builder.raw_finish = "end_turn"
            self.stopped = True
        elif event == "metadata" and isinstance(data.get("usage"), dict):
            return [self.builder.set_usage(usage_of(data["usage"]))]
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        if "text" in delta:
            return self.builder.add_text(delta["text"])
        if "toolUse" in delta:
            tool = self.tools.setdefault(index, {"id": None, "name": "", "input": []})
            tool["input"].append((delta["toolUse"] or {}).get("input") or "")
            return []
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            if reasoning.get("signature"):
                self.signature = reasoning["signature"]
                self.builder.opaque[self.provider] = {"reasoning": {"reasoningText": {
                    "text": "".join(self.builder.reasoning_parts), "signature": self.signature}}}
            return self.builder.add_reasoning(reasoning.get("text") or "")
        return []

    def _finish_tool(self, index: int) -> list[StreamEvent]:
        tool = self.tools.pop(index, None)
        if tool is None:
            return []
        # Input arrives as string fragments; only a finished block becomes a call.
        arguments = parse_arguments("".join(tool["input"]))
        if self.schema_answer and tool["name"] == SCHEMA_TOOL:
            return self.builder.add_text(orjson.dumps(arguments).decode())
        call = ToolCall.model_construct(id=tool["id"] or new_call_id(), name=tool["name"] or "", arguments=arguments,
                                        signature=None)
        return [self.builder.add_tool_call(call)]

    def _exception(self, headers: dict[str, object], payload: bytes) -> LLMError:
        name = str(headers.get(":exception-type") or headers.get(":error-code") or "InternalServerException")
        body = payload or orjson.dumps({"message": str(headers.get(":error-message") or name)})
        status = _EXCEPTION_STATUS.get(name.lower(), 500)
        return classify_error(self.provider, status, body, {"x-amzn-errortype": name})
