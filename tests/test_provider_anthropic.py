"""The native Anthropic client: request mapping rules and stream parsing edge cases.

Whole recordings are replayed by tests/test_conformance.py; these tests pin the rules around them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from assistant.errors import LLMError
from assistant.messages import ChatRequest, Message, StreamEvent, ToolCall, ToolSpec
from assistant.providers import create_client
from assistant.providers._anthropic_request import SCHEMA_TOOL, map_request
from assistant.providers._anthropic_response import process_message

KEY = "sk-ant-test-0123456789abcdef"


def _body(messages: list[Message], **kw: Any) -> dict[str, Any]:
    return map_request(ChatRequest(model="claude-test", messages=messages, **kw), "anthropic", stream=False)


def _sse(*events: dict[str, Any]) -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}   \n\n" for e in events)


def _sse_server(fake_server, text: str):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=text.encode(), headers={"Content-Type": "text/event-stream; charset=utf-8"})

    return fake_server(handler)


def _client(url: str):
    return create_client("anthropic", api_key=KEY, base_url=url)


async def _stream(url: str) -> tuple[list[StreamEvent], LLMError | None]:
    """Every event one streamed call yields, and the error that ended it (if any)."""
    client = _client(url)
    events: list[StreamEvent] = []
    try:
        async for event in client.stream(ChatRequest(model="claude-test", messages=[Message.user("hi")])):
            events.append(event)
    except LLMError as err:
        return events, err
    finally:
        await client.aclose()
    return events, None


_START = {"type": "message_start", "message": {"model": "claude-test-20250101", "usage": {"input_tokens": 7, "output_tokens": 1}}}
_STOP = {"type": "message_stop"}


def _delta(index: int, **delta: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _block(index: int, **block: Any) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _end(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def _finish(reason: str, output_tokens: int) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": reason}, "usage": {"output_tokens": output_tokens}}


_CALL = ToolCall(id="toolu_1", name="lookup", arguments={"q": "x"})
_SIGNED = {"anthropic": {"thinking": [{"type": "thinking", "thinking": "let me look", "signature": "sig-1"}]}}
_TOOL = ToolSpec(name="lookup", description="Look it up.", parameters={"type": "object", "properties": {"q": {"type": "string"}}})


# --- request mapping ---------------------------------------------------------------------------


def test_system_messages_are_joined_into_top_level_system() -> None:
    body = _body([Message.system("Be brief."), Message.user("hi"), Message.system("Answer in French.")])
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert [m["role"] for m in body["messages"]] == ["user"]


def test_consecutive_tool_results_merge_into_one_user_turn() -> None:
    second = ToolCall(id="toolu_2", name="lookup", arguments={"q": "y"})
    body = _body([
        Message.user("look up x and y"),
        Message.assistant("", tool_calls=[_CALL, second]),
        Message.tool("X", tool_call_id="toolu_1"),
        Message.tool("Y", tool_call_id="toolu_2"),
    ], tools=[_TOOL])
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "X"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "Y"},
    ]


def test_consecutive_same_role_turns_are_merged_to_keep_alternation() -> None:
    body = _body([Message.user("one"), Message.user("two"), Message.assistant("a"), Message.assistant("b")])
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert [b["text"] for b in body["messages"][0]["content"]] == ["one", "two"]


def test_tool_results_come_before_user_text_in_a_merged_turn() -> None:
    body = _body([Message.user("q"), Message.assistant("", tool_calls=[_CALL]), Message.user("also this"),
                  Message.tool("X", tool_call_id="toolu_1")], tools=[_TOOL])
    assert [b["type"] for b in body["messages"][2]["content"]] == ["tool_result", "text"]


def test_assistant_tool_calls_become_tool_use_blocks_after_the_text() -> None:
    body = _body([Message.user("q"), Message.assistant("Checking.", tool_calls=[_CALL]),
                  Message.tool("X", tool_call_id="toolu_1")], tools=[_TOOL])
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
    ]


def test_tool_result_without_a_matching_tool_use_becomes_text() -> None:
    body = _body([Message.user("q"), Message.tool("stale", tool_call_id="toolu_gone")])
    assert body["messages"][0]["content"][-1] == {"type": "text", "text": "[tool result toolu_gone]\nstale"}


def test_unanswered_tool_use_gets_an_error_result() -> None:
    body = _body([Message.user("q"), Message.assistant("", tool_calls=[_CALL]), Message.user("never mind")], tools=[_TOOL])
    first = body["messages"][2]["content"][0]
    assert (first["type"], first["tool_use_id"], first["is_error"]) == ("tool_result", "toolu_1", True)


def test_foreign_call_ids_are_made_safe_on_both_sides() -> None:
    call = ToolCall(id="call.abc:1", name="lookup", arguments={})
    body = _body([Message.user("q"), Message.assistant("", tool_calls=[call]),
                  Message.tool("X", tool_call_id="call.abc:1")], tools=[_TOOL])
    assert body["messages"][1]["content"][0]["id"] == body["messages"][2]["content"][0]["tool_use_id"] == "call_abc_1"


def test_tools_map_to_name_description_input_schema() -> None:
    assert _body([Message.user("q")], tools=[_TOOL])["tools"] == [
        {"name": "lookup", "description": "Look it up.", "input_schema": _TOOL.parameters}
    ]


@pytest.mark.parametrize(
    ("choice", "wire"),
    [("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"}),
     ("lookup", {"type": "tool", "name": "lookup"})],
)
def test_tool_choice_maps_to_anthropic_shape(choice: str, wire: dict[str, str]) -> None:
    assert _body([Message.user("q")], tools=[_TOOL], tool_choice=choice)["tool_choice"] == wire


def test_tool_choice_is_omitted_without_tools() -> None:
    assert "tool_choice" not in _body([Message.user("q")], tool_choice="auto")


def test_max_tokens_defaults_to_4096() -> None:
    assert _body([Message.user("q")])["max_tokens"] == 4096


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 4096), ("high", 16384)])
def test_reasoning_effort_enables_thinking_with_room_above_the_budget(effort: str, budget: int) -> None:
    body = _body([Message.user("q")], reasoning=effort)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] > budget


def test_reasoning_off_sends_no_thinking() -> None:
    assert "thinking" not in _body([Message.user("q")], reasoning="off")


def test_temperature_is_dropped_when_thinking_is_on() -> None:
    assert "temperature" not in _body([Message.user("q")], reasoning="low", temperature=0.2)


def test_temperature_above_anthropics_range_is_clamped() -> None:
    assert _body([Message.user("q")], temperature=1.7)["temperature"] == 1.0


def test_forced_tool_choice_turns_thinking_off() -> None:
    body = _body([Message.user("q")], tools=[_TOOL], tool_choice="required", reasoning="high")
    assert "thinking" not in body


def test_signed_thinking_is_sent_back_first_on_the_assistant_turn() -> None:
    body = _body([Message.user("q"), Message.assistant("", tool_calls=[_CALL], opaque=_SIGNED),
                  Message.tool("X", tool_call_id="toolu_1")], tools=[_TOOL], reasoning="low")
    assert body["messages"][1]["content"][0] == {"type": "thinking", "thinking": "let me look", "signature": "sig-1"}
    assert body["thinking"]["type"] == "enabled"


def test_thinking_state_of_another_provider_is_dropped() -> None:
    foreign = {"other": _SIGNED["anthropic"]}
    body = _body([Message.user("q"), Message.assistant("a", opaque=foreign), Message.user("more")], reasoning="low")
    assert [b["type"] for b in body["messages"][1]["content"]] == ["text"]


def test_thinking_is_turned_off_when_the_tool_loop_began_without_it() -> None:
    body = _body([Message.user("q"), Message.assistant("", tool_calls=[_CALL]),
                  Message.tool("X", tool_call_id="toolu_1")], tools=[_TOOL], reasoning="medium")
    assert "thinking" not in body


def test_thinking_blocks_are_not_sent_when_thinking_is_off() -> None:
    body = _body([Message.user("q"), Message.assistant("a", opaque=_SIGNED), Message.user("more")])
    assert [b["type"] for b in body["messages"][1]["content"]] == ["text"]


def test_stop_stream_and_extra_reach_the_body_with_extra_last() -> None:
    request = ChatRequest(model="claude-test", messages=[Message.user("q")], stop=["END"], max_tokens=50,
                          extra={"max_tokens": 99, "metadata": {"user_id": "u1"}})
    body = map_request(request, "anthropic", stream=True)
    assert (body["stop_sequences"], body["stream"], body["max_tokens"], body["metadata"]) == (["END"], True, 99, {"user_id": "u1"})


def test_response_schema_forces_the_answer_tool() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    body = _body([Message.user("q")], response_schema=schema)
    assert body["tools"][0]["input_schema"] == schema
    assert body["tool_choice"] == {"type": "tool", "name": SCHEMA_TOOL}


# --- reading answers ---------------------------------------------------------------------------


def _message(*content: dict[str, Any], stop: str = "end_turn") -> dict[str, Any]:
    return {"type": "message", "model": "claude-test-1", "content": list(content), "stop_reason": stop,
            "usage": {"input_tokens": 3, "output_tokens": 5, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 1}}


def test_answer_tool_input_comes_back_as_text() -> None:
    msg = _message({"type": "tool_use", "id": "toolu_9", "name": SCHEMA_TOOL, "input": {"city": "Paris"}}, stop="tool_use")
    response = process_message(msg, "anthropic", "claude-test", schema_answer=True)
    assert (json.loads(response.text), response.tool_calls, response.finish_reason) == ({"city": "Paris"}, [], "stop")


def test_signed_and_redacted_thinking_are_kept_in_opaque() -> None:
    msg = _message({"type": "thinking", "thinking": "hmm", "signature": "sig"},
                   {"type": "redacted_thinking", "data": "ENCRYPTED"}, {"type": "text", "text": "ok"})
    response = process_message(msg, "anthropic", "claude-test")
    assert response.opaque == {"anthropic": {"thinking": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "redacted_thinking", "data": "ENCRYPTED"},
    ]}}


def test_thinking_signature_round_trips_into_the_next_request() -> None:
    msg = _message({"type": "thinking", "thinking": "hmm", "signature": "sig"},
                   {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}, stop="tool_use")
    turn = process_message(msg, "anthropic", "claude-test").to_message()
    body = _body([Message.user("q"), turn, Message.tool("X", tool_call_id="toolu_1")], tools=[_TOOL], reasoning="low")
    assert body["messages"][1]["content"][0] == {"type": "thinking", "thinking": "hmm", "signature": "sig"}


def test_refusal_is_a_content_filter_finish() -> None:
    response = process_message(_message({"type": "text", "text": ""}, stop="refusal"), "anthropic", "claude-test")
    assert (response.finish_reason, response.raw_finish_reason) == ("content_filter", "refusal")


def test_usage_carries_cache_read_and_write_tokens() -> None:
    usage = process_message(_message({"type": "text", "text": "a"}), "anthropic", "claude-test").usage
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage.cache_write_tokens) == (3, 5, 2, 1)


# --- over HTTP -----------------------------------------------------------------------------------


async def test_mid_stream_error_event_raises_with_the_partial_text(fake_server) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    server = _sse_server(fake_server, _sse(_START, _block(0, type="text", text=""),
                                           _delta(0, type="text_delta", text="Hello"), error))
    events, err = await _stream(server.url)
    assert [e.text for e in events] == ["Hello"]
    assert err is not None and err.kind == "transient"
    assert err.partial is not None and err.partial.text == "Hello"


async def test_empty_input_json_delta_means_no_arguments(fake_server) -> None:
    server = _sse_server(fake_server, _sse(
        _START, _block(0, type="tool_use", id="toolu_1", name="lookup", input={}),
        _delta(0, type="input_json_delta", partial_json=""), _end(0), _finish("tool_use", 9), _STOP))
    events, _ = await _stream(server.url)
    response = events[-1].response
    assert response is not None
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [("toolu_1", "lookup", {})]
    assert response.finish_reason == "tool_calls"


async def test_tool_call_event_comes_when_its_block_stops(fake_server) -> None:
    server = _sse_server(fake_server, _sse(
        _START, _block(0, type="tool_use", id="toolu_1", name="lookup", input={}),
        _delta(0, type="input_json_delta", partial_json='{"q": '), _delta(0, type="input_json_delta", partial_json='"x"}'),
        _end(0), _finish("tool_use", 9), _STOP))
    events, _ = await _stream(server.url)
    assert [e.type for e in events] == ["tool_call", "usage", "done"]
    assert events[0].tool_call is not None and events[0].tool_call.arguments == {"q": "x"}
    assert events[-1].response is not None and events[-1].response.usage.output_tokens == 9


async def test_message_delta_usage_is_cumulative_and_wins_over_message_start(fake_server) -> None:
    final = {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
             "usage": {"input_tokens": 19, "output_tokens": 9, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 2}}
    server = _sse_server(fake_server, _sse(
        _START, _block(0, type="text", text=""), _delta(0, type="text_delta", text="ok"), _end(0), final, _STOP))
    events, _ = await _stream(server.url)
    usage = events[-1].response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage.cache_write_tokens) == (19, 9, 4, 2)


async def test_message_delta_without_input_counts_keeps_the_start_counts(fake_server) -> None:
    zero_input = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"input_tokens": 0, "output_tokens": 9}}
    server = _sse_server(fake_server, _sse(
        _START, _block(0, type="text", text=""), _delta(0, type="text_delta", text="ok"), _end(0), zero_input, _STOP))
    events, _ = await _stream(server.url)
    usage = events[-1].response.usage
    assert (usage.input_tokens, usage.output_tokens) == (7, 9)


async def test_stream_cut_before_message_stop_raises_with_the_partial_text(fake_server) -> None:
    server = _sse_server(fake_server, _sse(_START, _block(0, type="text", text=""), _delta(0, type="text_delta", text="Hel")))
    _, err = await _stream(server.url)
    assert err is not None and err.kind == "transient"
    assert err.partial is not None and err.partial.text == "Hel"


async def test_stream_accepts_a_whole_json_message_from_a_gateway(fake_server) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(_message({"type": "text", "text": "whole"}))

    events, err = await _stream(fake_server(handler).url)
    assert err is None
    assert [(e.type, e.text) for e in events[:1]] == [("text", "whole")]
    assert events[-1].response is not None and events[-1].response.text == "whole"


async def test_requests_carry_the_key_and_version_headers(fake_server) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(_message({"type": "text", "text": "hi"}))

    server = fake_server(handler)
    client = _client(server.url)
    await client.chat(ChatRequest(model="claude-test", messages=[Message.user("hi")]))
    await client.aclose()
    sent = server.requests[0]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/messages")
    assert sent["headers"]["x-api-key"] == KEY
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in sent["headers"]


async def test_list_models_follows_pages(fake_server) -> None:
    pages = {
        None: {"data": [{"id": "claude-a", "type": "model", "max_input_tokens": 200000, "max_tokens": 64000}],
               "has_more": True, "last_id": "claude-a"},
        "claude-a": {"data": [{"id": "claude-b", "type": "model"}], "has_more": False, "last_id": "claude-b"},
    }

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(pages[request.query.get("after_id")])

    server = fake_server(handler)
    client = _client(server.url)
    models = await client.list_models()
    await client.aclose()
    assert [(m.id, m.provider, m.context_window, m.max_output_tokens) for m in models] == [
        ("claude-a", "anthropic", 200000, 64000), ("claude-b", "anthropic", None, None)]
    assert models[0].source == "anthropic:/v1/models"


def test_the_key_never_shows_in_the_clients_repr() -> None:
    assert KEY not in repr(_client("http://127.0.0.1:9"))
