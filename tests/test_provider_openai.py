"""Request building and answer parsing of the OpenAI-compatible client, and the provider table."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from assistant.errors import UsageError
from assistant.messages import ChatRequest, Message, ToolCall, ToolSpec
from assistant.providers import create_client, get_spec
from assistant.providers.base import collect

WEATHER = ToolSpec(name="weather", description="Weather for a city",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def _body(provider: str, request: ChatRequest, stream: bool = False) -> dict:
    client = create_client(provider, api_key="sk-test-000000000000000000", base_url="http://127.0.0.1:1/v1")
    return client._map_request(request, stream=stream)  # type: ignore[attr-defined]


def test_tool_turns_map_to_openai_shape_with_json_string_arguments() -> None:
    call = ToolCall(id="call_1", name="weather", arguments={"city": "Paris"})
    request = ChatRequest(model="m", messages=[
        Message.system("sys"), Message.user("hi"), Message.assistant("", tool_calls=[call]),
        Message.tool('{"temp": 20}', tool_call_id="call_1", name="weather"),
    ], tools=[WEATHER])
    body = _body("groq", request)
    assert body["messages"][0] == {"role": "system", "content": "sys"}
    assistant = body["messages"][2]
    assert assistant["content"] == ""  # llama-cpp-python servers reject null content
    assert assistant["tool_calls"] == [{"id": "call_1", "type": "function",
                                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 20}', "name": "weather"}
    assert body["tools"][0]["function"]["name"] == "weather"


@pytest.mark.parametrize(("provider", "choice", "expected"), [
    ("openai", "required", "required"),
    ("kimi", "required", "auto"),  # Moonshot rejects "required": declared on its row
    ("openai", "weather", {"type": "function", "function": {"name": "weather"}}),
    ("openai", "none", "none"),
])
def test_tool_choice_follows_the_provider_capabilities(provider: str, choice: str, expected) -> None:
    body = _body(provider, ChatRequest(model="m", messages=[Message.user("x")], tools=[WEATHER], tool_choice=choice))
    assert body["tool_choice"] == expected


def test_tool_choice_is_not_sent_without_tools() -> None:
    body = _body("openai", ChatRequest(model="m", messages=[Message.user("x")], tool_choice="required"))
    assert "tool_choice" not in body and "tools" not in body


def test_max_tokens_field_and_stream_usage_come_from_the_row() -> None:
    request = ChatRequest(model="m", messages=[Message.user("x")], max_tokens=50)
    assert _body("openai", request)["max_completion_tokens"] == 50
    assert _body("groq", request)["max_tokens"] == 50
    assert _body("groq", request, stream=True)["stream_options"] == {"include_usage": True}
    assert "stream_options" not in _body("mistral", request, stream=True)


@pytest.mark.parametrize(("provider", "effort", "key", "value"), [
    ("openai", "high", "reasoning_effort", "high"),
    ("openrouter", "low", "reasoning", {"effort": "low"}),
    ("openrouter", "off", "reasoning", {"enabled": False}),
    ("groq", "medium", "reasoning_format", "parsed"),
    ("llama", "off", "chat_template_kwargs", {"enable_thinking": False}),
])
def test_reasoning_option_maps_per_provider(provider: str, effort: str, key: str, value) -> None:
    body = _body(provider, ChatRequest(model="m", messages=[Message.user("x")], reasoning=effort))
    assert body[key] == value


def test_response_schema_and_extra_are_sent() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = _body("llama", ChatRequest(model="m", messages=[Message.user("x")], response_schema=schema,
                                      temperature=0.2, extra={"top_k": 5, "temperature": 0.1}))
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert body["top_k"] == 5
    assert body["temperature"] == 0.1  # extra wins


@pytest.mark.parametrize(("provider", "given", "expected"), [
    ("llama", "http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ("llama", "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080"),
    ("vllm", "http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
    ("openai", "https://api.openai.com/v1/", "https://api.openai.com/v1"),
    ("ollama", "http://127.0.0.1:11434/v1", "http://127.0.0.1:11434"),
])
def test_base_urls_tolerate_trailing_slash_and_redundant_v1(provider: str, given: str, expected: str) -> None:
    assert get_spec(provider).resolve_base_url(given) == expected


def test_environment_supplies_key_and_base_url(monkeypatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_from_env_0000000000000000")
    monkeypatch.setenv("GROQ_BASE_URL", "http://127.0.0.1:9999/openai/v1")
    client = create_client("groq")
    assert client.base_url == "http://127.0.0.1:9999/openai/v1"  # type: ignore[attr-defined]
    assert client.has_key  # type: ignore[attr-defined]


def test_aliases_read_their_own_environment_names(monkeypatch) -> None:
    monkeypatch.setenv("XAI_API_KEY", "xai-000000000000000000000000")
    assert create_client("xai").provider == "grok"
    monkeypatch.setenv("GEMINI_API_KEY", "AIza" + "0" * 35)
    assert create_client("gemini").provider == "google"


def test_missing_key_names_the_variable_to_set() -> None:
    with pytest.raises(UsageError, match="OPENROUTER_API_KEY"):
        create_client("openrouter")


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown provider 'nope'.*openrouter"):
        create_client("nope")


def test_local_providers_need_no_key() -> None:
    assert create_client("llama").provider == "llama"
    assert create_client("lmstudio").provider == "lmstudio"


def test_the_key_never_shows_in_repr_or_errors() -> None:
    secret = "sk-proj-SECRETSECRETSECRET1234"
    client = create_client("openai", api_key=secret)
    assert secret not in repr(client)
    from assistant.errors import classify_error
    err = classify_error("openai", 401, '{"error":{"message":"Incorrect API key provided: %s","code":"invalid_api_key"}}' % secret)
    assert secret not in str(err) and secret not in repr(err) and secret not in err.body


def _sse(*chunks: str) -> bytes:
    return b"".join(b"data: " + c.encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


async def test_stream_assembles_tool_calls_when_servers_repeat_the_name(fake_server) -> None:
    body = _sse(
        '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"weather","arguments":"{\\"ci"}}]}}]}',
        '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"weather","arguments":"ty\\": \\"Oslo\\"}"}}]}}]}',
        '{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
    )
    server = fake_server(lambda r: web.Response(body=body, content_type="text/event-stream"))
    client = create_client("vllm", base_url=server.url)
    response = await collect(client.stream(ChatRequest(model="m", messages=[Message.user("x")], tools=[WEATHER])))
    await client.aclose()
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [("c1", "weather", {"city": "Oslo"})]
    assert response.finish_reason == "tool_calls"  # "stop" with calls means calls


async def test_stream_with_several_choices_answers_with_choice_zero(fake_server) -> None:
    def call(index: int, arguments: str, call_id: str | None = None) -> str:
        fields = {"index": 0, "function": {"arguments": arguments}}
        if call_id:
            fields.update(id=call_id, function={"name": "weather", "arguments": arguments})
        return json.dumps({"choices": [{"index": index, "delta": {"tool_calls": [fields]}}]})

    body = _sse(
        '{"choices":[{"index":0,"delta":{"content":"Par"}},{"index":1,"delta":{"content":"Lon"}}]}',
        '{"choices":[{"index":1,"delta":{"content":"don"}}]}',
        '{"choices":[{"index":0,"delta":{"content":"is"}}]}',
        call(0, '{"city": ', "c0"), call(1, '{"city": "Rome"}', "c1"), call(0, '"Paris"}'),
        '{"choices":[{"index":1,"delta":{},"finish_reason":"length"}]}',
        '{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}',
    )
    server = fake_server(lambda r: web.Response(body=body, content_type="text/event-stream"))
    client = create_client("vllm", base_url=server.url)
    response = await collect(client.stream(ChatRequest(model="m", messages=[Message.user("x")], tools=[WEATHER])))
    await client.aclose()
    assert response.text == "Paris"
    assert [(c.id, c.arguments) for c in response.tool_calls] == [("c0", {"city": "Paris"})]
    assert response.finish_reason == "tool_calls"


async def test_think_tags_at_the_start_become_reasoning_in_a_stream(fake_server) -> None:
    body = _sse(*['{"choices":[{"index":0,"delta":{"content":%s}}]}' % p
                  for p in ('"<thi"', '"nk>plan"', '" more</th"', '"ink>\\nAnswer"', '" done"')],
                '{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')
    server = fake_server(lambda r: web.Response(body=body, content_type="text/event-stream"))
    client = create_client("vllm", base_url=server.url)
    response = await collect(client.stream(ChatRequest(model="m", messages=[Message.user("x")])))
    await client.aclose()
    assert response.reasoning == "plan more"
    assert response.text == "Answer done"


async def test_a_json_answer_to_a_stream_request_is_replayed_as_events(fake_server) -> None:
    payload = {"choices": [{"message": {"content": "whole"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    server = fake_server(lambda r: web.json_response(payload))
    client = create_client("vllm", base_url=server.url)
    events = [e async for e in client.stream(ChatRequest(model="m", messages=[Message.user("x")]))]
    await client.aclose()
    assert [e.type for e in events] == ["text", "usage", "done"]
    assert events[-1].response.text == "whole"


async def test_http_200_with_an_error_object_raises(fake_server) -> None:
    payload = {"error": {"code": 502, "message": "Provider returned error"}}
    server = fake_server(lambda r: web.json_response(payload))
    client = create_client("vllm", base_url=server.url)
    from assistant.errors import LLMError
    with pytest.raises(LLMError) as info:
        await client.chat(ChatRequest(model="m", messages=[Message.user("x")]))
    await client.aclose()
    assert info.value.kind == "transient"


async def test_the_key_is_sent_as_a_bearer_token(fake_server) -> None:
    server = fake_server(lambda r: web.json_response({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}))
    client = create_client("together", api_key="tok-123456789", base_url=server.url + "/v1")
    await client.chat(ChatRequest(model="m", messages=[Message.user("x")]))
    await client.aclose()
    assert server.requests[0]["headers"]["Authorization"] == "Bearer tok-123456789"
    assert server.requests[0]["path"] == "/v1/chat/completions"


def _text_chunk(text: str) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


_FINISH = '{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'


async def test_text_that_arrives_in_one_read_comes_as_one_event_in_order(fake_server) -> None:
    body = _sse(_text_chunk("a"), _text_chunk("b"), '{"choices":[{"index":0,"delta":{"reasoning_content":"r"}}]}',
                _text_chunk("c"), _FINISH)
    server = fake_server(lambda r: web.Response(body=body, content_type="text/event-stream"))
    client = create_client("vllm", base_url=server.url)
    events = [e async for e in client.stream(ChatRequest(model="m", messages=[Message.user("x")]))]
    await client.aclose()
    assert [(e.type, e.text) for e in events[:-1]] == [("text", "ab"), ("reasoning", "r"), ("text", "c")]
    assert events[-1].response.text == "abc"


async def test_text_is_delivered_before_the_next_bytes_arrive(fake_server) -> None:
    import asyncio
    import threading

    seen = threading.Event()
    answered_in_time: list[bool] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: " + _text_chunk("Hel").encode() + b"\n\n")
        # The rest is sent only once the client has shown the first piece (or after 5 s).
        answered_in_time.append(await asyncio.get_running_loop().run_in_executor(None, seen.wait, 5))
        await response.write(_sse(_text_chunk("lo"), _FINISH))
        await response.write_eof()
        return response

    server = fake_server(handler)
    client = create_client("vllm", base_url=server.url)
    texts = []
    async for event in client.stream(ChatRequest(model="m", messages=[Message.user("x")])):
        if event.type == "text":
            texts.append(event.text)
            seen.set()
    await client.aclose()
    assert answered_in_time == [True]
    assert texts == ["Hel", "lo"]


async def test_consecutive_streams_reuse_one_connection_when_the_body_end_comes_late(fake_server) -> None:
    import asyncio

    peers = []

    async def handler(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_sse(_text_chunk("hi"), _FINISH))
        await asyncio.sleep(0.02)  # the end of the chunked body comes in a later packet than [DONE]
        await response.write_eof()
        return response

    server = fake_server(handler)
    client = create_client("vllm", base_url=server.url)
    for _ in range(3):
        assert (await collect(client.stream(ChatRequest(model="m", messages=[Message.user("x")])))).text == "hi"
    await client.aclose()
    assert len(peers) == 3 and len(set(peers)) == 1


async def test_a_body_held_open_after_done_does_not_hold_back_the_answer(fake_server) -> None:
    import asyncio
    import threading
    import time

    release = threading.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_sse(_text_chunk("hi"), _FINISH))
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 5)
        await response.write_eof()
        return response

    server = fake_server(handler)
    client = create_client("vllm", base_url=server.url)
    start = time.monotonic()
    response = await collect(client.stream(ChatRequest(model="m", messages=[Message.user("x")])))
    elapsed = time.monotonic() - start
    release.set()
    await client.aclose()
    assert response.text == "hi" and response.finish_reason == "stop"
    assert elapsed < 2
