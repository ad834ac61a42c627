"""The catalog refreshed through real provider clients: OpenRouter and Ollama answers served by a
local fake server, the real LLMRegistry, and the real llama.cpp server."""

from __future__ import annotations

import pytest
from aiohttp import web

from assistant.catalog import ModelCatalog
from assistant.providers import create_client
from assistant.registry import LLMRegistry

# The shape of OpenRouter's GET /api/v1/models (openrouter.ai/docs/api-reference/list-available-models).
OPENROUTER_MODELS = {"data": [
    {"id": "z-ai/glm-4.5-air:free", "canonical_slug": "z-ai/glm-4.5-air", "name": "Z.AI: GLM 4.5 Air (free)",
     "context_length": 131072,
     "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"]},
     "pricing": {"prompt": "0", "completion": "0", "request": "0", "image": "0"},
     "top_provider": {"context_length": 131072, "max_completion_tokens": 96000, "is_moderated": False},
     "supported_parameters": ["max_tokens", "temperature", "tools", "tool_choice", "reasoning"]},
    {"id": "openai/gpt-4o", "name": "OpenAI: GPT-4o", "context_length": 128000,
     "architecture": {"modality": "text+image->text", "input_modalities": ["text", "image", "file"]},
     "pricing": {"prompt": "0.0000025", "completion": "0.00001"},
     "top_provider": {"context_length": 128000, "max_completion_tokens": 16384, "is_moderated": True},
     "supported_parameters": ["max_tokens", "tools", "tool_choice", "response_format"]},
    {"id": "sao10k/l3-euryale-70b", "name": "Sao10k: Llama 3 Euryale 70B", "context_length": 8192,
     "architecture": {"input_modalities": ["text"]}, "pricing": {"prompt": "0.00000148", "completion": "0.00000148"},
     "top_provider": {"context_length": 8192, "max_completion_tokens": 8192},
     "supported_parameters": ["max_tokens", "temperature", "stop"]},
]}

OLLAMA_SHOW = {
    "qwen3:8b": {"model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
                 "capabilities": ["completion", "tools", "thinking"]},
    "gemma3:4b": {"model_info": {"general.architecture": "gemma3", "gemma3.context_length": 131072},
                  "capabilities": ["completion", "vision"]},
}


class OneClientRegistry:
    def __init__(self, client) -> None:
        self._client = client

    def providers(self) -> list[str]:
        return [self._client.provider]

    def client(self, provider: str):
        return self._client


def openrouter_app() -> web.Application:
    async def models(request: web.Request) -> web.Response:
        return web.json_response(OPENROUTER_MODELS)

    app = web.Application()
    app.router.add_get("/api/v1/models", models)
    return app


def ollama_app() -> web.Application:
    async def describe(request: web.Request) -> web.Response:
        return web.json_response(OLLAMA_SHOW[(await request.json())["model"]])

    async def tags(request: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": name, "model": name, "size": 1} for name in OLLAMA_SHOW]})

    app = web.Application()
    app.router.add_get("/api/tags", tags)
    app.router.add_post("/api/show", describe)
    return app


async def test_openrouter_listing_sets_window_tools_vision_and_free(fake_server, tmp_path) -> None:
    server = fake_server(openrouter_app())
    client = create_client("openrouter", api_key="sk-or-v1-test", base_url=server.url + "/api/v1")
    catalog = ModelCatalog(registry=OneClientRegistry(client), snapshot_path=tmp_path / "catalog.json")
    try:
        await catalog.refresh()
    finally:
        await client.aclose()
    glm = catalog.get("openrouter/z-ai/glm-4.5-air:free")
    assert (glm.context_window, glm.max_output_tokens, glm.supports_tools, glm.free) == (131072, 96000, True, True)
    gpt = catalog.get("openrouter/openai/gpt-4o")
    assert (gpt.supports_vision, gpt.free) == (True, False)
    assert catalog.get("openrouter/sao10k/l3-euryale-70b").supports_tools is False
    assert {m.model_id for m in catalog.models(provider="openrouter", free=True, tools=True)} >= {glm.model_id}


async def test_ollama_listing_reads_context_and_capabilities(fake_server, tmp_path) -> None:
    server = fake_server(ollama_app())
    client = create_client("ollama", base_url=server.url)
    catalog = ModelCatalog(registry=OneClientRegistry(client), snapshot_path=tmp_path / "catalog.json")
    try:
        await catalog.refresh()
    finally:
        await client.aclose()
    qwen, gemma = catalog.get("ollama/qwen3:8b"), catalog.get("ollama/gemma3:4b")
    assert (qwen.context_window, qwen.supports_tools) == (40960, True)
    assert (gemma.supports_tools, gemma.supports_vision) == (False, True)
    assert catalog.sources("ollama/qwen3:8b")["supports_tools"] != catalog.sources("ollama/qwen2.5:7b")["supports_tools"]


async def test_refresh_through_the_real_registry(fake_server, tmp_path, monkeypatch) -> None:
    server = fake_server(openrouter_app())
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-test")
    monkeypatch.setenv("OPENROUTER_BASE_URL", server.url + "/api/v1")
    registry = LLMRegistry.from_env()
    # Local providers need no key, so they are asked too; nothing listens there in tests.
    catalog = ModelCatalog(registry=registry, snapshot_path=tmp_path / "catalog.json", list_timeout=5)
    try:
        await catalog.refresh()
    finally:
        await registry.aclose()
    assert "openrouter" not in catalog.errors
    assert catalog.get("openrouter/z-ai/glm-4.5-air:free").free is True


@pytest.mark.llama
async def test_refresh_from_the_real_llama_cpp_server(request, tmp_path) -> None:
    llama_url = request.getfixturevalue("llama_url")
    client = create_client("llama", base_url=llama_url)
    catalog = ModelCatalog(registry=OneClientRegistry(client), snapshot_path=tmp_path / "catalog.json")
    try:
        await catalog.refresh()
    finally:
        await client.aclose()
    assert catalog.errors == {}
    info = catalog.get("llama/smollm2")
    assert info is not None and info.fetched_at > 0
    assert info.context_window == 2048  # what the server runs at, not the model's n_ctx_train
    assert not catalog.sources("llama/smollm2")["context_window"].startswith("seed")
