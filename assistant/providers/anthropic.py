"""The native Anthropic Messages client (``POST /v1/messages``, ``GET /v1/models``).

Only maps: the wire body is built in ``_anthropic_request``, answers are read in ``_anthropic_response``.
No retry, fallback or sleep here.

    client = create_client("anthropic")            # key from ANTHROPIC_API_KEY
    resp = await client.chat(ChatRequest(model="claude-haiku-4-5", messages=[Message.user("hi")]))
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from ..errors import LLMError
from ..messages import ChatRequest, ChatResponse, ModelInfo, StreamEvent
from ._anthropic_request import map_request
from ._cache_control import add_anthropic_breakpoints, wants_breakpoints
from ._anthropic_response import FINISH_REASONS, AnthropicAssembler, as_message, process_message
from ._framing import SSEDecoder
from ._http import SpecClient, loads
from .base import collect

__all__ = ["AnthropicClient", "API_VERSION", "FINISH_REASONS"]

API_VERSION = "2023-06-01"
_MESSAGES = "/v1/messages"
_MODELS = "/v1/models"
# Pages of /v1/models (1000 models each) before giving up on a server that never says has_more=false.
_MAX_MODEL_PAGES = 20


class AnthropicClient(SpecClient):
    """``LLMClient`` for any provider whose ``spec.family`` is "anthropic"."""

    # The version header is a default a caller may override (e.g. to pin another API version).
    default_headers = {"anthropic-version": API_VERSION}

    def _auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self._api_key} if self._api_key else {}

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One whole answer (streamed underneath when ``request.stream`` is set).

            resp = await client.chat(ChatRequest(model="claude-haiku-4-5", messages=[Message.user("hi")]))
        """
        if request.stream:
            return await collect(self.stream(request))
        body = self._body(request, stream=False)
        data = await self.post_json(_MESSAGES, body, model=request.model)
        return process_message(data, self.provider, request.model, schema_answer=request.response_schema is not None)

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = map_request(request, self.provider, stream=stream)
        if wants_breakpoints(self.spec.cache_breakpoints, request.model):
            add_anthropic_breakpoints(body)
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Text, reasoning, tool-call and usage events as they arrive; the last one is ``done``.

            async for event in client.stream(request): ...
        """
        body = self._body(request, stream=True)
        schema_answer = request.response_schema is not None
        assembler = AnthropicAssembler(self.provider, request.model, schema_answer=schema_answer)
        try:
            async with self.request("POST", _MESSAGES, json=body, model=request.model, stream=True) as response:
                if "json" in response.headers.get("Content-Type", ""):
                    # A gateway that ignores "stream": true answers with one whole message.
                    whole = as_message(loads(await response.read()), self.provider, request.model)
                    for event in assembler.absorb_message(whole):
                        yield event
                else:
                    # One loop from socket to caller: it runs once per network read.
                    decoder = SSEDecoder()
                    content = response.content
                    while True:
                        read = await content.readany()
                        for event in assembler.read(decoder.feed(read) if read else decoder.close()):
                            yield event
                        if assembler.failure is not None:
                            raise assembler.failure
                        if not read:
                            break
        except LLMError as err:
            # A connection that breaks mid-answer still hands over what arrived.
            if assembler.started:
                raise assembler.fail(err) from None
            raise
        if not assembler.finished and assembler.builder.raw_finish is None:
            raise assembler.broken_off()
        yield assembler.done()

    async def list_models(self) -> list[ModelInfo]:
        """Every model the key can use (``GET /v1/models``, all pages).

            ids = [m.id for m in await client.list_models()]
        """
        models: list[ModelInfo] = []
        params = {"limit": "1000"}
        fetched_at = time.time()
        for _ in range(_MAX_MODEL_PAGES):
            data = await self.get_json(_MODELS, params=params, timeout=min(30.0, self.timeouts.total or 30.0))
            if not isinstance(data, dict):
                break
            models.extend(
                _model_info(self.provider, item, fetched_at)
                for item in data.get("data") or ()
                if isinstance(item, dict) and item.get("id")
            )
            last = data.get("last_id")
            if not data.get("has_more") or not last or last == params.get("after_id"):
                break
            params = {"limit": "1000", "after_id": str(last)}
        return models


def _model_info(provider: str, item: dict[str, Any], fetched_at: float) -> ModelInfo:
    """One ``/v1/models`` entry: {id, display_name, created_at, type} plus, on newer API versions,
    max_input_tokens, max_tokens and a capabilities map."""
    capabilities = item.get("capabilities") if isinstance(item.get("capabilities"), dict) else {}
    image = capabilities.get("image_input")
    window = item.get("max_input_tokens")
    max_out = item.get("max_tokens")
    return ModelInfo.model_construct(
        id=str(item["id"]),
        provider=provider,
        context_window=int(window) if isinstance(window, int) and window > 0 else None,
        max_output_tokens=int(max_out) if isinstance(max_out, int) and max_out > 0 else None,
        # Every model the Messages API serves takes tools.
        supports_tools=True,
        supports_vision=bool(image.get("supported")) if isinstance(image, dict) else None,
        free=None,
        pricing=None,
        source=f"{provider}:{_MODELS}",
        fetched_at=fetched_at,
    )
