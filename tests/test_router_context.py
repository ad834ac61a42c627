"""The router within context windows: its default compactor, compaction reports and failures, Ollama's
num_ctx and silent truncation, length continuation, learned windows, unpulled Ollama models (FakeClient)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import FakeClient, FakeClock

from assistant.catalog import ModelCatalog
from assistant.context import CONTINUE_INSTRUCTION, Compactor
from assistant.errors import AllModelsFailedError, ContextOverflowError, TransientError
from assistant.messages import ChatResponse, Message, ModelInfo, StreamEvent, ToolCall, ToolSpec, Usage
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router._candidates import plan
from assistant.router.policies import RouterPolicy

TOOLS = [ToolSpec(name="lookup", description="Look a word up.", parameters={"type": "object", "properties": {"q": {"type": "string"}}})]
LONG = "The yellow tram number 28 climbs the steep hills of Lisbon past the cathedral. "


def answer(text: str = "ok", **fields: Any) -> Any:
    return lambda req: ChatResponse(text=text, model=req.model, **fields)


class Catalog:
    """A catalog double: ``get`` answers from a dict; ``learn`` records what it was told."""

    def __init__(self, **windows: int) -> None:
        self.windows = {k.replace("__", "/"): v for k, v in windows.items()}
        self.learned: dict[str, int] = {}
        self.listed: list[ModelInfo] = []

    def get(self, model_id: str) -> ModelInfo | None:
        window = self.windows.get(model_id)
        provider, model = model_id.split("/", 1)
        return ModelInfo(id=model, provider=provider, context_window=window) if window else None

    def learn(self, model_id: str, *, context_window: int, source: str = "") -> None:
        self.learned[model_id] = context_window

    def models(self, provider: str | None = None) -> list[ModelInfo]:
        return [m for m in self.listed if provider is None or m.provider == provider]


class FreeModels:
    """A free-models store double: ``fallback_chain`` returns fixed entries."""

    def __init__(self, *entries: Any) -> None:
        self.entries = entries

    def fallback_chain(self, tools: bool = False) -> list[Any]:
        return list(self.entries)


class Entry:
    def __init__(self, id: str, context_window: int | None = None) -> None:
        self.id, self.context_window, self.supports_tools, self.local = id, context_window, True, False


def make_router(clients: dict[str, FakeClient], *, kinds: dict[str, str] | None = None, **kw: Any) -> Router:
    registry = LLMRegistry()
    for name, client in clients.items():
        kind = (kinds or {}).get(name, "openai")
        registry.add_provider(name, kind=kind, base_url="http://127.0.0.1:9", api_key="k", client=client)
    clock = FakeClock()
    policy = RouterPolicy(clock=clock.time, sleep=clock.sleep, random=random.Random(1),
                          continue_on_length=kw.pop("continue_on_length", True))
    return Router(registry, policy=policy, **kw)


def conversation(turns: int, *, words: int = 60) -> list[Message]:
    history = [Message.system("You are a helpful assistant.")]
    for i in range(turns):
        history += [Message.user(f"Tell me fact {i}. " + LONG * (words // 14)), Message.assistant(f"Fact {i}: Lisbon has hills.")]
    return history + [Message.user("What is the capital of Portugal?")]


# --- 1. a compactor by default ------------------------------------------------------------------

async def test_without_a_compactor_argument_the_router_compacts_with_context_compactor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODEL_SUMMARY", "tiny/m")

    def handler(req: Any) -> Any:
        if req.messages[0].content.startswith("You condense conversations"):
            return ChatResponse(text="The user asked for facts about Lisbon.", model=req.model)
        return ChatResponse(text="Lisbon.", model=req.model)

    client = FakeClient(handler)
    router = make_router({"tiny": client}, catalog=Catalog(tiny__m=1500))
    resp = await router.chat("tiny/m", conversation(12), max_tokens=20)
    assert resp.text == "Lisbon." and isinstance(router.compactor, Compactor)
    assert resp.attempts[1].detail.startswith("context compacted (summarize)")
    assert "The user asked for facts about Lisbon." in client.requests[-1].messages[0].content


async def test_compactor_false_turns_compaction_off() -> None:
    client = FakeClient(answer())
    router = make_router({"tiny": client}, catalog=Catalog(tiny__m=400), compactor=False)
    with pytest.raises(AllModelsFailedError):
        await router.chat("tiny/m", conversation(6), max_tokens=20)
    assert router.compactor is None and client.requests == []


def test_making_a_router_does_not_import_the_compaction_module() -> None:
    code = ("import sys; from assistant.router import Router; from assistant.registry import LLMRegistry; "
            "Router(LLMRegistry()); print('assistant.context.compaction' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


# --- 2. tools count, every step is reported -----------------------------------------------------

async def test_the_tool_specs_are_handed_to_the_compactor() -> None:
    seen: list[list[ToolSpec]] = []

    async def compactor(messages: list[Message], budget: int, model_id: str, *, tools: list[ToolSpec]) -> list[Message]:
        seen.append(tools)
        return messages[-1:]

    router = make_router({"tiny": FakeClient(answer())}, catalog=Catalog(tiny__m=400), compactor=compactor)
    await router.chat("tiny/m", conversation(6), TOOLS, max_tokens=20)
    assert seen == [TOOLS]


async def test_each_compaction_step_is_a_status_event_and_part_of_the_attempt() -> None:
    inner = Compactor()
    steps: list[Any] = []

    async def compactor(messages: list[Message], budget: int, model_id: str, *, tools: list[ToolSpec]) -> Any:
        result = await inner(messages, budget, model_id, tools=tools)
        steps.extend(result.steps)
        return result

    history = [Message.system("Be brief."), Message.user("Read the log."),
               Message.assistant("", tool_calls=[ToolCall(id="c1", name="lookup", arguments={"q": "log"})]),
               Message.tool("line of log output\n" * 600, tool_call_id="c1", name="lookup"),
               Message.assistant("The log is long."), *conversation(4)[1:]]
    router = make_router({"tiny": FakeClient(answer("done"))}, catalog=Catalog(tiny__m=600), compactor=compactor)
    events = [e async for e in router.stream("tiny/m", history, max_tokens=20)]
    assert len(steps) >= 2
    reported = [e.text for e in events if e.type == "status" and "context compacted" in (e.text or "")]
    assert reported == [f"tiny/m: {step.describe()}" for step in steps]
    attempt = next(a for a in events[-1].response.attempts if a.detail.startswith("context compacted"))
    assert attempt.detail == "; ".join(step.describe() for step in steps)


# --- 3. a history that cannot fit ---------------------------------------------------------------

async def test_a_history_that_cannot_fit_fails_with_the_compactors_sizes_and_advice() -> None:
    router = make_router({"tiny": FakeClient(answer())}, catalog=Catalog(tiny__m=100))
    with pytest.raises(AllModelsFailedError) as info:
        await router.chat("tiny/m", [Message.system("Be brief."), Message.user(LONG * 40)], max_tokens=20)
    message = str(info.value)
    assert "cannot be compacted to fit on tiny/m" in message
    assert "use a model with a bigger context window" in message
    assert info.value.kind == "context_overflow"
    assert info.value.attempts[-1].detail.startswith("compaction failed: the conversation cannot be compacted")


async def test_compaction_that_finds_nothing_to_cut_never_resends_the_prompt() -> None:
    def overflow(req: Any) -> Any:
        raise ContextOverflowError("maximum context length is 8192 tokens", context_window=8192, prompt_tokens=9000, status=400)

    client = FakeClient(overflow)
    router = make_router({"small": client})
    with pytest.raises(AllModelsFailedError) as info:
        await router.chat("small/m", [Message.user("hi")])
    assert len(client.requests) == 1
    assert info.value.attempts[-1].detail.startswith("compaction found nothing to cut")


# --- 4. Ollama ----------------------------------------------------------------------------------

def ollama_router(clients: dict[str, FakeClient], **kw: Any) -> Router:
    return make_router(clients, kinds={name: "ollama" for name in clients if name != "big"}, **kw)


def honest(req: Any) -> Any:
    return ChatResponse(text="ok", model=req.model, usage=Usage(input_tokens=40, output_tokens=2))


async def test_ollama_requests_carry_num_ctx_from_the_catalog() -> None:
    client = FakeClient(honest)
    router = ollama_router({"lab": client}, catalog=Catalog(lab__m=8192))
    await router.chat("lab/m", [Message.user("hi")])
    assert client.requests[0].extra == {"num_ctx": 8192}


async def test_a_callers_own_num_ctx_is_kept() -> None:
    client = FakeClient(honest)
    router = ollama_router({"lab": client}, catalog=Catalog(lab__m=8192))
    await router.chat("lab/m", [Message.user("hi")], extra={"num_ctx": 1024})
    assert client.requests[0].extra == {"num_ctx": 1024}


async def test_other_providers_get_no_num_ctx() -> None:
    client = FakeClient(honest)
    router = make_router({"groq": client}, catalog=Catalog(groq__m=8192))
    await router.chat("groq/m", [Message.user("hi")])
    assert client.requests[0].extra == {}


async def test_a_capped_num_ctx_becomes_the_models_runtime_window_in_the_catalog() -> None:
    client = FakeClient(honest)
    catalog = ModelCatalog()
    router = make_router({"ollama": client}, kinds={"ollama": "ollama"}, catalog=catalog)
    await router.chat("ollama/llama3.2:3b", [Message.user("hi")])
    assert client.requests[0].extra == {"num_ctx": 32768}
    assert catalog.get("ollama/llama3.2:3b").context_window == 32768
    assert catalog.sources("ollama/llama3.2:3b")["context_window"].startswith("learned")


async def test_a_prompt_longer_than_num_ctx_is_skipped_before_ollama_can_cut_it() -> None:
    client, big = FakeClient(honest), FakeClient(answer("big"))
    router = ollama_router({"lab": client, "big": big}, catalog=Catalog(lab__m=131072), compactor=False)
    resp = await router.chat(["lab/m", "big/m"], [Message.user(LONG * 2500)])
    assert resp.text == "big" and client.requests == []
    assert resp.attempts[0].detail.startswith("skipped: window 32768")


def cutting(req: Any) -> Any:
    """Like Ollama at its default num_ctx 2048: a long prompt keeps num_ctx/2 + 2 tokens, still a 200."""
    size = sum(len(m.content) for m in req.messages)
    evaluated = 1026 if size > 8000 else size // 4
    usage = Usage(input_tokens=evaluated, output_tokens=5)
    return ChatResponse(text=f"answer to {evaluated} tokens", model=req.model, usage=usage)


async def test_an_answer_to_a_prompt_ollama_cut_is_not_returned() -> None:
    router = ollama_router({"lab": FakeClient(cutting), "big": FakeClient(answer("from big"))}, catalog=Catalog(big__m=131072))
    resp = await router.chat(["lab/m", "big/m"], [Message.user(LONG * 200)])
    assert resp.text == "from big"
    assert resp.attempts[0].kind == "context_overflow"
    assert resp.attempts[0].detail.startswith("Ollama evaluated only 1026 of the prompt's")


async def test_a_cut_ollama_prompt_with_nothing_bigger_is_compacted_to_the_window_it_showed() -> None:
    budgets: list[int] = []

    async def compactor(messages: list[Message], budget: int, model_id: str, *, tools: list[ToolSpec]) -> list[Message]:
        budgets.append(budget)
        return [Message.user("short now")]

    client = FakeClient(cutting)
    router = ollama_router({"lab": client}, compactor=compactor)
    resp = await router.chat("lab/m", [Message.user(LONG * 200)])
    assert resp.text.startswith("answer to") and len(client.requests) == 2
    # Ollama kept num_ctx/2 + 2 = 1026 tokens: its window is 2048, which the retry names explicitly;
    # a quarter of it stays free for the answer.
    assert budgets == [int(2048 * 0.9) - 2048 // 4]
    assert client.requests[1].extra == {"num_ctx": 2048}


async def test_a_streamed_answer_to_a_cut_prompt_never_reaches_the_consumer() -> None:
    router = ollama_router({"lab": FakeClient(cutting), "big": FakeClient(answer("from big"))}, catalog=Catalog(big__m=131072))
    events = [e async for e in router.stream(["lab/m", "big/m"], [Message.user(LONG * 200)])]
    assert [e.text for e in events if e.type == "text"] == ["from big"]


class TwoPhase(FakeClient):
    """Streams its text, then notes that the stream finished before sending ``done``."""

    def __init__(self, evaluated: int) -> None:
        super().__init__(honest)
        self.evaluated = evaluated
        self.order: list[str] = []

    async def stream(self, request: Any) -> Any:
        self.requests.append(request)
        yield StreamEvent(type="text", text="ok")
        self.order.append("finished")
        usage = Usage(input_tokens=self.evaluated, output_tokens=1)
        yield StreamEvent(type="done", response=ChatResponse(text="ok", model=request.model, usage=usage))


async def stream_order(client: TwoPhase, prompt: str) -> list[str]:
    router = ollama_router({"lab": client})
    async for event in router.stream("lab/m", [Message.user(prompt)]):
        if event.type == "text":
            client.order.append("text")
    return client.order


async def test_a_streamed_ollama_answer_to_a_short_prompt_is_not_held_back() -> None:
    assert await stream_order(TwoPhase(evaluated=10), "hi") == ["text", "finished"]


async def test_a_long_ollama_stream_is_delivered_once_its_count_shows_the_whole_prompt_was_read() -> None:
    assert await stream_order(TwoPhase(evaluated=4500), LONG * 200) == ["finished", "text"]


# --- 5. length continuation ---------------------------------------------------------------------

def scripted(*replies: tuple[str, str]) -> FakeClient:
    queue = list(replies)

    def handler(req: Any) -> Any:
        text, finish = queue.pop(0)
        return ChatResponse(text=text, finish_reason=finish, model=req.model, usage=Usage(input_tokens=30, output_tokens=10))

    return FakeClient(handler)


async def test_an_answer_cut_by_the_default_output_limit_is_continued_and_joined() -> None:
    client = scripted(("Mercury, Venus, Ea", "length"), ("Earth, Mars.", "stop"))
    router = make_router({"m": client}, catalog=Catalog(m__x=8192))
    resp = await router.chat("m/x", [Message.user("List the inner planets.")])
    assert resp.text == "Mercury, Venus, Earth, Mars." and resp.finish_reason == "stop"
    assert client.requests[1].messages[-1].content == CONTINUE_INSTRUCTION
    assert resp.attempts[-1].detail == "continued after the output limit (1 more call(s))"
    assert resp.usage.output_tokens == 20


async def test_an_explicit_max_tokens_gets_the_cut_answer_as_asked() -> None:
    client = scripted(("Mercury, Venus, Ea", "length"))
    router = make_router({"m": client})
    resp = await router.chat("m/x", [Message.user("List the inner planets.")], max_tokens=8)
    assert resp.text == "Mercury, Venus, Ea" and resp.finish_reason == "length" and len(client.requests) == 1


async def test_continue_on_length_off_returns_the_cut_answer() -> None:
    client = scripted(("Mercury, Venus, Ea", "length"))
    router = make_router({"m": client}, continue_on_length=False)
    resp = await router.chat("m/x", [Message.user("List the inner planets.")])
    assert resp.finish_reason == "length" and len(client.requests) == 1


async def test_continuation_stops_after_two_more_calls() -> None:
    client = scripted(("one ", "length"), ("two ", "length"), ("three ", "length"), ("four", "stop"))
    router = make_router({"m": client})
    resp = await router.chat("m/x", [Message.user("Count.")])
    assert resp.text == "one two three " and resp.finish_reason == "length" and len(client.requests) == 3


async def test_a_failed_continuation_keeps_what_was_answered() -> None:
    replies = iter([ChatResponse(text="Mercury, Venus, ", finish_reason="length", model="x")])

    def handler(req: Any) -> Any:
        reply = next(replies, None)
        if reply is None:
            raise TransientError("The server had an error while processing your request.", status=500)
        return reply

    router = make_router({"m": FakeClient(handler)})
    resp = await router.chat("m/x", [Message.user("List the inner planets.")])
    assert resp.text == "Mercury, Venus, " and resp.finish_reason == "length"
    assert "continuing stopped: HTTP 500 The server had an error" in resp.attempts[-1].detail


async def test_a_streamed_answer_is_not_continued() -> None:
    client = scripted(("Mercury, Venus, Ea", "length"))
    router = make_router({"m": client})
    events = [e async for e in router.stream("m/x", [Message.user("List the inner planets.")])]
    assert events[-1].response.finish_reason == "length" and len(client.requests) == 1


# --- 6. a learned window beats the free-models entry ---------------------------------------------

def chain_windows(catalog: Any) -> list[int | None]:
    registry = LLMRegistry()
    registry.add_provider("lab", kind="openai", base_url="http://127.0.0.1:9", api_key="k")
    store = FreeModels(Entry("lab/m", context_window=131072))
    return [c.window for c in plan("auto", needs_tools=False, registry=registry, free_models=store, catalog=catalog)]


def test_a_window_learned_from_an_overflow_beats_the_free_models_entry() -> None:
    catalog = ModelCatalog()
    catalog.learn("lab/m", context_window=4096)
    assert chain_windows(catalog) == [4096]


def test_a_listed_catalog_window_does_not_beat_the_free_models_entry() -> None:
    catalog = Catalog(lab__m=8192)
    catalog.sources = lambda model_id: {"context_window": "lab model list"}  # type: ignore[attr-defined]
    assert chain_windows(catalog) == [131072]


# --- 7. unpulled Ollama models ------------------------------------------------------------------

def listing(*names: str, age_s: float = 60.0) -> Catalog:
    catalog = Catalog()
    catalog.listed = [ModelInfo(id=n, provider="lab", fetched_at=time.time() - age_s) for n in names]
    return catalog


async def test_an_unpulled_ollama_model_in_the_free_chain_is_skipped_with_the_pull_command() -> None:
    client = FakeClient(honest)
    router = ollama_router({"lab": client}, catalog=listing("qwen3:8b"),
                           free_models=FreeModels(Entry("lab/llama3.2:3b"), Entry("lab/qwen3:8b")))
    resp = await router.chat("auto", [Message.user("hi")])
    assert [r.model for r in client.requests] == ["qwen3:8b"]
    assert resp.attempts[0].kind == "not_found"
    assert resp.attempts[0].detail == "skipped: not pulled on this server; run `ollama pull llama3.2:3b`"


async def test_a_free_entry_named_without_a_tag_matches_latest_in_the_listing() -> None:
    client = FakeClient(honest)
    router = ollama_router({"lab": client}, catalog=listing("llama3.2:latest"), free_models=FreeModels(Entry("lab/llama3.2")))
    resp = await router.chat("auto", [Message.user("hi")])
    assert resp.attempts[0].kind is None and len(client.requests) == 1


async def test_a_stale_ollama_listing_skips_nothing() -> None:
    client = FakeClient(honest)
    stale = listing("qwen3:8b", age_s=4 * 3600)
    router = ollama_router({"lab": client}, catalog=stale, free_models=FreeModels(Entry("lab/llama3.2:3b")))
    resp = await router.chat("auto", [Message.user("hi")])
    assert resp.attempts[0].kind is None


async def test_an_explicitly_named_ollama_model_is_sent_even_when_unlisted() -> None:
    client = FakeClient(honest)
    router = ollama_router({"lab": client}, catalog=listing("qwen3:8b"))
    await router.chat("lab/llama3.2:3b", [Message.user("hi")])
    assert len(client.requests) == 1
