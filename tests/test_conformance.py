"""Every real wire recording in tests/fixtures/wire, replayed through a local server into our clients.

One contract suite over all providers: the recorded body is served byte for byte with its status and
Content-Type; the client must reproduce the text, tool calls, reasoning, finish reason, usage and, for
error recordings, the error kind (with the partial output for errors inside a 200 stream).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from assistant.errors import LLMError
from assistant.messages import ChatRequest, ChatResponse, Message, ToolSpec
from assistant.providers import create_client
from assistant.providers.base import collect

WIRE = Path(__file__).parent / "fixtures" / "wire"
RECORDINGS = sorted(WIRE.glob("*.json"))

PROVIDER_NAMES = {"llamacpp": "llama", "gemini": "google"}

# The kind a correct classifier gives each error recording (the recordings carry the raw error only).
ERROR_KINDS = {
    "anthropic-error-404-not-found.json": "not_found",
    "gemini-stream-error-400-invalid-key.json": "auth",
    "groq-stream-error-event.json": "bad_request",
    "ollama-error-400-tools-unsupported.json": "tools_unsupported",
    "openai-error-400-unsupported-value.json": "bad_request",
    "openai-error-404-model-not-found.json": "not_found",
    "openrouter-error-429-rate-limit.json": "rate_limit",
    "openrouter-stream-error-chunk.json": "bad_request",
}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _serve(recording: dict[str, Any]):
    body = recording["response_body"].encode()
    content_type = recording.get("content_type") or "application/json"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=recording["status"], body=body, headers={"Content-Type": content_type})

    return handler


def _request(recording: dict[str, Any]) -> ChatRequest:
    raw = recording.get("request") or {}
    model = raw.get("model") or _model_from_endpoint(recording["endpoint"]) or "test-model"
    tools = []
    if raw.get("tools"):
        tools = [ToolSpec(name="recorded_tool", description="placeholder for the recorded tools")]
    return ChatRequest(model=model, messages=[Message.user("replayed")], tools=tools, stream=recording["stream"])


def _model_from_endpoint(endpoint: str) -> str | None:
    if "/models/" in endpoint:
        return endpoint.split("/models/", 1)[1].split(":", 1)[0]
    return None


async def _run(recording: dict[str, Any], url: str) -> tuple[ChatResponse | None, LLMError | None]:
    provider = PROVIDER_NAMES.get(recording["provider"], recording["provider"])
    client = create_client(provider, api_key="test-key-0000000000", base_url=url)
    request = _request(recording)
    try:
        if recording["stream"]:
            return await collect(client.stream(request)), None
        return await client.chat(request), None
    except LLMError as err:
        return None, err
    finally:
        await client.aclose()


def _check_output(response: ChatResponse, recording: dict[str, Any]) -> None:
    expected = recording["expected"]
    extra = recording.get("expected_extra") or {}
    assert response.text == (expected["text"] or "")
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        (c["name"], c["arguments"]) for c in expected["tool_calls"]
    ]
    assert response.reasoning == expected["reasoning"]
    ids = extra.get("tool_call_ids")
    if ids:
        for call, want in zip(response.tool_calls, ids, strict=True):
            if want is not None:
                assert call.id == want
    if "error" not in expected:
        assert response.raw_finish_reason == expected["finish_reason"]
        if extra.get("finish_reason_normalized"):
            assert response.finish_reason == extra["finish_reason_normalized"]
    if expected["usage"] is not None:
        assert response.usage.input_tokens == expected["usage"]["input_tokens"]
        assert response.usage.output_tokens == expected["usage"]["output_tokens"]
    if "reasoning_tokens" in extra:
        assert response.usage.reasoning_tokens == extra["reasoning_tokens"]
    for key in ("cached_input_tokens", "cache_read_input_tokens"):
        if key in extra:
            assert response.usage.cached_tokens == extra[key]
    for key in ("cache_write_tokens", "cache_creation_input_tokens"):
        if key in extra:
            assert response.usage.cache_write_tokens == extra[key]
    if "cost" in extra:
        assert response.usage.cost == pytest.approx(extra["cost"])


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
async def test_recording_replays_to_expected_result(path: Path, fake_server) -> None:
    recording = _load(path)
    server = fake_server(_serve(recording))
    response, error = await _run(recording, server.url)
    if "error" in recording["expected"]:
        assert error is not None, "an error recording must raise an LLMError"
        assert error.kind == ERROR_KINDS[path.name]
        assert error.provider == PROVIDER_NAMES.get(recording["provider"], recording["provider"])
        if recording["status"] == 200:
            assert error.partial is not None, "an in-stream error must carry the partial output"
            _check_output(error.partial, recording)
        return
    assert error is None, f"unexpected error: {error!r}"
    assert response is not None
    _check_output(response, recording)


def test_every_recording_is_replayed() -> None:
    assert len(RECORDINGS) == 61
    errors = [p.name for p in RECORDINGS if "error" in _load(p)["expected"]]
    assert sorted(errors) == sorted(ERROR_KINDS)
