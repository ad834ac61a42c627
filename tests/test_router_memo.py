"""What the router remembers between calls (model expansion, planned candidates) never outlives what
it was read from: a role set, a config file named, a provider added or a window learned between two
calls is used by the second; a config file edited is read again within ``CONFIG_RECHECK_S``."""

from __future__ import annotations

import asyncio
import random

import pytest
from conftest import FakeClient

from assistant.catalog import ModelCatalog
from assistant.errors import AllModelsFailedError
from assistant.files import paths
from assistant.files.paths import config_path
from assistant.free_models import FreeModelsStore
from assistant.messages import ChatResponse, Message, ToolSpec
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router.policies import Breaker, RouterPolicy

HI = [Message.user("hi")]


def _answers(provider: str) -> FakeClient:
    return FakeClient(lambda r: ChatResponse(text=f"{provider}:{r.model}", finish_reason="stop"), provider)


def _down(provider: str) -> FakeClient:
    def handler(request):
        from assistant.errors import AuthError

        raise AuthError("Invalid API key", provider=provider, model=request.model, status=401)

    return FakeClient(handler, provider)


def _router(catalog=None, free_models=None, **clients: FakeClient) -> Router:
    registry = LLMRegistry()
    for name, client in clients.items():
        registry.add_provider(name, kind="openai", base_url=f"http://127.0.0.1:9/{name}/v1", client=client)
    return Router(registry, catalog=catalog, free_models=free_models, policy=RouterPolicy(random=random.Random(3)))


def _free(tmp_path, *ids: str) -> FreeModelsStore:
    store = FreeModelsStore(tmp_path / "free-models.json")
    for model_id in ids:
        store.add_model({"id": model_id, "supports_tools": True})
    return store


def tried(resp: ChatResponse) -> list[str]:
    return [f"{a.provider}/{a.model}" for a in resp.attempts]


async def test_a_fallback_role_set_between_calls_joins_the_next_call(monkeypatch: pytest.MonkeyPatch) -> None:
    router = _router(alpha=_down("alpha"), beta=_answers("beta"))
    with pytest.raises(AllModelsFailedError):
        await router.chat("alpha/m", HI)
    monkeypatch.setenv("ASSISTANT_MODEL_FLASH_FALLBACK", "beta/fast")
    resp = await router.chat("alpha/m", HI)
    assert resp.text == "beta:fast"
    monkeypatch.delenv("ASSISTANT_MODEL_FLASH_FALLBACK")
    with pytest.raises(AllModelsFailedError):
        await router.chat("alpha/m", HI)


async def test_a_config_file_edited_between_calls_is_read_once_the_recheck_interval_passed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "CONFIG_RECHECK_S", 0.05)
    router = _router(alpha=_down("alpha"), beta=_answers("beta"))
    with pytest.raises(AllModelsFailedError):
        await router.chat("alpha/m", HI)
    config_path().write_text('[models]\nfree_fallback = "beta/free"\n')
    await asyncio.sleep(0.06)
    assert (await router.chat("alpha/m", HI)).text == "beta:free"
    config_path().write_text('[models]\nfree_fallback = "beta/other-free"\n')
    await asyncio.sleep(0.06)
    assert (await router.chat("alpha/m", HI)).text == "beta:other-free"
    config_path().unlink()
    await asyncio.sleep(0.06)
    with pytest.raises(AllModelsFailedError):
        await router.chat("alpha/m", HI)


async def test_calls_within_the_recheck_interval_do_not_look_at_the_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    looks: list[str] = []
    real = paths._file_stamp
    monkeypatch.setattr(paths, "_file_stamp", lambda path: looks.append(path) or real(path))
    router = _router(beta=_answers("beta"))
    for _ in range(20):
        assert (await router.chat("beta/m", HI)).text == "beta:m"
    assert looks == [str(config_path())]  # the first call's, when it planned


async def test_a_role_name_follows_its_variable_from_call_to_call(monkeypatch: pytest.MonkeyPatch) -> None:
    router = _router(alpha=_answers("alpha"), beta=_answers("beta"))
    monkeypatch.setenv("ASSISTANT_MODEL_HIGH_END", "alpha/big")
    assert (await router.chat("high_end", HI)).text == "alpha:big"
    monkeypatch.setenv("ASSISTANT_MODEL_HIGH_END", "beta/big")
    assert (await router.chat("high_end", HI)).text == "beta:big"


async def test_a_provider_redeclared_between_calls_is_used_by_the_next_call() -> None:
    router = _router()
    router.registry.add_provider("beta", kind="openai", base_url="http://127.0.0.1:9/v1", client=_answers("beta"),
                                 default_model="one")
    assert (await router.chat("beta", HI)).text == "beta:one"
    router.registry.add_provider("beta", kind="openai", base_url="http://127.0.0.1:9/v1", client=_answers("beta"),
                                 default_model="two")
    assert (await router.chat("beta", HI)).text == "beta:two"


async def test_a_window_learned_between_calls_screens_the_next_call(tmp_path) -> None:
    catalog = ModelCatalog(snapshot_path=tmp_path / "catalog.json")
    router = _router(catalog, small=_answers("small"), big=_answers("big"))
    long = [Message.user("word " * 2000)]
    assert (await router.chat(["small/m", "big/m"], long)).text == "small:m"
    catalog.learn("small/m", context_window=512)
    resp = await router.chat(["small/m", "big/m"], long)
    assert resp.text == "big:m" and resp.attempts[0].kind == "context_overflow"


async def test_a_config_file_named_between_calls_is_read_by_the_next_call(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    router = _router(alpha=_down("alpha"), beta=_answers("beta"))
    first, second = tmp_path / "first.toml", tmp_path / "second.toml"
    first.write_text('[models]\nfree_fallback = "beta/first"\n')
    second.write_text('[models]\nfree_fallback = "beta/second"\n')
    monkeypatch.setenv("ASSISTANT_CONFIG", str(first))
    assert (await router.chat("alpha/m", HI)).text == "beta:first"
    monkeypatch.setenv("ASSISTANT_CONFIG", str(second))
    assert (await router.chat("alpha/m", HI)).text == "beta:second"
    monkeypatch.delenv("ASSISTANT_CONFIG")
    with pytest.raises(AllModelsFailedError):
        await router.chat("alpha/m", HI)


async def test_a_provider_moved_to_another_server_between_calls_has_that_servers_circuit() -> None:
    registry = LLMRegistry()
    registry.add_provider("alpha", kind="openai", base_url="http://127.0.0.1:9/one/v1", client=_answers("alpha"))
    registry.add_provider("beta", kind="openai", base_url="http://127.0.0.1:9/beta/v1", client=_answers("beta"))
    router = Router(registry, policy=RouterPolicy(random=random.Random(3), breaker=Breaker(min_calls=1, reset_s=600)))
    await router.health.failed(router._circuit("alpha"))
    resp = await router.chat(["alpha/m", "beta/m"], HI)
    assert resp.text == "beta:m" and "circuit open" in resp.attempts[0].detail
    registry.add_provider("alpha", kind="openai", base_url="http://127.0.0.1:9/two/v1", client=_answers("alpha"))
    assert (await router.chat(["alpha/m", "beta/m"], HI)).text == "alpha:m"


async def test_a_free_model_list_edited_through_the_routers_store_is_used_by_the_next_auto_call(tmp_path) -> None:
    store = _free(tmp_path, "alpha/m", "beta/m")
    router = _router(free_models=store, alpha=_answers("alpha"), beta=_answers("beta"))
    assert (await router.chat("auto", HI)).text == "alpha:m"
    store.reorder_models(["beta/m", "alpha/m"])
    assert (await router.chat("auto", HI)).text == "beta:m"
    store.update_model("beta/m", enabled=False)
    assert (await router.chat("auto", HI)).text == "alpha:m"


async def test_a_free_model_list_edited_elsewhere_is_read_again_once_the_recheck_interval_passed(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "CONFIG_RECHECK_S", 0.05)
    router = _router(free_models=_free(tmp_path, "alpha/m", "beta/m"), alpha=_answers("alpha"), beta=_answers("beta"))
    assert (await router.chat("auto", HI)).text == "alpha:m"
    FreeModelsStore(tmp_path / "free-models.json").remove_model("alpha/m")  # another process, as far as it knows
    await asyncio.sleep(0.06)
    assert (await router.chat("auto", HI)).text == "beta:m"


async def test_auto_calls_within_the_recheck_interval_reuse_their_plan(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _free(tmp_path, "alpha/m")
    chains: list[bool] = []
    real = store.fallback_chain
    monkeypatch.setattr(store, "fallback_chain", lambda tools=False, registry=None: chains.append(tools) or real(tools, registry))
    router = _router(free_models=store, alpha=_answers("alpha"))
    for _ in range(10):
        assert (await router.chat("auto", HI)).text == "alpha:m"
    tool = ToolSpec(name="add", description="add", parameters={"type": "object", "properties": {}})
    assert (await router.chat("auto", HI, [tool])).text == "alpha:m"
    assert chains == [False, True]  # one plan without tools, one with
