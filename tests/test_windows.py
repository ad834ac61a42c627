"""Knowing a model's window on defaults: local servers asked for their own window (a fake server per
kind), learned windows kept with source and time across catalogs, the room kept for the answer, and
the router's rules after an overflow (unknown windows tried, max_tokens lowered, the overflow role)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from aiohttp import web
from conftest import FakeClient, FakeClock

from assistant.catalog import ModelCatalog, default_catalog
from assistant.errors import AllModelsFailedError, ContextOverflowError
from assistant.messages import ChatResponse, Message
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router._candidates import reply_room
from assistant.router.policies import RouterPolicy

# --- window probes, one fake server per kind ---------------------------------------------------


def serving(routes: dict[str, Any]) -> Any:
    """A handler answering ``routes[path]`` as JSON and 404 elsewhere."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path in routes:
            return web.json_response(routes[request.path])
        return web.json_response({"error": {"message": "not found"}}, status=404)

    return handler


async def probed(fake_server: Any, kind: str, routes: dict[str, Any], model: str = "m", suffix: str = "") -> tuple[ModelCatalog, int | None]:
    server = fake_server(serving(routes))
    registry = LLMRegistry()
    registry.add_provider("lab", kind=kind, base_url=server.url + suffix)
    catalog = ModelCatalog()
    try:
        window = await catalog.probe(registry, f"lab/{model}")
    finally:
        await registry.aclose()
    return catalog, window


async def test_a_llama_cpp_window_is_read_from_props(fake_server) -> None:
    catalog, window = await probed(fake_server, "llama", {"/props": {"default_generation_settings": {"n_ctx": 512}}})
    assert window == 512
    assert catalog.get("lab/m").context_window == 512
    assert catalog.sources("lab/m")["context_window"] == "learned from server lab /props"


async def test_a_llama_cpp_without_props_is_read_from_its_model_list_meta(fake_server) -> None:
    models = {"data": [{"id": "smollm2", "meta": {"n_ctx": 4096, "n_ctx_train": 8192}}]}
    _, window = await probed(fake_server, "llama", {"/v1/models": models})
    assert window == 4096


async def test_an_ollama_window_is_its_context_length_capped_at_the_num_ctx_the_engine_sends(fake_server) -> None:
    show = {"model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960}}
    _, window = await probed(fake_server, "ollama", {"/api/show": show}, model="qwen3:8b")
    assert window == 32768


async def test_an_lm_studio_window_is_the_loaded_context_length(fake_server) -> None:
    listing = {"object": "list", "data": [
        {"id": "other", "state": "not-loaded", "max_context_length": 131072},
        {"id": "qwen2.5-7b-instruct", "state": "loaded", "max_context_length": 32768, "loaded_context_length": 8192},
    ]}
    _, window = await probed(fake_server, "lmstudio", {"/api/v0/models": listing}, model="qwen2.5-7b-instruct", suffix="/v1")
    assert window == 8192


async def test_an_lm_studio_model_not_loaded_has_its_max_context_length(fake_server) -> None:
    listing = {"data": [{"id": "granite", "state": "not-loaded", "max_context_length": 4096}]}
    _, window = await probed(fake_server, "lmstudio", {"/api/v0/models": listing}, model="granite", suffix="/v1")
    assert window == 4096


async def test_a_vllm_window_is_max_model_len(fake_server) -> None:
    listing = {"object": "list", "data": [{"id": "Qwen/Qwen2.5-7B-Instruct", "object": "model", "owned_by": "vllm",
                                           "root": "Qwen/Qwen2.5-7B-Instruct", "max_model_len": 16384}]}
    _, window = await probed(fake_server, "vllm", {"/v1/models": listing}, model="Qwen/Qwen2.5-7B-Instruct", suffix="/v1")
    assert window == 16384


async def test_a_server_that_does_not_say_leaves_the_window_unknown(fake_server) -> None:
    catalog, window = await probed(fake_server, "llama", {})
    assert window is None and catalog.get("lab/m") is None


async def test_a_cloud_provider_is_never_probed() -> None:
    registry = LLMRegistry()
    registry.add_provider("groq", api_key="k")
    assert await ModelCatalog().probe(registry, "groq/llama-3.1-8b-instant") is None


async def test_a_probe_is_asked_once_then_cached(fake_server) -> None:
    server = fake_server(serving({"/props": {"default_generation_settings": {"n_ctx": 512}}}))
    registry = LLMRegistry()
    registry.add_provider("lab", kind="llama", base_url=server.url)
    catalog = ModelCatalog()
    try:
        assert [await catalog.probe(registry, "lab/m") for _ in range(3)] == [512, 512, 512]
    finally:
        await registry.aclose()
    assert len(server.requests) == 1


@pytest.mark.llama
async def test_the_embedded_model_entry_is_the_running_servers_own_window(llama_url, monkeypatch) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(llama_url + "/v1/models", timeout=5) as answer:
        n_ctx = json.load(answer)["data"][0]["meta"]["n_ctx"]
    monkeypatch.setenv("LLAMA_BASE_URL", llama_url)
    registry = LLMRegistry.from_env()
    try:
        assert await default_catalog().probe(registry, "llama/smollm2") == n_ctx
    finally:
        await registry.aclose()
    assert default_catalog().get("llama/smollm2").context_window == n_ctx


# --- learned windows: source, time, other processes ---------------------------------------------


def test_a_learned_window_keeps_its_source_and_time(tmp_path) -> None:
    path = tmp_path / "catalog.json"
    ModelCatalog(clock=lambda: 1000.0, snapshot_path=path).learn("small/smollm2", context_window=512, source="server small /props")
    again = ModelCatalog(snapshot_path=path).learned("small/smollm2")
    assert (again.window, again.source, again.at) == (512, "server small /props", 1000.0)


def test_the_newest_learned_window_wins_across_catalogs(tmp_path) -> None:
    path = tmp_path / "catalog.json"
    ModelCatalog(clock=lambda: 2000.0, snapshot_path=path).learn("lab/m", context_window=8192, source="server lab /props")
    ModelCatalog(clock=lambda: 1000.0, snapshot_path=path).learn("lab/m", context_window=2048)
    assert ModelCatalog(snapshot_path=path).get("lab/m").context_window == 8192


def test_a_version_1_snapshot_keeps_its_learned_windows(tmp_path) -> None:
    path = tmp_path / "catalog.json"
    path.write_bytes(orjson.dumps({"version": 1, "providers": {}, "learned": {"small/smollm2": 512}}))
    catalog = ModelCatalog(snapshot_path=path)
    assert catalog.get("small/smollm2").context_window == 512
    assert catalog.sources("small/smollm2")["context_window"] == "learned from a context overflow error"


def test_router_agent_and_the_default_share_one_catalog() -> None:
    from assistant.agent import Agent

    assert Router(LLMRegistry()).catalog is default_catalog()
    assert Agent("llama/smollm2").router.catalog is default_catalog()


# --- the room kept for the answer ----------------------------------------------------------------


def test_the_room_for_the_answer_is_at_most_a_quarter_of_the_window() -> None:
    assert reply_room(512, 1024) == 128
    assert reply_room(512, None) == 128


def test_a_small_max_tokens_is_kept_as_asked() -> None:
    assert reply_room(4096, 16) == 16


def test_without_max_tokens_a_big_window_keeps_a_bounded_room() -> None:
    assert reply_room(131_072, None) == 4096


# --- the router after an overflow ----------------------------------------------------------------


class Catalog:
    """A catalog double with fixed windows."""

    def __init__(self, **windows: int) -> None:
        self.windows = {k.replace("__", "/"): v for k, v in windows.items()}

    def get(self, model_id: str) -> Any:
        from assistant.messages import ModelInfo

        provider, model = model_id.split("/", 1)
        window = self.windows.get(model_id)
        return ModelInfo(id=model, provider=provider, context_window=window) if window else None

    def learn(self, model_id: str, *, context_window: int, source: str = "") -> None:
        self.windows[model_id] = context_window


def make_router(clients: dict[str, FakeClient], **kw: Any) -> Router:
    registry = LLMRegistry()
    for name, client in clients.items():
        registry.add_provider(name, kind="openai", base_url="http://127.0.0.1:9", api_key="k", client=client)
    clock = FakeClock()
    policy = RouterPolicy(clock=clock.time, sleep=clock.sleep, random=random.Random(1))
    return Router(registry, policy=policy, **kw)


def answer(text: str = "ok") -> Any:
    return lambda req: ChatResponse(text=text, model=req.model)


async def test_a_max_tokens_the_window_cannot_hold_is_lowered_with_a_status_event() -> None:
    client = FakeClient(answer("short"))
    router = make_router({"small": client}, catalog=Catalog(small__m=512))
    events = [e async for e in router.stream("small/m", [Message.user("hi")], max_tokens=1024)]
    assert client.requests[0].max_tokens < 512
    assert any(e.type == "status" and "max_tokens lowered from 1024" in (e.text or "") for e in events)
    assert events[-1].response.text == "short"


async def test_an_overflow_caused_only_by_max_tokens_is_retried_with_less() -> None:
    def handler(req: Any) -> Any:
        if req.max_tokens > 1096:
            raise ContextOverflowError("too long", context_window=4096, prompt_tokens=3000, status=400)
        return ChatResponse(text="fits", model=req.model)

    client = FakeClient(handler)
    router = make_router({"solo": client})
    resp = await router.chat("solo/m", [Message.user("x " * 4000)], max_tokens=2000)
    assert resp.text == "fits" and [a.kind for a in resp.attempts] == ["context_overflow", None]
    assert client.requests[-1].max_tokens <= 1096


async def test_a_stated_prompt_size_calibrates_the_skip_of_the_next_window() -> None:
    text = "The yellow tram number 28 climbs the steep hills of Lisbon past the cathedral. " * 40
    from assistant.context.tokens import estimate_tokens

    estimate = estimate_tokens([Message.user(text)], model_id="small/m")
    real = int(estimate * 0.75)

    def small(req: Any) -> Any:
        raise ContextOverflowError("too long", context_window=512, prompt_tokens=real, status=400)

    # Big enough for the real size and the answer's room, too small for the raw estimate's.
    mid_window = real + reply_room(real + 200, None) + 50
    mid = FakeClient(answer("from mid"))
    router = make_router({"small": FakeClient(small), "mid": mid},
                         catalog=Catalog(small__m=4096, mid__m=mid_window), compactor=False)
    resp = await router.chat(["small/m", "mid/m"], [Message.user(text)])
    assert resp.text == "from mid" and len(mid.requests) == 1


async def test_a_single_model_that_overflows_moves_whole_to_the_overflow_model_and_says_so(monkeypatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODEL_OVERFLOW", "big/m")

    def small(req: Any) -> Any:
        raise ContextOverflowError("too long", context_window=512, prompt_tokens=900, status=400)

    big = FakeClient(answer("from big"))
    router = make_router({"small": FakeClient(small), "big": big})
    resp = await router.chat("small/m", [Message.user("long " * 600)])
    assert resp.text == "from big"
    assert any("moving to the overflow model big/m" in a.detail for a in resp.attempts)
    assert big.requests[0].messages[0].content == "long " * 600


async def test_without_an_overflow_model_a_history_that_cannot_fit_fails_with_the_sizes() -> None:
    def small(req: Any) -> Any:
        raise ContextOverflowError("too long", context_window=512, prompt_tokens=900, status=400)

    async def compactor(messages: list[Message], budget: int, model_id: str, *, tools: Any) -> list[Message]:
        raise ContextOverflowError("the latest user message alone needs ~900 tokens", prompt_tokens=900)

    router = make_router({"small": FakeClient(small)}, compactor=compactor)
    with pytest.raises(AllModelsFailedError, match="needs ~900 tokens"):
        await router.chat("small/m", [Message.user("long " * 600)])


def test_assistant_models_shows_a_window_learned_by_the_router_for_a_declared_provider(monkeypatch, capsys) -> None:
    import json

    from assistant.cli import main
    from assistant.files.paths import config_path

    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text('[providers.small]\nkind = "llama"\nbase_url = "http://127.0.0.1:9"\n', encoding="utf-8")
    default_catalog().learn("small/smollm2", context_window=512, source="server small /props")
    assert main(["models", "--provider", "small", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["context_window"], listed["source"]) == ("smollm2", 512, "learned from server small /props")


async def test_a_single_model_compacts_first_and_moves_to_the_overflow_model_only_when_that_fails(monkeypatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODEL_OVERFLOW", "big/m")
    calls: list[int] = []

    def small(req: Any) -> Any:
        calls.append(len(req.messages))
        if len(req.messages) > 2:
            raise ContextOverflowError("too long", context_window=512, prompt_tokens=900, status=400)
        return ChatResponse(text="from small", model=req.model)

    async def compactor(messages: list[Message], budget: int, model_id: str, *, tools: Any) -> list[Message]:
        return [messages[0], messages[-1]]  # the summary would go into the system prompt

    big = FakeClient(answer("from big"))
    router = make_router({"small": FakeClient(small), "big": big}, compactor=compactor)
    history = [Message.system("Be brief."), *[Message.user(f"turn {i}") for i in range(6)]]
    resp = await router.chat("small/m", history)
    assert resp.text == "from small" and big.requests == []  # compaction was enough
