"""Bedrock Converse / ConverseStream on documented bodies: SigV4 against AWS's suite vectors, the
event-stream framing against published frames, and the wire through a local fake of the service."""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from assistant.errors import LLMError, UsageError
from assistant.messages import ChatRequest, Message, ToolCall, ToolSpec
from assistant.providers import create_client
from assistant.providers._eventstream import EventStreamDecoder, encode_message
from assistant.providers.base import collect
from assistant.providers.bedrock_auth import AwsCredentials, find_credentials, region, sign_v4

SUITE = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_TIME = calendar.timegm(time.strptime("20150830T123600Z", "%Y%m%dT%H%M%SZ"))
WEATHER = ToolSpec(name="get_weather", description="Current weather for a city",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def _suite_signature(method: str, query: str = "") -> str:
    headers = sign_v4(method, "example.amazonaws.com", "/", b"", SUITE, region="us-east-1", service="service",
                      query=query, now=SUITE_TIME, payload_header=False)
    return headers["Authorization"].rsplit("Signature=", 1)[1]


@pytest.mark.parametrize(("method", "query", "signature"), [
    ("GET", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),  # get-vanilla
    ("POST", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),  # post-vanilla
    ("GET", "Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
])
def test_sigv4_matches_the_aws_suite_vectors(method: str, query: str, signature: str) -> None:
    assert _suite_signature(method, query) == signature


def test_sigv4_signs_the_session_token_and_scopes_to_bedrock() -> None:
    creds = AwsCredentials("AKID", "secret", "token-1")
    headers = sign_v4("POST", "bedrock-runtime.eu-west-1.amazonaws.com", "/model/m/converse", b"{}", creds,
                      region="eu-west-1", now=SUITE_TIME)
    assert headers["x-amz-security-token"] == "token-1"
    assert "/20150830/eu-west-1/bedrock/aws4_request" in headers["Authorization"]
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token" in headers["Authorization"]


def test_event_stream_decodes_the_published_frames_across_chunk_boundaries() -> None:
    plain = bytes([0, 0, 0, 30, 0, 0, 0, 0, 186, 242, 246, 138]) + b'{"foo": "bar"}' + bytes([174, 114, 88, 228])
    bedrock = bytes.fromhex(
        "0000009400000057b4ab9aee0b3a6576656e742d74797065070011636f6e74656e74426c6f636b44656c74610d3a636f6e74656e74"
        "2d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e7465"
        "6e74426c6f636b496e646578223a302c2264656c7461223a7b2274657874223a224869227d7d1f944657")
    decoder = EventStreamDecoder()
    data = plain + bedrock
    out = [m for i in range(0, len(data), 7) for m in decoder.feed(data[i : i + 7])]
    assert out[0] == ({}, b'{"foo": "bar"}')
    assert out[1][0][":event-type"] == "contentBlockDelta"
    assert json.loads(out[1][1]) == {"contentBlockIndex": 0, "delta": {"text": "Hi"}}
    assert decoder.pending == 0


def test_event_stream_rejects_a_corrupted_frame() -> None:
    frame = bytearray(encode_message({":event-type": "messageStop"}, b'{"stopReason":"end_turn"}'))
    frame[-6] ^= 0xFF
    with pytest.raises(LLMError, match="checksum"):
        list(EventStreamDecoder().feed(bytes(frame)))


# --- the wire through a local fake ----------------------------------------------------------------

CONVERSE_TOOL_USE = {
    "output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "think", "signature": "sig-1"}}},
        {"text": "Let me check."},
        {"toolUse": {"toolUseId": "tooluse_abc123", "name": "get_weather", "input": {"city": "Paris"}}},
    ]}},
    "stopReason": "tool_use",
    "usage": {"inputTokens": 30, "outputTokens": 12, "totalTokens": 42, "cacheReadInputTokens": 4, "cacheWriteInputTokens": 0},
    "metrics": {"latencyMs": 1234},
}


def _event(name: str, payload: dict) -> bytes:
    return encode_message({":event-type": name, ":content-type": "application/json", ":message-type": "event"},
                          orjson.dumps(payload))


STREAM = b"".join([
    _event("messageStart", {"role": "assistant"}),
    _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
    _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "lo"}}),
    _event("contentBlockStop", {"contentBlockIndex": 0}),
    _event("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "get_weather"}}}),
    _event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\":"}}}),
    _event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
    _event("contentBlockStop", {"contentBlockIndex": 1}),
    _event("messageStop", {"stopReason": "tool_use"}),
    _event("metadata", {"usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7}, "metrics": {"latencyMs": 9}}),
])


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-test-0000")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(var, raising=False)


def _binary(body: bytes):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "application/vnd.amazon.eventstream"})

    return handler


async def test_converse_maps_text_reasoning_tool_use_and_usage(aws_env, fake_server) -> None:
    server = fake_server(lambda r: web.json_response(CONVERSE_TOOL_USE))
    client = create_client("bedrock", base_url=server.url)
    request = ChatRequest(model="us.anthropic.claude-sonnet-4-5-20250929-v1:0", tools=[WEATHER], messages=[
        Message.system("Be brief."), Message.user("Weather in Paris?")])
    response = await client.chat(request)
    await client.aclose()
    assert (response.text, response.reasoning, response.finish_reason) == ("Let me check.", "think", "tool_calls")
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [("tooluse_abc123", "get_weather", {"city": "Paris"})]
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.cached_tokens) == (30, 12, 4)
    sent = server.requests[0]
    assert sent["path"] == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/converse"
    assert sent["json"]["system"] == [{"text": "Be brief."}]
    assert sent["json"]["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"] == WEATHER.parameters
    assert sent["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
    assert "/eu-west-1/bedrock/aws4_request" in sent["headers"]["Authorization"]


async def test_tool_results_of_one_turn_travel_in_one_user_message(aws_env, fake_server) -> None:
    server = fake_server(lambda r: web.json_response({"output": {"message": {"role": "assistant", "content": [{"text": "18C"}]}},
                                                      "stopReason": "end_turn"}))
    client = create_client("bedrock", base_url=server.url)
    calls = [ToolCall(id="a", name="get_weather", arguments={"city": "Paris"}),
             ToolCall(id="b", name="get_weather", arguments={"city": "Rome"})]
    await client.chat(ChatRequest(model="amazon.nova-lite-v1:0", tools=[WEATHER], messages=[
        Message.user("Paris and Rome?"), Message.assistant("", calls),
        Message.tool("18C", "a", "get_weather"), Message.tool("", "b", "get_weather")]))
    await client.aclose()
    turns = server.requests[0]["json"]["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert [b["toolResult"]["toolUseId"] for b in turns[2]["content"]] == ["a", "b"]
    assert turns[2]["content"][1]["toolResult"]["content"] == [{"text": "(empty)"}]  # blank text is rejected


async def test_converse_stream_assembles_text_tool_input_fragments_and_usage(aws_env, fake_server) -> None:
    server = fake_server(_binary(STREAM))
    client = create_client("bedrock", base_url=server.url)
    events = [e async for e in client.stream(ChatRequest(model="amazon.nova-lite-v1:0", tools=[WEATHER],
                                                         messages=[Message.user("hi")], stream=True))]
    await client.aclose()
    done = events[-1].response
    assert [e.text for e in events if e.type == "text"] == ["Hel", "lo"]
    assert (done.text, done.finish_reason) == ("Hello", "tool_calls")
    assert [(c.name, c.arguments) for c in done.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert (done.usage.input_tokens, done.usage.output_tokens) == (5, 2)
    assert server.requests[0]["path"].endswith("/converse-stream")


async def test_a_stream_without_message_stop_is_an_error_carrying_the_partial(aws_env, fake_server) -> None:
    cut = STREAM.split(_event("messageStop", {"stopReason": "tool_use"}))[0][:-10]
    client = create_client("bedrock", base_url=fake_server(_binary(cut)).url)
    with pytest.raises(LLMError) as caught:
        await collect(client.stream(ChatRequest(model="m", messages=[Message.user("hi")], stream=True)))
    await client.aclose()
    assert caught.value.kind == "transient"
    assert caught.value.partial is not None and caught.value.partial.text == "Hello"
    assert caught.value.partial.tool_calls == []  # the unfinished tool input never becomes a call


async def test_an_exception_frame_mid_stream_is_classified(aws_env, fake_server) -> None:
    body = _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}) + encode_message(
        {":exception-type": "throttlingException", ":content-type": "application/json", ":message-type": "exception"},
        b'{"message":"Too many requests, please wait before trying again."}')
    client = create_client("bedrock", base_url=fake_server(_binary(body)).url)
    with pytest.raises(LLMError) as caught:
        await collect(client.stream(ChatRequest(model="m", messages=[Message.user("hi")], stream=True)))
    await client.aclose()
    assert caught.value.kind == "rate_limit"
    assert caught.value.partial.text == "Hi"


@pytest.mark.parametrize(("status", "error_type", "message", "kind"), [
    (400, "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
     "The model returned the following errors: Input is too long for requested model.", "context_overflow"),
    (429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", "Too many requests", "rate_limit"),
    (403, "AccessDeniedException", "You don't have access to the model with the specified model ID.", "auth"),
    (404, "ResourceNotFoundException", "The provided model identifier is invalid.", "not_found"),
    (503, "ServiceUnavailableException", "Service unavailable", "transient"),
])
async def test_http_errors_are_classified_by_their_error_type(aws_env, fake_server, status, error_type, message, kind) -> None:
    server = fake_server(lambda r: web.json_response({"message": message}, status=status,
                                                     headers={"x-amzn-ErrorType": error_type}))
    client = create_client("bedrock", base_url=server.url)
    with pytest.raises(LLMError) as caught:
        await client.chat(ChatRequest(model="m", messages=[Message.user("hi")]))
    await client.aclose()
    assert (caught.value.kind, caught.value.provider) == (kind, "bedrock")


async def test_a_bedrock_api_key_is_sent_as_a_bearer_token_without_signing(aws_env, fake_server, monkeypatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key-0000")
    server = fake_server(lambda r: web.json_response({"output": {"message": {"content": [{"text": "ok"}]}}, "stopReason": "end_turn"}))
    client = create_client("bedrock", base_url=server.url)
    assert (await client.chat(ChatRequest(model="m", messages=[Message.user("hi")]))).text == "ok"
    await client.aclose()
    assert server.requests[0]["headers"]["Authorization"] == "Bearer bedrock-key-0000"
    assert "X-Amz-Date" not in server.requests[0]["headers"]


def test_credentials_and_region_come_from_the_profile_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = s1\n"
                                          "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s2\naws_session_token = t2\n")
    (tmp_path / "config").write_text("[default]\nregion = us-west-2\n[profile dev]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "dev")
    creds = find_credentials()
    assert (creds.access_key, creds.session_token, region()) == ("AKIDDEV", "t2", "ap-south-1")
    assert "s2" not in repr(creds)
    assert create_client("bedrock").base_url == "https://bedrock-runtime.ap-south-1.amazonaws.com"


def test_missing_aws_credentials_name_every_way_to_provide_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
                "AWS_BEARER_TOKEN_BEDROCK", "BEDROCK_API_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(UsageError, match="AWS_ACCESS_KEY_ID.*~/.aws/credentials.*AWS_BEARER_TOKEN_BEDROCK"):
        create_client("aws-bedrock")
