"""The ``llama`` provider when no base URL is configured: the embedded server, found or started.

The CLI and the library reach the same server: the URL comes from the record ``local.start`` wrote
(whatever port it got), and when nothing runs the first request starts it (in a thread, so the event
loop keeps running; ``local.start`` is locked, so concurrent first requests start one server). A
request that cannot connect forgets the URL, so a restarted server is found again.

    client = EmbeddedClient(spec)          # registry.client("llama") without LLAMA_BASE_URL
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ..errors import LLMError, TransientError
from ..messages import ChatRequest, ChatResponse, ModelInfo, StreamEvent
from ..providers import LLMClient, ProviderSpec, create_client

__all__ = ["EmbeddedClient", "embedded_url"]


def embedded_url(*, start: bool) -> str | None:
    """The running embedded server's URL; with ``start``, start it when it is installed and not running."""
    from .. import local

    info = local.status()
    if info is None and start and local.available():
        info = local.ensure_running()
    return info.url if info is not None else None


class EmbeddedClient:
    """An ``LLMClient`` over the embedded llama.cpp server, resolved on first use."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.provider = spec.name
        self._spec = spec
        self._inner: LLMClient | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"EmbeddedClient(url={getattr(self._inner, 'base_url', None)!r})"

    async def _client(self) -> LLMClient:
        async with self._lock:
            if self._inner is None:
                try:
                    url = await asyncio.to_thread(embedded_url, start=True)
                except Exception as exc:  # LocalModelError, UsageError: the server could not start
                    raise TransientError(f"the embedded local model did not start: {exc}", provider=self.provider,
                                   code="connect_failed") from None
                # Nothing installed: the spec's default URL, which fails as "not running" like before.
                self._inner = create_client(self._spec, base_url=url or self._spec.base_url)
            return self._inner

    async def _forget(self, exc: LLMError) -> None:
        if getattr(exc, "code", None) == "connect_failed" and self._inner is not None:
            inner, self._inner = self._inner, None
            await inner.aclose()

    async def chat(self, request: ChatRequest) -> ChatResponse:
        client = await self._client()
        try:
            return await client.chat(request)
        except LLMError as exc:
            await self._forget(exc)
            raise

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        client = await self._client()
        try:
            async for event in client.stream(request):
                yield event
        except LLMError as exc:
            await self._forget(exc)
            raise

    async def list_models(self) -> list[ModelInfo]:
        # Asking what is there (doctor, catalog) never starts a server.
        if self._inner is None:
            url = await asyncio.to_thread(embedded_url, start=False)
            if url is None:
                raise TransientError("the embedded local model is not running", provider=self.provider,
                                     code="connect_failed")
        return await (await self._client()).list_models()

    async def aclose(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            await inner.aclose()

    def __getattr__(self, name: str) -> Any:
        # Optional client extras the router probes for (e.g. a server's n_ctx) come from the inner client.
        inner = self.__dict__.get("_inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)
