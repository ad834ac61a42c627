"""Every OpenAI-shape row added for the seeds, on documented bodies: the request reaches the vendor's
path, a chat, a tool call and a stream come back whole, each vendor's documented error is classified,
and its declared quirks (tool_choice, reasoning knob, key variables) shape the request."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from assistant.errors import LLMError, UsageError
from assistant.messages import ChatRequest, Message, ToolSpec
from assistant.providers import PROVIDERS, ProviderSpec, create_client, get_spec

WEATHER = ToolSpec(name="get_weather", description="weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})

# row -> the path its chat completions live at when a user gives only the vendor's host.
ROWS = {
    "perplexity": "/chat/completions",
    "qwen": "/compatible-mode/v1/chat/completions",
    "qwen-cn": "/compatible-mode/v1/chat/completions",
    "qwen-us": "/compatible-mode/v1/chat/completions",
    "qwen-coding-plan": "/v1/chat/completions",
    "minimax": "/v1/chat/completions",
    "minimax-cn": "/v1/chat/completions",
    "bigmodel": "/api/paas/v4/chat/completions",
    "zai-coding": "/api/coding/paas/v4/chat/completions",
    "qianfan": "/v2/chat/completions",
    "ark": "/api/v3/chat/completions",
    "venice": "/api/v1/chat/completions",
    "vercel": "/v1/chat/completions",
    "cloudflare": "/client/v4/accounts/acc-123/ai/v1/chat/completions",
    "ovhcloud": "/v1/chat/completions",
    "sambanova": "/v1/chat/completions",
    "huggingface": "/v1/chat/completions",
    "astrai": "/v1/chat/completions",
    "synthetic": "/openai/v1/chat/completions",
    "opencode": "/zen/v1/chat/completions",
    "kimi-code": "/coding/v1/chat/completions",
    "kimi-cn": "/v1/chat/completions",
    "siliconflow": "/v1/chat/completions",
    "hunyuan": "/v1/chat/completions",
    "sglang": "/v1/chat/completions",
}

CHAT = {"id": "c1", "object": "chat.completion", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "<think>plan</think>Paris is sunny."}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}}
TOOL = {"id": "c2", "object": "chat.completion", "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": None, "reasoning_content": "need weather", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}}]}
STREAM = "".join(f"data: {json.dumps(c)}\n\n" for c in [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Par"}}]},
    {"choices": [{"index": 0, "delta": {"content": "is"}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
]) + "data: [DONE]\n\n"


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acc-123")


def _client(row: str, url: str):
    return create_client(row, api_key="test-key-0000000000", base_url=url)


@pytest.mark.parametrize("row", sorted(ROWS))
async def test_row_chat_reaches_the_vendor_path_and_reads_the_answer(row: str, fake_server) -> None:
    server = fake_server(lambda r: web.json_response(CHAT))
    client = _client(row, server.url)
    response = await client.chat(ChatRequest(model="m", messages=[Message.user("weather?")]))
    await client.aclose()
    assert server.requests[0]["path"] == ROWS[row]
    assert (response.text, response.reasoning, response.usage.input_tokens) == ("Paris is sunny.", "plan", 11)


@pytest.mark.parametrize("row", sorted(r for r in ROWS if get_spec(r).supports_tools))
async def test_row_tool_call_comes_back_parsed(row: str, fake_server) -> None:
    client = _client(row, fake_server(lambda r: web.json_response(TOOL)).url)
    response = await client.chat(ChatRequest(model="m", tools=[WEATHER], messages=[Message.user("weather?")]))
    await client.aclose()
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert (response.finish_reason, response.reasoning) == ("tool_calls", "need weather")


@pytest.mark.parametrize("row", sorted(ROWS))
async def test_row_stream_comes_back_whole(row: str, fake_server) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=STREAM.encode(), headers={"Content-Type": "text/event-stream"})

    client = _client(row, fake_server(handler).url)
    events = [e async for e in client.stream(ChatRequest(model="m", messages=[Message.user("hi")], stream=True))]
    await client.aclose()
    assert (events[-1].response.text, events[-1].response.usage.output_tokens) == ("Paris", 2)


# Each vendor's documented error body (sources in assistant/providers/_rows.py and the research notes).
ERRORS = [
    ("perplexity", 400, {"error": {"message": "Invalid model 'sonar-pro '. Permitted models can be found in the documentation "
                                              "at https://docs.perplexity.ai/guides/model-cards.", "type": "invalid_model", "code": 400}},
     "not_found"),
    ("qwen", 400, {"error": {"message": "<400> InternalError.Algo.InvalidParameter: The tool_choice parameter does not support "
                                        "being set to required or object in thinking mode", "type": "invalid_request_error",
                             "param": None, "code": "invalid_parameter_error"}}, "bad_request"),
    ("bigmodel", 400, {"error": {"message": "Tool choice must be auto", "code": 400}}, "bad_request"),
    ("kimi-code", 403, {"error": {"message": "Kimi For Coding is currently only available for Coding Agents such as Kimi CLI, "
                                             "Claude Code, Roo Code, Kilo Code, etc.", "type": "access_terminated_error"}}, "auth"),
    ("minimax", 429, {"error": {"message": "rate limit exceeded", "type": "rate_limit_error"}}, "rate_limit"),
]


@pytest.mark.parametrize(("row", "status", "body", "kind"), ERRORS, ids=[e[0] for e in ERRORS])
async def test_row_documented_error_is_classified(row: str, status: int, body: dict, kind: str, fake_server) -> None:
    client = _client(row, fake_server(lambda r: web.json_response(body, status=status)).url)
    with pytest.raises(LLMError) as caught:
        await client.chat(ChatRequest(model="m", messages=[Message.user("hi")]))
    await client.aclose()
    assert (caught.value.kind, caught.value.provider) == (kind, row)


async def _sent(row: str, fake_server, **request) -> dict:
    server = fake_server(lambda r: web.json_response(CHAT))
    client = _client(row, server.url)
    await client.chat(ChatRequest(model="m", messages=[Message.user("hi")], **request))
    await client.aclose()
    return server.requests[0]["json"]


async def test_zai_and_bigmodel_never_send_tool_choice(fake_server) -> None:
    for row in ("zai", "bigmodel"):
        assert "tool_choice" not in await _sent(row, fake_server, tools=[WEATHER], tool_choice="required")


async def test_qwen_downgrades_required_tool_choice_to_auto(fake_server) -> None:
    assert (await _sent("qwen", fake_server, tools=[WEATHER], tool_choice="required"))["tool_choice"] == "auto"


async def test_minimax_sends_max_completion_tokens(fake_server) -> None:
    body = await _sent("minimax", fake_server, max_tokens=64)
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body


@pytest.mark.parametrize(("row", "effort", "expected"), [
    ("openai", "minimal", {"reasoning_effort": "minimal"}),
    ("openai", "xhigh", {"reasoning_effort": "xhigh"}),
    ("perplexity", "xhigh", {"reasoning_effort": "high"}),
    ("perplexity", "minimal", {"reasoning_effort": "minimal"}),
    ("qwen", "off", {"enable_thinking": False}),
    ("qwen", "high", {"enable_thinking": True, "thinking_budget": 16384}),
    ("ark", "xhigh", {"thinking": {"type": "enabled"}, "reasoning_effort": "xhigh"}),
    ("ark", "off", {"thinking": {"type": "disabled"}}),
    ("minimax", "off", {"thinking": {"type": "disabled"}}),
    ("venice", "off", {"venice_parameters": {"disable_thinking": True}}),
    ("vercel", "xhigh", {"reasoning": {"effort": "xhigh"}}),
    ("bigmodel", "minimal", {"thinking": {"type": "enabled"}}),
])
async def test_reasoning_levels_map_onto_each_vendors_knob(row: str, effort: str, expected: dict, fake_server) -> None:
    body = await _sent(row, fake_server, reasoning=effort)
    assert {k: body[k] for k in expected} == expected


def test_cloudflare_without_an_account_id_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID")
    with pytest.raises(UsageError, match="CLOUDFLARE_ACCOUNT_ID"):
        create_client("cloudflare", api_key="k")


@pytest.mark.parametrize(("row", "var"), [
    ("qwen", "DASHSCOPE_API_KEY"), ("ark", "ARK_API_KEY"), ("vercel", "AI_GATEWAY_API_KEY"), ("huggingface", "HF_TOKEN"),
    ("ovhcloud", "OVH_AI_ENDPOINTS_ACCESS_TOKEN"), ("kimi-code", "KIMI_API_KEY"), ("bigmodel", "ZHIPUAI_API_KEY"),
    ("perplexity", "PERPLEXITY_API_KEY"), ("cohere", "CO_API_KEY"), ("cloudflare", "CLOUDFLARE_API_TOKEN"),
])
def test_row_reads_the_vendors_own_key_variable(row: str, var: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(var, "from-env-0000")
    assert get_spec(row).api_key() == "from-env-0000"


@pytest.mark.parametrize(("row", "total", "read"), [
    ("llama", 2700.0, 600.0), ("ollama", 2700.0, 600.0), ("anthropic", 2700.0, 300.0), ("nvidia", 2700.0, 300.0),
    ("deepseek", 2700.0, 300.0), ("groq", 600.0, 120.0),
])
def test_default_timeouts_let_long_generations_finish_but_bound_stalls(row: str, total: float, read: float) -> None:
    spec = get_spec(row)
    assert (spec.total_timeout, spec.read_timeout) == (total, read)


def test_every_builtin_row_passes_validation() -> None:
    # The rows are built without validation so that importing the engine stays cheap; this is their check.
    for spec in PROVIDERS.values():
        assert ProviderSpec.model_validate(spec.model_dump()) == spec, spec.name
