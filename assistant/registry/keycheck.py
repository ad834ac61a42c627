"""Does a provider accept its key? One 1-token chat call, its outcome recorded in the key store.

    test = await check_key(registry, "groq", "llama-3.1-8b-instant")
    test.result     # "ok", "rejected" (401/403), "billing", "rate_limit", "timeout", ...

``assistant keys test`` and ``assistant doctor`` use it; a key answered with 401 is never "ok".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ..errors import LLMError
from ..errors.redact import redact_secrets
from ..messages import ChatRequest, ChatResponse, Message, StreamEvent
from .keystore import KeyStore, KeyTest

__all__ = ["check_key", "REJECTED"]

REJECTED = "rejected"


async def check_key(registry: Any, provider: str, model: str, *, timeout: float = 20.0,
                    store: KeyStore | None = None) -> KeyTest:
    """Send "ping" with ``max_tokens=1`` to ``provider/model`` with the provider's first key; record the result."""
    name = registry.canonical(provider)
    keys = registry.keys(name)
    key = keys[0] if keys else ""
    client = registry.client(name)  # raises UsageError naming the env var when there is no key
    # Streamed, like every call the router makes: the same path the key will be used on.
    request = ChatRequest(model=model, messages=[Message.user("ping")], max_tokens=1, stream=True)
    try:
        response = await asyncio.wait_for(_final(client.stream(request)), timeout)
    except asyncio.TimeoutError:
        result, detail = "timeout", f"no answer within {timeout:g}s"
    except LLMError as exc:
        # auth covers 401 and 403; billing means the key is valid but the account cannot pay.
        result = REJECTED if exc.kind == "auth" else exc.kind
        detail = f"{exc.status or ''} {exc.message[:160]}".strip()
    else:
        result, detail = "ok", f"answered ({response.usage.input_tokens} input tokens)"
    detail = redact_secrets(detail)
    if not key:  # a keyless local server: nothing to remember
        return KeyTest(at=0.0, ok=result == "ok", result=result, detail=detail, model=model)
    return await asyncio.to_thread((store or KeyStore()).record_test, name, key,
                                   result=result, detail=detail, model=model)


async def _final(events: AsyncIterator[StreamEvent]) -> ChatResponse:
    response = None
    async for event in events:
        if event.type == "done":
            response = event.response
    if response is None:
        raise LLMError("the stream ended without a final response", kind="transient")
    return response
