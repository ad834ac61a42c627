"""Router recovery beyond retries: context windows, compaction, tool support, "auto" chains (FakeClient)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from conftest import FakeClient, FakeClock

from assistant.errors import AllModelsFailedError, ContextOverflowError, ToolsUnsupportedError
from assistant.messages import ChatResponse, Message, ModelInfo, ToolSpec
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router.policies import RouterPolicy

HI = [Message.user("hi")]
TOOLS = [ToolSpec(name="lookup", description="Look a word up.", parameters={"type": "object", "properties": {"q": {"type": "string"}}})]


def answer(text: str = "ok") -> Any:
    return lambda req: ChatResponse(text=text, model=req.model)


def overflow(window: int, prompt: int) -> Any:
    def handler(req: Any) -> Any:
        raise ContextOverflowError(f"maximum context length is {window} tokens", context_window=window,
                                   prompt_tokens=prompt, status=400)
    return handler


class Catalog:
    """A catalog cache double: ``get`` answers from a dict, ``learn`` records what it was told."""

    def __init__(self, **windows: int) -> None:
        self.windows = {k.replace("__", "/"): v for k, v in windows.items()}
        self.learned: dict[str, int] = {}

    def get(self, model_id: str) -> ModelInfo | None:
        window = self.windows.get(model_id)
        if window is None:
            return None
        provider, model = model_id.split("/", 1)
        return ModelInfo(id=model, provider=provider, context_window=window)

    def learn(self, model_id: str, *, context_window: int) -> None:
        self.learned[model_id] = context_window


def make_router(clients: dict[str, FakeClient], **kw: Any) -> Router:
    registry = LLMRegistry()
    for name, client in clients.items():
        registry.add_provider(name, kind="openai", base_url="http://127.0.0.1:9", api_key="k", client=client)
    clock = FakeClock()
    policy = RouterPolicy(clock=clock.time, sleep=clock.sleep, random=random.Random(1),
                          allow_prompt_tools=kw.pop("allow_prompt_tools", True))
    return Router(registry, policy=policy, **kw)


async def test_overflow_moves_to_a_bigger_known_window_and_teaches_the_catalog() -> None:
    small, big = FakeClient(overflow(4096, 5000)), FakeClient(answer("roomy"))
    catalog = Catalog(small__m=8192, big__m=32768)
    router = make_router({"small": small, "big": big}, catalog=catalog)
    resp = await router.chat(["small/m", "big/m"], HI)
    assert resp.text == "roomy" and [a.kind for a in resp.attempts] == ["context_overflow", None]
    assert catalog.learned == {"small/m": 4096}


async def test_overflow_never_resends_to_an_equal_or_smaller_window() -> None:
    small, same = FakeClient(overflow(8192, 9000)), FakeClient(answer())
    catalog = Catalog(small__m=8192, same__m=8192)
    router = make_router({"small": small, "same": same}, catalog=catalog, compactor=False)
    with pytest.raises(AllModelsFailedError) as info:
        await router.chat(["small/m", "same/m"], HI)
    assert [a.kind for a in info.value.attempts] == ["context_overflow"] * 2
    assert same.requests == []
    assert info.value.kind == "context_overflow"


async def test_after_an_overflow_a_window_nobody_knows_is_tried() -> None:
    small, same, unknown = FakeClient(overflow(8192, 9000)), FakeClient(answer()), FakeClient(answer("roomy"))
    catalog = Catalog(small__m=8192, same__m=8192)
    router = make_router({"small": small, "same": same, "unknown": unknown}, catalog=catalog, compactor=False)
    resp = await router.chat(["small/m", "same/m", "unknown/m"], HI)
    assert resp.text == "roomy" and resp.attempts[-1].provider == "unknown"
    assert [a.kind for a in resp.attempts] == ["context_overflow", "context_overflow", None]
    assert same.requests == [] and "8192 < " in resp.attempts[1].detail


async def test_overflow_without_a_bigger_window_compacts_and_retries_once() -> None:
    seen: list[int] = []

    def handler(req: Any) -> Any:
        seen.append(len(req.messages))
        if len(req.messages) > 1:
            raise ContextOverflowError("too long", context_window=4096, prompt_tokens=5000, status=400)
        return ChatResponse(text="fits now", model=req.model)

    calls: list[tuple[int, str]] = []

    async def compactor(messages: list[Message], budget: int, model_id: str, *, tools: list[ToolSpec]) -> list[Message]:
        calls.append((budget, model_id))
        return messages[-1:]

    router = make_router({"small": FakeClient(handler)}, compactor=compactor)
    resp = await router.chat("small/m", [Message.system("s"), Message.user("long"), Message.user("q")], max_tokens=100)
    assert resp.text == "fits now" and seen == [3, 1]
    assert calls == [(int(4096 * 0.9) - 100, "small/m")]


async def test_window_too_small_for_the_prompt_is_skipped_before_sending() -> None:
    tiny, big = FakeClient(answer("tiny")), FakeClient(answer("big"))
    router = make_router({"tiny": tiny, "big": big}, catalog=Catalog(tiny__m=50))
    resp = await router.chat(["tiny/m", "big/m"], [Message.user("word " * 400)])
    assert resp.text == "big" and tiny.requests == []
    assert resp.attempts[0].kind == "context_overflow" and resp.attempts[0].detail.startswith("skipped: window 50")


async def test_roomy_window_needs_no_token_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.context.tokens

    def boom(*a: Any, **kw: Any) -> int:
        raise AssertionError("estimated a prompt that obviously fits")

    monkeypatch.setattr(assistant.context.tokens, "estimate_tokens", boom)
    router = make_router({"big": FakeClient(answer())}, catalog=Catalog(big__m=128000))
    assert (await router.chat("big/m", HI)).text == "ok"


async def test_tools_unsupported_falls_back_to_tools_in_the_prompt() -> None:
    def handler(req: Any) -> Any:
        if req.tools:
            raise ToolsUnsupportedError("No endpoints found that support tool use.", status=404)
        return ChatResponse(text='Let me check. <tool_call>{"name": "lookup", "arguments": {"q": "cat"}}</tool_call>',
                            model=req.model)

    client = FakeClient(handler)
    router = make_router({"plain": client})
    resp = await router.chat("plain/m", HI, TOOLS)
    assert [(c.name, c.arguments) for c in resp.tool_calls] == [("lookup", {"q": "cat"})]
    assert resp.text == "Let me check." and resp.finish_reason == "tool_calls"
    assert resp.attempts[-1].detail == "tools described in the prompt"
    assert "<tools>" in client.requests[1].messages[0].content


async def test_tools_unsupported_without_prompt_tools_moves_to_a_tool_capable_model() -> None:
    def refuse(req: Any) -> Any:
        raise ToolsUnsupportedError("does not support tools", status=400)

    router = make_router({"plain": FakeClient(refuse), "tooly": FakeClient(answer("tooly"))}, allow_prompt_tools=False)
    resp = await router.chat(["plain/m", "tooly/m"], HI, TOOLS)
    assert resp.text == "tooly" and [a.kind for a in resp.attempts] == ["tools_unsupported", None]


async def test_model_known_to_lack_tools_goes_straight_to_prompt_guided_tools() -> None:
    client = FakeClient(answer("plain answer"))
    catalog = Catalog()
    catalog.get = lambda mid: ModelInfo(id="m", provider="plain", supports_tools=False)  # type: ignore[method-assign]
    router = make_router({"plain": client}, catalog=catalog)
    resp = await router.chat("plain/m", HI, TOOLS)
    assert resp.text == "plain answer" and client.requests[0].tools == []


async def test_model_known_to_lack_tools_is_skipped_when_prompt_tools_are_off() -> None:
    catalog = Catalog()
    catalog.get = lambda mid: ModelInfo(id="m", provider=mid.split("/")[0], supports_tools=mid.startswith("tooly"))  # type: ignore[method-assign]
    plain = FakeClient(answer("plain"))
    router = make_router({"plain": plain, "tooly": FakeClient(answer("tooly"))}, catalog=catalog, allow_prompt_tools=False)
    resp = await router.chat(["plain/m", "tooly/m"], HI, TOOLS)
    assert resp.text == "tooly" and plain.requests == []
    assert resp.attempts[0].detail == "skipped: model cannot call tools"


async def test_empty_completion_is_retried_as_transient() -> None:
    replies = iter(["", "second try"])
    router = make_router({"flaky": FakeClient(lambda req: ChatResponse(text=next(replies), model=req.model))})
    resp = await router.chat("flaky/m", HI)
    assert resp.text == "second try" and [a.kind for a in resp.attempts] == ["transient", None]
    assert resp.attempts[0].detail.startswith("empty completion")


async def test_prompt_guided_tools_stream_text_then_calls() -> None:
    def handler(req: Any) -> Any:
        if req.tools:
            raise ToolsUnsupportedError("does not support tools", status=400)
        return ChatResponse(text='Sure. <tool_call>{"name": "lookup", "arguments": {"q": "dog"}}</tool_call>', model=req.model)

    router = make_router({"plain": FakeClient(handler)})
    events = [e async for e in router.stream("plain/m", HI, TOOLS)]
    kinds = [e.type for e in events]
    assert kinds[-1] == "done" and "tool_call" in kinds
    assert "".join(e.text for e in events if e.type == "text").strip() == "Sure."
    assert events[-1].response.tool_calls[0].arguments == {"q": "dog"}


class FreeModels:
    """A free-models store double: ``fallback_chain`` returns fixed entries."""

    def __init__(self, *entries: Any) -> None:
        self.entries = entries
        self.asked: list[bool] = []

    def fallback_chain(self, tools: bool = False, registry: Any = None) -> list[Any]:
        self.asked.append(tools)
        return list(self.entries)


class Entry:
    def __init__(self, id: str, *, context_window: int | None = None, supports_tools: bool = True, local: bool = False) -> None:
        self.id, self.context_window, self.supports_tools, self.local = id, context_window, supports_tools, local


async def test_auto_walks_the_free_model_chain_for_tools() -> None:
    down = FakeClient(lambda req: (_ for _ in ()).throw(ToolsUnsupportedError("no tools", status=404)))
    store = FreeModels(Entry("first/m", context_window=20), Entry("second/m"))
    router = make_router({"first": down, "second": FakeClient(answer("second"))}, free_models=store,
                         allow_prompt_tools=False)
    resp = await router.chat("auto", [Message.user("word " * 100)], TOOLS)
    assert resp.text == "second" and store.asked == [True]
    assert resp.attempts[0].detail.startswith("skipped: window 20")


async def test_auto_without_a_store_uses_the_local_default(monkeypatch: pytest.MonkeyPatch) -> None:
    router = make_router({"llama": FakeClient(answer("local"))})
    router._free_models = None
    monkeypatch.setattr(type(router), "free_models", property(lambda self: None))
    resp = await router.chat("auto", HI)
    assert resp.text == "local" and (resp.attempts[0].provider, resp.attempts[0].model) == ("llama", "smollm2")


async def test_prompt_too_big_for_every_window_is_compacted_before_sending() -> None:
    client = FakeClient(answer("short enough"))
    budgets: list[int] = []

    async def compactor(messages: list[Message], budget: int, model_id: str, *, tools: list[ToolSpec]) -> list[Message]:
        budgets.append(budget)
        return [Message.user("summary")]

    router = make_router({"tiny": client}, catalog=Catalog(tiny__m=200), compactor=compactor)
    events = [e async for e in router.stream("tiny/m", [Message.user("word " * 400)], max_tokens=20)]
    assert events[-1].response.text == "short enough" and budgets == [160]
    assert any(e.type == "status" and "compacting" in (e.text or "") for e in events)
    assert [m.content for m in client.requests[0].messages] == ["summary"]
