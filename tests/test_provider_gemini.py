"""Gemini's native client: request mapping, schema dialect, and reading answers and streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from assistant.errors import LLMError
from assistant.messages import ChatRequest, Message, ToolCall, ToolSpec
from assistant.providers import get_spec
from assistant.providers._gemini_schema import to_gemini_schema
from assistant.providers.base import collect
from assistant.providers.gemini import FINISH_REASONS, GeminiClient, build_body

WIRE = Path(__file__).parent / "fixtures" / "wire"
KEY = "gemini-test-key-7f3a9c"


def _request(messages: list[Message], **kw) -> ChatRequest:
    return ChatRequest(model=kw.pop("model", "gemini-2.5-flash"), messages=messages, **kw)


@contextlib.asynccontextmanager
async def _client(url: str) -> AsyncIterator[GeminiClient]:
    client = GeminiClient(get_spec("google"), api_key=KEY, base_url=url)
    try:
        yield client
    finally:
        await client.aclose()


def _json(payload: dict) -> web.Response:
    return web.Response(body=json.dumps(payload).encode(), content_type="application/json")


def _text_answer(text: str = "ok", **extra) -> dict:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}], **extra}


def _calls_then_results() -> list[Message]:
    calls = [ToolCall(id="c1", name="weather", arguments={"city": "Paris"}),
             ToolCall(id="c2", name="time", arguments={})]
    return [
        Message.user("weather and time?"),
        Message.assistant("", tool_calls=calls),
        Message.tool('{"temp": 21}', tool_call_id="c1"),
        Message.tool("12:00", tool_call_id="c2"),
    ]


# --- request building --------------------------------------------------------------------------

def test_system_messages_become_the_system_instruction() -> None:
    body = build_body(_request([Message.system("Be brief."), Message.user("hi")]))
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_gemma_gets_the_system_text_in_its_first_user_turn() -> None:
    body = build_body(_request([Message.system("Be brief."), Message.user("hi")], model="gemma-3-27b-it"))
    assert "systemInstruction" not in body
    assert body["contents"][0]["parts"][0]["text"] == "Be brief.\n\nhi"


def test_assistant_turns_are_sent_as_model_role_with_function_calls() -> None:
    body = build_body(_request(_calls_then_results()))
    model_turn = body["contents"][1]
    assert model_turn["role"] == "model"
    assert [p["functionCall"] for p in model_turn["parts"]] == [
        {"name": "weather", "args": {"city": "Paris"}}, {"name": "time", "args": {}}]


def test_consecutive_tool_results_share_one_user_turn() -> None:
    body = build_body(_request(_calls_then_results()))
    assert len(body["contents"]) == 3
    results = body["contents"][2]
    assert results["role"] == "user"
    assert [p["functionResponse"]["name"] for p in results["parts"]] == ["weather", "time"]


def test_a_json_object_tool_result_is_sent_parsed() -> None:
    body = build_body(_request(_calls_then_results()))
    parts = body["contents"][2]["parts"]
    assert parts[0]["functionResponse"]["response"] == {"result": {"temp": 21}}
    assert parts[1]["functionResponse"]["response"] == {"result": "12:00"}


async def test_thought_signatures_travel_back_to_google(fake_server) -> None:
    recording = json.loads((WIRE / "gemini-stream-sse-function-call-signature.json").read_text())
    server = fake_server(lambda r: web.Response(body=recording["response_body"].encode(),
                                                content_type="text/event-stream"))
    async with _client(server.url) as client:
        answer = await collect(client.stream(_request([Message.user("capital?")], model="gemini-3-pro-preview")))
    result = Message.tool("France", tool_call_id=answer.tool_calls[0].id)
    history = [Message.user("capital?"), answer.to_message(), result]
    body = build_body(_request(history, model="gemini-3-pro-preview"))
    assert body["contents"][1]["parts"][0]["thoughtSignature"] == answer.tool_calls[0].signature
    assert answer.tool_calls[0].signature.startswith("EpwICpkI")


def test_a_signature_from_another_provider_is_not_sent() -> None:
    call = ToolCall(id="c1", name="weather", arguments={}, signature="c2lnbmVkLWJ5LXNvbWVvbmUtZWxzZQ==")
    body = build_body(_request([Message.user("q"), Message.assistant("", tool_calls=[call])]))
    assert "thoughtSignature" not in body["contents"][1]["parts"][0]


def test_gemini_3_gets_the_skip_sentinel_for_calls_it_did_not_sign() -> None:
    calls = [ToolCall(id="c1", name="a", arguments={}), ToolCall(id="c2", name="b", arguments={})]
    history = [Message.user("q"), Message.assistant("", tool_calls=calls)]
    body = build_body(_request(history, model="gemini-3-flash-preview"))
    parts = body["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[1]


def test_tools_are_function_declarations_in_gemini_schema() -> None:
    tool = ToolSpec(name="weather", description="Weather now.",
                    parameters={"type": "object", "properties": {"city": {"type": "string"}},
                                "required": ["city"], "additionalProperties": False})
    body = build_body(_request([Message.user("q")], tools=[tool]))
    assert body["tools"] == [{"functionDeclarations": [{
        "name": "weather", "description": "Weather now.",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]}]


def test_a_tool_without_arguments_has_no_parameters() -> None:
    body = build_body(_request([Message.user("q")], tools=[ToolSpec(name="now")]))
    assert body["tools"][0]["functionDeclarations"][0] == {"name": "now", "description": ""}


@pytest.mark.parametrize(("choice", "config"), [
    ("auto", {"mode": "AUTO"}),
    ("none", {"mode": "NONE"}),
    ("required", {"mode": "ANY"}),
    ("weather", {"mode": "ANY", "allowedFunctionNames": ["weather"]}),
])
def test_tool_choice_maps_to_function_calling_config(choice: str, config: dict) -> None:
    body = build_body(_request([Message.user("q")], tools=[ToolSpec(name="weather")], tool_choice=choice))
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_generation_settings_go_to_generation_config() -> None:
    body = build_body(_request([Message.user("q")], max_tokens=50, temperature=0.2, stop=["END"]))
    assert body["generationConfig"] == {"maxOutputTokens": 50, "temperature": 0.2, "stopSequences": ["END"]}


@pytest.mark.parametrize(("effort", "thinking"), [
    ("off", {"thinkingBudget": 0}),
    ("low", {"thinkingBudget": 1024, "includeThoughts": True}),
    ("medium", {"thinkingBudget": 8192, "includeThoughts": True}),
    ("high", {"thinkingBudget": 24576, "includeThoughts": True}),
])
def test_reasoning_effort_sets_the_thinking_budget(effort: str, thinking: dict) -> None:
    body = build_body(_request([Message.user("q")], reasoning=effort))
    assert body["generationConfig"]["thinkingConfig"] == thinking


def test_reasoning_off_leaves_always_thinking_models_alone() -> None:
    body = build_body(_request([Message.user("q")], model="gemini-2.5-pro", reasoning="off"))
    assert "generationConfig" not in body


def test_response_schema_asks_for_json_in_gemini_schema() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    config = build_body(_request([Message.user("q")], response_schema=schema))["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}, "required": ["n"]}


def test_extra_is_merged_last_and_deeply() -> None:
    extra = {"generationConfig": {"topP": 0.5}, "safetySettings": []}
    body = build_body(_request([Message.user("q")], temperature=0.1, extra=extra))
    assert body["generationConfig"] == {"temperature": 0.1, "topP": 0.5}
    assert body["safetySettings"] == []


# --- schema dialect ----------------------------------------------------------------------------

def test_schema_drops_keywords_gemini_rejects() -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Args", "type": "object",
              "additionalProperties": False, "properties": {"n": {"type": "integer", "default": 3, "title": "N"}}}
    assert to_gemini_schema(schema) == {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}}


def test_schema_inlines_refs_from_defs() -> None:
    schema = {"$defs": {"City": {"type": "object", "properties": {"name": {"type": "string"}}}},
              "type": "object", "properties": {"city": {"$ref": "#/$defs/City", "description": "Where."}}}
    assert to_gemini_schema(schema)["properties"]["city"] == {
        "type": "OBJECT", "description": "Where.", "properties": {"name": {"type": "STRING"}}}


def test_schema_stops_a_recursive_ref_at_its_second_visit() -> None:
    kids = {"type": "array", "items": {"$ref": "#/$defs/Node"}}
    schema = {"$defs": {"Node": {"type": "object", "properties": {"kids": kids}}}, "$ref": "#/$defs/Node"}
    kids = to_gemini_schema(schema)["properties"]["kids"]
    assert kids["items"] == {"type": "OBJECT", "description": "A Node object."}


def test_schema_any_of_with_null_becomes_nullable() -> None:
    schema = {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "Count."}
    assert to_gemini_schema(schema) == {"type": "INTEGER", "description": "Count.", "nullable": True}


def test_schema_keeps_a_real_union_as_any_of() -> None:
    schema = {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]}
    assert to_gemini_schema(schema) == {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}], "nullable": True}


def test_schema_const_becomes_a_one_value_enum() -> None:
    assert to_gemini_schema({"const": "celsius"}) == {"type": "STRING", "enum": ["celsius"]}


def test_schema_type_list_takes_the_first_non_null_type() -> None:
    assert to_gemini_schema({"type": ["null", "number", "string"]}) == {"type": "NUMBER", "nullable": True}


def test_schema_keeps_only_supported_formats() -> None:
    assert to_gemini_schema({"type": "string", "format": "email"}) == {"type": "STRING"}
    assert to_gemini_schema({"type": "string", "format": "date-time"}) == {"type": "STRING", "format": "date-time"}
    assert to_gemini_schema({"type": "integer", "format": "int64"}) == {"type": "INTEGER", "format": "int64"}


def test_schema_required_lists_only_defined_properties() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "ghost"]}
    assert to_gemini_schema(schema)["required"] == ["a"]


def test_schema_gives_every_node_a_type() -> None:
    schema = {"type": "object", "properties": {"anything": {}, "tags": {"type": "array"},
                                               "inner": {"properties": {"x": {"type": "boolean"}}}}}
    props = to_gemini_schema(schema)["properties"]
    assert props["anything"] == {"type": "STRING"}
    assert props["tags"] == {"type": "ARRAY", "items": {"type": "STRING"}}
    assert props["inner"]["type"] == "OBJECT"


def test_schema_merges_all_of() -> None:
    schema = {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                        {"properties": {"b": {"type": "integer"}}}]}
    assert to_gemini_schema(schema) == {
        "type": "OBJECT", "properties": {"a": {"type": "STRING"}, "b": {"type": "INTEGER"}}, "required": ["a"]}


def test_schema_numeric_enum_moves_into_the_description() -> None:
    assert to_gemini_schema({"type": "integer", "enum": [1, 2]}) == {"type": "INTEGER", "description": "One of: 1, 2."}


def test_schema_empty_nested_object_keeps_its_type_without_properties() -> None:
    assert to_gemini_schema({"type": "object", "properties": {}}) == {"type": "OBJECT"}


# --- the wire ----------------------------------------------------------------------------------

async def test_the_key_travels_in_a_header_never_in_the_url(fake_server) -> None:
    server = fake_server(lambda r: _json(_text_answer()))
    async with _client(server.url) as client:
        await client.chat(_request([Message.user("hi")]))
    sent = server.requests[0]
    assert sent["headers"]["x-goog-api-key"] == KEY
    assert KEY not in json.dumps(sent["query"]) and KEY not in sent["path"]


async def test_a_models_prefixed_name_reaches_the_same_path(fake_server) -> None:
    server = fake_server(lambda r: _json(_text_answer()))
    async with _client(server.url) as client:
        await client.chat(_request([Message.user("hi")], model="models/gemini-2.5-flash"))
    assert server.requests[0]["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"


async def test_stream_asks_for_server_sent_events(fake_server) -> None:
    body = b'data: {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}]}\r\n\r\n'
    server = fake_server(lambda r: web.Response(body=body, content_type="text/event-stream"))
    async with _client(server.url) as client:
        await collect(client.stream(_request([Message.user("hi")])))
    assert server.requests[0]["path"].endswith(":streamGenerateContent")
    assert server.requests[0]["query"] == {"alt": "sse"}


async def test_usage_reads_thought_and_cached_tokens(fake_server) -> None:
    usage = {"promptTokenCount": 40, "candidatesTokenCount": 7, "thoughtsTokenCount": 90, "cachedContentTokenCount": 32}
    server = fake_server(lambda r: _json(_text_answer(usageMetadata=usage)))
    async with _client(server.url) as client:
        answer = await client.chat(_request([Message.user("hi")]))
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (40, 7)
    assert (answer.usage.reasoning_tokens, answer.usage.cached_tokens) == (90, 32)


async def test_a_blocked_prompt_finishes_as_content_filter(fake_server) -> None:
    server = fake_server(lambda r: _json({"promptFeedback": {"blockReason": "OTHER"}}))
    async with _client(server.url) as client:
        answer = await client.chat(_request([Message.user("hi")]))
    assert (answer.finish_reason, answer.raw_finish_reason) == ("content_filter", "OTHER")


async def test_a_malformed_function_call_finishes_as_error(fake_server) -> None:
    payload = {"candidates": [{"content": {"parts": []}, "finishReason": "MALFORMED_FUNCTION_CALL"}]}
    server = fake_server(lambda r: _json(payload))
    async with _client(server.url) as client:
        answer = await client.chat(_request([Message.user("hi")]))
    assert answer.finish_reason == "error"


def _chunked_server(body: bytes, size: int, content_type: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        for start in range(0, len(body), size):
            await response.write(body[start : start + size])
            await asyncio.sleep(0)
        await response.write_eof()
        return response

    return handler


@pytest.mark.parametrize("size", [1, 7, 64])
async def test_json_array_stream_survives_any_byte_split(fake_server, size: int) -> None:
    recording = json.loads((WIRE / "gemini-stream-json-array-thought-function-call.json").read_text())
    server = fake_server(_chunked_server(recording["response_body"].encode(), size, "application/json; charset=UTF-8"))
    async with _client(server.url) as client:
        answer = await collect(client.stream(_request([Message.user("names")])))
    assert answer.reasoning == recording["expected"]["reasoning"]
    assert [(c.name, c.arguments) for c in answer.tool_calls] == [("pelican_name_generator", {})]
    assert answer.finish_reason == "tool_calls"


async def test_an_error_inside_the_stream_raises_with_the_partial_text(fake_server) -> None:
    body = (b'data: {"candidates": [{"content": {"parts": [{"text": "Half an ans"}], "role": "model"}}]}\r\n\r\n'
            b'data: {"error": {"code": 503, "message": "The model is overloaded. Please try again later.",'
            b' "status": "UNAVAILABLE"}}\r\n\r\n')
    server = fake_server(lambda r: web.Response(body=body, content_type="text/event-stream"))
    async with _client(server.url) as client:
        with pytest.raises(LLMError) as caught:
            await collect(client.stream(_request([Message.user("hi")])))
    assert caught.value.partial is not None and caught.value.partial.text == "Half an ans"
    assert caught.value.provider == "google"


async def test_list_models_follows_pages_and_keeps_generative_models(fake_server) -> None:
    pages = {
        "": {"models": [{"name": "models/gemini-2.5-flash", "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
                         "supportedGenerationMethods": ["generateContent", "countTokens"]},
                        {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]}],
             "nextPageToken": "p2"},
        "p2": {"models": [{"name": "models/gemma-3-27b-it", "inputTokenLimit": 131072, "outputTokenLimit": 8192,
                           "supportedGenerationMethods": ["generateContent"]}]},
    }
    server = fake_server(lambda r: _json(pages[r.query.get("pageToken", "")]))
    async with _client(server.url) as client:
        models = await client.list_models()
    assert [(m.id, m.context_window, m.max_output_tokens) for m in models] == [
        ("gemini-2.5-flash", 1048576, 65536), ("gemma-3-27b-it", 131072, 8192)]
    assert [m.supports_tools for m in models] == [True, False]


# Candidate.FinishReason as documented by the Gemini API and by Vertex AI (which adds MODEL_ARMOR).
_DOCUMENTED_FINISH_REASONS = (
    "FINISH_REASON_UNSPECIFIED", "STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "LANGUAGE", "OTHER", "BLOCKLIST",
    "PROHIBITED_CONTENT", "SPII", "MALFORMED_FUNCTION_CALL", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_OTHER",
    "NO_IMAGE", "IMAGE_RECITATION", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "MISSING_THOUGHT_SIGNATURE",
    "MALFORMED_RESPONSE", "MODEL_ARMOR",
)
_SAFETY_FINISH_REASONS = ("SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "MODEL_ARMOR",
                          "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION")


def test_every_documented_finish_reason_has_a_mapping() -> None:
    assert set(_DOCUMENTED_FINISH_REASONS) <= set(FINISH_REASONS)


@pytest.mark.parametrize("reason", _SAFETY_FINISH_REASONS)
async def test_a_safety_finish_reason_is_a_content_filter(fake_server, reason: str) -> None:
    answer = {"candidates": [{"content": {"role": "model", "parts": [{"text": "par"}]}, "finishReason": reason}]}
    server = fake_server(lambda r: _json(answer))
    async with _client(server.url) as client:
        response = await client.chat(_request([Message.user("hi")]))
    assert (response.finish_reason, response.raw_finish_reason) == ("content_filter", reason)
