"""Prompt-cache breakpoints on the wire (Anthropic natively, OpenRouter for Anthropic and Gemini
models), and cost per attempt: the provider's own figure or catalog prices, cache reads and writes
counted, summed on the run result and shown in the CLI summary line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from assistant.agent import Agent
from assistant.catalog.pricing import call_cost
from assistant.messages import ChatRequest, Message, ModelInfo, ToolCall, ToolSpec, Usage
from assistant.providers import create_client
from assistant.registry import LLMRegistry
from assistant.router import Router

KEY = "sk-ant-test-0123456789abcdef"
TOOLS = [ToolSpec(name="lookup", description="Look up.", parameters={"type": "object", "properties": {}}),
         ToolSpec(name="search", description="Search.", parameters={"type": "object", "properties": {}})]
LOOP = [
    Message.system("You are careful."),
    Message.user("Find the capital of France."),
    Message.assistant("", tool_calls=[ToolCall(id="c1", name="lookup", arguments={"q": "France"})]),
    Message.tool("Paris", tool_call_id="c1", name="lookup"),
]


def _anthropic_server(fake_server: Any, usage: dict[str, int] | None = None) -> Any:
    async def handle(request: web.Request) -> web.Response:
        server.bodies.append(await request.json())
        return web.json_response({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": "Paris."}], "stop_reason": "end_turn",
            "usage": usage or {"input_tokens": 10, "output_tokens": 2}})

    server = fake_server(handle)
    server.bodies = []
    return server


def _openai_server(fake_server: Any, usage: dict[str, Any]) -> Any:
    async def handle(request: web.Request) -> web.Response:
        server.bodies.append(await request.json())
        return web.json_response({
            "id": "c", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
            "usage": usage})

    server = fake_server(handle)
    server.bodies = []
    return server


def _marks(body: Any) -> list[str]:
    """Where the cache_control breakpoints sit, as readable paths."""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if "cache_control" in node:
                found.append(path)
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(body, "")
    return found


async def _send(client: Any, request: ChatRequest) -> Any:
    try:
        return await client.chat(request)
    finally:
        await client.aclose()


async def test_anthropic_requests_mark_tools_system_and_the_conversation(fake_server) -> None:
    server = _anthropic_server(fake_server)
    client = create_client("anthropic", api_key=KEY, base_url=server.url)
    await _send(client, ChatRequest(model="claude-haiku-4-5", messages=LOOP, tools=TOOLS))
    body = server.bodies[0]
    assert sorted(_marks(body)) == ["messages[0].content[0]", "messages[2].content[0]", "system[0]", "tools[1]"]
    assert body["system"][0]["text"] == "You are careful."
    assert body["messages"][2]["content"][0]["type"] == "tool_result"


async def test_a_caller_placed_breakpoint_is_left_alone(fake_server) -> None:
    server = _anthropic_server(fake_server)
    client = create_client("anthropic", api_key=KEY, base_url=server.url)
    own = [{"type": "text", "text": "Mine.", "cache_control": {"type": "ephemeral"}}]
    await _send(client, ChatRequest(model="claude-haiku-4-5", messages=[Message.user("hi")], extra={"system": own}))
    assert _marks(server.bodies[0]) == ["system[0]"]


async def test_breakpoints_can_be_switched_off_in_the_config(fake_server, monkeypatch: pytest.MonkeyPatch) -> None:
    server = _anthropic_server(fake_server)
    config = Path(os.environ["ASSISTANT_HOME"]) / "config.toml"
    config.write_text(f'[providers.anthropic]\nbase_url = "{server.url}"\napi_key = "{KEY}"\ncache_breakpoints = []\n')
    registry = LLMRegistry.from_env()
    await registry.chat("anthropic/claude-haiku-4-5", LOOP)
    await registry.aclose()
    assert _marks(server.bodies[0]) == []


async def test_openrouter_marks_system_and_last_turn_for_anthropic_models(fake_server) -> None:
    server = _openai_server(fake_server, {"prompt_tokens": 10, "completion_tokens": 2})
    client = create_client("openrouter", api_key="sk-or-test-0000000000000000", base_url=server.url + "/v1")
    await _send(client, ChatRequest(model="anthropic/claude-haiku-4.5", messages=LOOP))
    body = server.bodies[0]
    assert _marks(body) == ["messages[0].content[0]", "messages[3].content[0]"]
    assert body["messages"][3]["content"][0]["text"] == "Paris"
    assert body["usage"] == {"include": True}


async def test_openrouter_marks_gemini_models_too(fake_server) -> None:
    server = _openai_server(fake_server, {"prompt_tokens": 10, "completion_tokens": 2})
    client = create_client("openrouter", api_key="sk-or-test-0000000000000000", base_url=server.url + "/v1")
    await _send(client, ChatRequest(model="google/gemini-2.5-flash", messages=LOOP[:2]))
    assert _marks(server.bodies[0]) == ["messages[0].content[0]", "messages[1].content[0]"]


async def test_models_that_cache_on_their_own_get_no_breakpoints(fake_server) -> None:
    server = _openai_server(fake_server, {"prompt_tokens": 10, "completion_tokens": 2})
    client = create_client("openrouter", api_key="sk-or-test-0000000000000000", base_url=server.url + "/v1")
    await _send(client, ChatRequest(model="openai/gpt-4o-mini", messages=LOOP))
    assert _marks(server.bodies[0]) == [] and server.bodies[0]["messages"][0]["content"] == "You are careful."


# --- cost ----------------------------------------------------------------------------------------

def _router(name: str, kind: str, url: str, key: str) -> Router:
    registry = LLMRegistry()
    registry.add_provider(name, kind=None if kind == name else kind, base_url=url, api_key=key)
    return Router(registry)


async def test_openrouter_usage_cost_is_the_attempts_cost(fake_server) -> None:
    usage = {"prompt_tokens": 1200, "completion_tokens": 30, "cost": 0.00042,
             "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 0}}
    server = _openai_server(fake_server, usage)
    router = _router("openrouter", "openrouter", server.url + "/v1", "sk-or-test-0000000000000000")
    response = await router.chat("openrouter/anthropic/claude-haiku-4.5", [Message.user("hi")])
    await router.aclose()
    [attempt] = response.attempts
    assert attempt.cost == 0.00042 and response.usage.cost == 0.00042
    assert attempt.cached_tokens == 1000


async def test_without_a_stated_cost_the_catalog_price_is_used(fake_server) -> None:
    server = _openai_server(fake_server, {"prompt_tokens": 1_000_000, "completion_tokens": 100_000})
    router = _router("openai", "openai", server.url + "/v1", "sk-test-0000000000000000000")
    response = await router.chat("openai/gpt-4o-mini", [Message.user("hi")])
    await router.aclose()
    # The seed's gpt-4o-mini: $0.15 per 1M input, $0.60 per 1M output.
    assert response.attempts[0].cost == pytest.approx(0.15 + 0.06)
    assert response.usage.cost == pytest.approx(0.21)


async def test_anthropic_cache_reads_and_writes_are_counted_and_priced(fake_server) -> None:
    usage = {"input_tokens": 100_000, "output_tokens": 0, "cache_read_input_tokens": 1_000_000,
             "cache_creation_input_tokens": 200_000}
    server = _anthropic_server(fake_server, usage)
    router = _router("anthropic", "anthropic", server.url, KEY)
    response = await router.chat("anthropic/claude-haiku-4-5", [Message.user("hi")])
    await router.aclose()
    [attempt] = response.attempts
    assert (attempt.cached_tokens, attempt.cache_write_tokens) == (1_000_000, 200_000)
    # Haiku 4.5 at $1/1M input: 0.1M plain + 1M read at 0.1x + 0.2M written at 1.25x.
    assert attempt.cost == pytest.approx(0.1 + 0.1 + 0.25)


async def test_a_local_model_costs_nothing(llama_url: str) -> None:
    router = _router("lab", "llama", llama_url, "unused-key-000000")
    response = await router.chat("lab/smollm2", [Message.user("Say hi.")], max_tokens=4)
    await router.aclose()
    assert response.attempts[-1].cost == 0.0


def test_an_unknown_price_is_none_not_zero() -> None:
    assert call_cost(None, Usage(input_tokens=10)) is None
    assert call_cost(ModelInfo(id="x", provider="p"), Usage(input_tokens=10)) is None


def test_a_free_variant_costs_nothing() -> None:
    info = ModelInfo(id="z-ai/glm-4.5-air:free", provider="openrouter", pricing={"prompt": 1e-6, "completion": 1e-6})
    assert call_cost(info, Usage(input_tokens=10, output_tokens=10)) == 0.0


async def test_the_run_result_and_the_cli_summary_show_the_cost(fake_server, monkeypatch, capsys) -> None:
    server = _openai_server(fake_server, {"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.0123})
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test-0000000000000000")
    monkeypatch.setenv("OPENROUTER_BASE_URL", server.url + "/v1")
    async with Agent("openrouter/anthropic/claude-haiku-4.5") as agent:
        result = await agent.run("Capital of France?")
    assert result.cost == pytest.approx(0.0123)
    from assistant.cli import main

    capsys.readouterr()
    await _in_thread(main, ["run", "Capital of France?", "--model", "openrouter/anthropic/claude-haiku-4.5",
                            "--no-tools", "--no-mcp", "-v"])
    assert "$0.0123" in capsys.readouterr().err


async def _in_thread(fn: Any, *args: Any) -> Any:
    import asyncio

    return await asyncio.to_thread(fn, *args)
