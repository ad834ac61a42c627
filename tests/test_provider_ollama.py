"""Ollama's native client: the /api/chat body, NDJSON streams, and the model listing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from assistant.errors import LLMError
from assistant.messages import ChatRequest, Message, ToolCall, ToolSpec
from assistant.providers import get_spec
from assistant.providers.base import collect
from assistant.providers.ollama import OllamaClient, build_body


def _request(messages: list[Message], **kw) -> ChatRequest:
    return ChatRequest(model=kw.pop("model", "qwen3:0.6b"), messages=messages, **kw)


@contextlib.asynccontextmanager
async def _client(url: str, **kw) -> AsyncIterator[OllamaClient]:
    client = OllamaClient(get_spec("ollama"), base_url=url, **kw)
    try:
        yield client
    finally:
        await client.aclose()


def _ndjson(*lines: dict, content_type: str = "application/x-ndjson"):
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return lambda request: web.Response(body=body, headers={"Content-Type": content_type})


def _line(content: str = "", **message) -> dict:
    return {"model": "qwen3:0.6b", "message": {"role": "assistant", "content": content, **message}, "done": False}


def _done(reason: str = "stop", prompt: int = 12, output: int = 5) -> dict:
    return {"model": "qwen3:0.6b", "message": {"role": "assistant", "content": ""}, "done": True,
            "done_reason": reason, "prompt_eval_count": prompt, "eval_count": output}


# --- request building --------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [True, False])
def test_body_always_says_whether_to_stream(stream: bool) -> None:
    assert build_body(_request([Message.user("hi")]), stream=stream)["stream"] is stream


def test_assistant_tool_calls_carry_arguments_as_an_object() -> None:
    call = ToolCall(id="c1", name="weather", arguments={"city": "Oslo"})
    body = build_body(_request([Message.user("q"), Message.assistant("", tool_calls=[call])]), stream=False)
    function = {"name": "weather", "arguments": {"city": "Oslo"}}
    assert body["messages"][1]["tool_calls"] == [{"id": "c1", "function": function}]


def test_tool_results_name_the_tool_they_answer() -> None:
    call = ToolCall(id="c1", name="weather", arguments={})
    history = [Message.user("q"), Message.assistant("", tool_calls=[call]), Message.tool("sunny", tool_call_id="c1")]
    body = build_body(_request(history), stream=False)
    assert body["messages"][2] == {"role": "tool", "content": "sunny", "tool_name": "weather", "tool_call_id": "c1"}


def test_tools_are_sent_in_function_format() -> None:
    tool = ToolSpec(name="weather", description="Weather now.", parameters={"type": "object", "properties": {}})
    body = build_body(_request([Message.user("q")], tools=[tool]), stream=False)
    assert body["tools"] == [{"type": "function", "function": {
        "name": "weather", "description": "Weather now.", "parameters": {"type": "object", "properties": {}}}}]


def test_tool_choice_none_offers_no_tools() -> None:
    body = build_body(_request([Message.user("q")], tools=[ToolSpec(name="weather")], tool_choice="none"), stream=False)
    assert "tools" not in body


@pytest.mark.parametrize(("effort", "think"), [("off", False), ("low", "low"), ("high", "high")])
def test_reasoning_effort_becomes_think(effort: str, think: object) -> None:
    assert build_body(_request([Message.user("q")], reasoning=effort), stream=False)["think"] == think


def test_no_reasoning_request_sends_no_think() -> None:
    assert "think" not in build_body(_request([Message.user("q")]), stream=False)


def test_generation_settings_and_num_ctx_go_to_options() -> None:
    request = _request([Message.user("q")], max_tokens=64, temperature=0.0, stop=["\n\n"],
                       extra={"num_ctx": 8192, "options": {"top_k": 20}, "keep_alive": "10m"})
    body = build_body(request, stream=False)
    assert body["options"] == {"num_predict": 64, "temperature": 0.0, "stop": ["\n\n"], "num_ctx": 8192, "top_k": 20}
    assert body["keep_alive"] == "10m"
    assert "num_ctx" not in body


def test_response_schema_becomes_format() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert build_body(_request([Message.user("q")], response_schema=schema), stream=False)["format"] == schema


# --- answers and streams -----------------------------------------------------------------------

async def test_stream_collects_thinking_text_and_usage(fake_server) -> None:
    server = fake_server(_ndjson(_line(thinking="Count."), _line("1 2"), _line(" 3"), _done(prompt=20, output=9)))
    async with _client(server.url) as client:
        answer = await collect(client.stream(_request([Message.user("count")])))
    assert (answer.reasoning, answer.text) == ("Count.", "1 2 3")
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (20, 9)
    assert server.requests[0]["json"]["stream"] is True


async def test_stop_with_tool_calls_finishes_as_tool_calls(fake_server) -> None:
    call = {"function": {"name": "weather", "arguments": {"city": "Tokyo"}}}
    server = fake_server(_ndjson(_line(tool_calls=[call]), _done("stop")))
    async with _client(server.url) as client:
        answer = await collect(client.stream(_request([Message.user("q")], tools=[ToolSpec(name="weather")])))
    assert (answer.finish_reason, answer.raw_finish_reason) == ("tool_calls", "stop")
    assert [(c.name, c.arguments) for c in answer.tool_calls] == [("weather", {"city": "Tokyo"})]


async def test_a_tool_call_without_id_gets_one(fake_server) -> None:
    server = fake_server(_ndjson(_line(tool_calls=[{"function": {"name": "now", "arguments": {}}}]), _done()))
    async with _client(server.url) as client:
        answer = await collect(client.stream(_request([Message.user("q")])))
    assert answer.tool_calls[0].id


async def test_length_finishes_as_length(fake_server) -> None:
    server = fake_server(_ndjson(_line("Once upon"), _done("length")))
    async with _client(server.url) as client:
        answer = await collect(client.stream(_request([Message.user("story")])))
    assert answer.finish_reason == "length"


async def test_think_tags_at_the_start_become_reasoning(fake_server) -> None:
    server = fake_server(_ndjson(_line("<thi"), _line("nk>plan</th"), _line("ink>\nans"), _line("wer"), _done()))
    async with _client(server.url) as client:
        answer = await collect(client.stream(_request([Message.user("q")])))
    assert (answer.reasoning, answer.text) == ("plan", "answer")


async def test_an_error_line_mid_stream_raises_with_the_partial_text(fake_server) -> None:
    error = {"error": "an error was encountered while running the model: unexpected EOF"}
    server = fake_server(_ndjson(_line("Half"), _line(" an answer"), error))
    async with _client(server.url) as client:
        with pytest.raises(LLMError) as caught:
            await collect(client.stream(_request([Message.user("q")])))
    assert caught.value.partial is not None and caught.value.partial.text == "Half an answer"
    assert caught.value.provider == "ollama"


async def test_chat_asks_for_one_answer_and_reads_it(fake_server) -> None:
    whole = {**_done(prompt=30, output=4), "message": {"role": "assistant", "content": "Hello!", "thinking": "Greet."}}
    server = fake_server(lambda r: web.json_response(whole))
    async with _client(server.url) as client:
        answer = await client.chat(_request([Message.user("hi")]))
    assert server.requests[0]["json"]["stream"] is False
    assert (answer.text, answer.reasoning, answer.usage.input_tokens) == ("Hello!", "Greet.", 30)


# --- model listing -----------------------------------------------------------------------------

def _models_app(show: dict[str, dict | None], in_flight: list[int] | None = None) -> web.Application:
    app = web.Application()
    active = [0]

    async def tags(request: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": n, "model": n} for n in show]})

    async def describe(request: web.Request) -> web.Response:
        name = (await request.json())["model"]
        active[0] += 1
        if in_flight is not None:
            in_flight.append(active[0])
        await asyncio.sleep(0.02)
        active[0] -= 1
        if show[name] is None:
            return web.json_response({"error": f"model '{name}' not found"}, status=404)
        return web.json_response(show[name])

    app.router.add_get("/api/tags", tags)
    app.router.add_post("/api/show", describe)
    return app


async def test_list_models_reads_context_and_capabilities_from_show(fake_server) -> None:
    show = {"qwen3:0.6b": {"model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
                           "capabilities": ["completion", "tools", "thinking"]},
            "llava:7b": {"model_info": {"general.architecture": "llama", "llama.context_length": 4096},
                         "capabilities": ["completion", "vision"]}}
    server = fake_server(_models_app(show))
    async with _client(server.url) as client:
        models = {m.id: m for m in await client.list_models()}
    assert (models["qwen3:0.6b"].context_window, models["qwen3:0.6b"].supports_tools) == (40960, True)
    assert (models["llava:7b"].supports_tools, models["llava:7b"].supports_vision) == (False, True)


async def test_list_models_keeps_a_model_whose_show_fails(fake_server) -> None:
    show = {"good:1b": {"model_info": {}, "capabilities": ["completion"]}, "broken:1b": None}
    server = fake_server(_models_app(show))
    async with _client(server.url) as client:
        models = {m.id: m for m in await client.list_models()}
    assert set(models) == {"good:1b", "broken:1b"}
    assert models["broken:1b"].context_window is None


async def test_list_models_describes_at_most_four_at_once(fake_server) -> None:
    in_flight: list[int] = []
    show = {f"m{i}:1b": {"capabilities": ["completion"]} for i in range(10)}
    server = fake_server(_models_app(show, in_flight))
    async with _client(server.url, max_concurrency=None) as client:
        await client.list_models()
    assert len(in_flight) == 10 and max(in_flight) <= 4
