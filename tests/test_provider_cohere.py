"""Cohere v2 chat on documented bodies (docs.cohere.com/v2/reference/chat, /v2/docs/streaming)."""

from __future__ import annotations

import pytest
from aiohttp import web

from assistant.errors import LLMError
from assistant.messages import ChatRequest, Message, ToolCall, ToolSpec
from assistant.providers import create_client
from assistant.providers.base import collect

WEATHER = ToolSpec(name="get_weather", description="Current weather for a city",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})

TOOL_CALL = {
    "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    "finish_reason": "TOOL_CALL",
    "message": {
        "role": "assistant",
        "tool_plan": "I will look up the weather in Paris.",
        "tool_calls": [{"id": "get_weather_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}],
        "citations": [],
    },
    "usage": {"billed_units": {"input_tokens": 20, "output_tokens": 8}, "tokens": {"input_tokens": 900, "output_tokens": 30}},
}

STREAM = """event: message-start
data: {"id":"c1","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}

event: content-start
data: {"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}

event: content-delta
data: {"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hello"}}}}

event: content-end
data: {"type":"content-end","index":0}

event: tool-plan-delta
data: {"type":"tool-plan-delta","delta":{"message":{"tool_plan":" I will check."}}}

event: tool-call-start
data: {"type":"tool-call-start","index":1,"delta":{"message":{"tool_calls":{"id":"get_weather_1","type":"function","function":{"name":"get_weather","arguments":""}}}}}

event: tool-call-delta
data: {"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\\"city\\":"}}}}}

event: tool-call-delta
data: {"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":[{"function":{"arguments":"\\"Paris\\"}"}}]}}}

event: tool-call-end
data: {"type":"tool-call-end","index":1}

event: message-end
data: {"type":"message-end","delta":{"finish_reason":"TOOL_CALL","usage":{"billed_units":{"input_tokens":20,"output_tokens":8},"tokens":{"input_tokens":900,"output_tokens":30}}}}

"""


@pytest.fixture(autouse=True)
def cohere_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    monkeypatch.setenv("CO_API_KEY", "co-test-0000000000")


def _sse(body: str):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body.encode(), headers={"Content-Type": "text/event-stream"})

    return handler


async def test_chat_maps_the_tool_plan_calls_and_usage(fake_server) -> None:
    server = fake_server(lambda r: web.json_response(TOOL_CALL))
    client = create_client("cohere", base_url=server.url)
    response = await client.chat(ChatRequest(model="command-a-03-2025", tools=[WEATHER], tool_choice="required",
                                             messages=[Message.user("Weather in Paris?")]))
    await client.aclose()
    assert (response.text, response.finish_reason) == ("I will look up the weather in Paris.", "tool_calls")
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [("get_weather_1", "get_weather", {"city": "Paris"})]
    assert (response.usage.input_tokens, response.usage.output_tokens) == (900, 30)
    sent = server.requests[0]
    assert sent["path"] == "/v2/chat"
    assert sent["headers"]["Authorization"] == "Bearer co-test-0000000000"
    assert sent["json"]["tool_choice"] == "REQUIRED"


async def test_history_sends_tool_plan_and_tool_results_in_cohere_shape(fake_server) -> None:
    server = fake_server(lambda r: web.json_response({"finish_reason": "COMPLETE",
                                                      "message": {"role": "assistant", "content": [{"type": "text", "text": "18C"}]}}))
    client = create_client("cohere", base_url=server.url + "/v2")
    response = await client.chat(ChatRequest(model="command-a-03-2025", tools=[WEATHER], messages=[
        Message.user("Paris?"),
        Message.assistant("I will look it up.", [ToolCall(id="get_weather_1", name="get_weather", arguments={"city": "Paris"})]),
        Message.tool("18C", "get_weather_1", "get_weather")]))
    await client.aclose()
    assert (response.text, response.finish_reason) == ("18C", "stop")
    assistant, tool = server.requests[0]["json"]["messages"][1:]
    assert assistant["tool_plan"] == "I will look it up."
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"city":"Paris"}'
    assert tool == {"role": "tool", "tool_call_id": "get_weather_1",
                    "content": [{"type": "document", "document": {"data": "18C"}}]}


async def test_stream_assembles_text_plan_and_a_tool_call_from_fragments(fake_server) -> None:
    client = create_client("cohere", base_url=fake_server(_sse(STREAM)).url)
    events = [e async for e in client.stream(ChatRequest(model="command-a-03-2025", tools=[WEATHER],
                                                         messages=[Message.user("hi")], stream=True))]
    await client.aclose()
    done = events[-1].response
    assert done.text == "Hello I will check."
    assert [(c.id, c.arguments) for c in done.tool_calls] == [("get_weather_1", {"city": "Paris"})]
    assert (done.finish_reason, done.raw_finish_reason, done.usage.output_tokens) == ("tool_calls", "TOOL_CALL", 30)


async def test_a_stream_without_message_end_is_an_error_with_the_partial(fake_server) -> None:
    cut = STREAM.split("event: tool-call-end")[0]
    client = create_client("cohere", base_url=fake_server(_sse(cut)).url)
    with pytest.raises(LLMError) as caught:
        await collect(client.stream(ChatRequest(model="command-a-03-2025", messages=[Message.user("hi")], stream=True)))
    await client.aclose()
    assert caught.value.partial.text == "Hello I will check."
    assert caught.value.partial.tool_calls == []


async def test_a_200_that_finished_with_error_is_not_an_answer(fake_server) -> None:
    server = fake_server(lambda r: web.json_response({"finish_reason": "ERROR", "message": {"content": [{"type": "text", "text": "par"}]}}))
    client = create_client("cohere", base_url=server.url)
    with pytest.raises(LLMError):
        await client.chat(ChatRequest(model="command-a-03-2025", messages=[Message.user("hi")]))
    await client.aclose()


@pytest.mark.parametrize(("status", "body", "kind"), [
    (429, {"message": "You are using a Trial key, which is limited to 20 API calls / minute."}, "rate_limit"),
    (401, {"message": "invalid api token"}, "auth"),
    (400, {"message": "too many tokens: total number of tokens (prompt and prediction) cannot exceed 2048 - received 6354. "
                      "Try using a shorter prompt or a smaller max_tokens value."}, "context_overflow"),
    (402, {"message": "Please add a payment method"}, "billing"),
])
async def test_errors_are_classified(fake_server, status: int, body: dict, kind: str) -> None:
    client = create_client("cohere", base_url=fake_server(lambda r: web.json_response(body, status=status)).url)
    with pytest.raises(LLMError) as caught:
        await client.chat(ChatRequest(model="command-a-03-2025", messages=[Message.user("hi")]))
    await client.aclose()
    assert (caught.value.kind, caught.value.provider) == (kind, "cohere")
