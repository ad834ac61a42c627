"""The OpenAI-compatible client against the real llama.cpp server running SmolLM2-135M."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from assistant import local
from assistant.errors import ContextOverflowError
from assistant.messages import ChatRequest, Message
from assistant.providers import create_client
from assistant.providers.base import collect

pytestmark = pytest.mark.llama


async def test_chat_returns_text_and_usage(llama_url: str) -> None:
    client = create_client("llama", base_url=llama_url)
    try:
        response = await client.chat(ChatRequest(model="smollm2", messages=[Message.user("Say hello.")], max_tokens=8))
    finally:
        await client.aclose()
    assert response.text.strip()
    assert response.provider == "llama"
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens <= 8
    assert response.finish_reason in ("stop", "length")


async def test_stream_deltas_add_up_to_the_done_response(llama_url: str) -> None:
    client = create_client("llama", base_url=llama_url)
    request = ChatRequest(model="smollm2", messages=[Message.user("Count to five.")], max_tokens=12)
    texts: list[str] = []
    done = None
    try:
        async for event in client.stream(request):
            if event.type == "text":
                texts.append(event.text or "")
            elif event.type == "done":
                done = event.response
    finally:
        await client.aclose()
    assert done is not None
    assert len(texts) > 1
    assert "".join(texts) == done.text
    assert done.usage.output_tokens == 12 or done.finish_reason == "stop"


async def test_list_models_reports_the_runtime_context_window(llama_url: str) -> None:
    client = create_client("llama", base_url=llama_url)
    try:
        models = await client.list_models()
    finally:
        await client.aclose()
    assert [m.id for m in models] == ["smollm2"]
    assert models[0].context_window == 2048
    assert models[0].provider == "llama"


async def test_prompt_over_the_window_raises_overflow_with_both_numbers(llama_url: str) -> None:
    client = create_client("llama", base_url=llama_url)
    huge = "hello world " * 1500
    try:
        with pytest.raises(ContextOverflowError) as info:
            await client.chat(ChatRequest(model="smollm2", messages=[Message.user(huge)]))
        with pytest.raises(ContextOverflowError):
            await collect(client.stream(ChatRequest(model="smollm2", messages=[Message.user(huge)])))
    finally:
        await client.aclose()
    err = info.value
    assert err.context_window == 2048
    assert err.prompt_tokens is not None and err.prompt_tokens > 2048
    assert err.provider == "llama"


def test_cli_local_start_status_stop_round_trip(tmp_path) -> None:
    if not local.available():
        pytest.skip("local model not installed")
    env = {**os.environ, "ASSISTANT_HOME": str(tmp_path / "home")}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "assistant", "local", *args], env=env, capture_output=True, text=True, timeout=120
    )
    started = run("start", "--ctx-size", "512", "--name", "cli-test")
    assert started.returncode == 0, started.stderr
    try:
        status = run("status", "--json", "--name", "cli-test")
        assert status.returncode == 0
        info = json.loads(status.stdout)
        assert info["url"].startswith("http://127.0.0.1:")
        assert info["ctx_size"] == 512
    finally:
        stopped = run("stop", "--name", "cli-test")
    assert stopped.returncode == 0
    assert run("status", "--name", "cli-test").returncode == 1
