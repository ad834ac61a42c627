"""LLMRegistry: keys and URLs from the environment and the config file, resolving ids, cached clients."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FakeClient

from assistant.errors import UsageError
from assistant.files.paths import config_path
from assistant.messages import ChatResponse, Message
from assistant.providers import create_client, get_spec
from assistant.registry import LLMRegistry, split_model_id


def write_config(text: str) -> Path:
    path = config_path()
    path.write_text(text)
    return path


def test_model_id_splits_at_the_first_slash() -> None:
    assert split_model_id("openrouter/z-ai/glm-5") == ("openrouter", "z-ai/glm-5")


def test_model_id_without_provider_names_the_expected_form() -> None:
    with pytest.raises(UsageError, match="provider/model"):
        split_model_id("gpt-4o")


def test_resolve_gives_the_providers_client_and_its_model_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-test-0000000000")
    client, model = LLMRegistry.from_env().resolve("openrouter/z-ai/glm-5")
    assert (client.provider, model) == ("openrouter", "z-ai/glm-5")


def test_unknown_provider_lists_the_configured_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test")
    with pytest.raises(UsageError, match=r"unknown provider 'nope'.*groq"):
        LLMRegistry.from_env().resolve("nope/model")


def test_missing_key_names_the_variable_and_the_configured_providers() -> None:
    with pytest.raises(UsageError, match=r"OPENAI_API_KEY.*Configured providers: .*llama"):
        LLMRegistry.from_env().resolve("openai/gpt-4o-mini")


def test_local_providers_need_no_key() -> None:
    registry = LLMRegistry.from_env()
    assert registry.configured("llama") and registry.configured("ollama")
    assert not registry.configured("openai")
    assert "llama" in registry.providers() and "openai" not in registry.providers()


def test_keys_come_from_api_key_and_the_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "k1")
    monkeypatch.setenv("GROQ_API_KEYS", "k2, k3,k1")
    assert LLMRegistry.from_env().keys("groq") == ["k1", "k2", "k3"]


def test_alias_reads_its_own_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-test")
    registry = LLMRegistry.from_env()
    assert registry.configured("gemini") and registry.canonical("gemini") == "google"


def test_clients_are_cached_per_provider_url_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEYS", "k1,k2")
    registry = LLMRegistry.from_env()
    assert registry.client("groq") is registry.client("groq", "k1")
    assert registry.client("groq", "k2") is not registry.client("groq", "k1")


def test_config_declares_a_named_provider_over_a_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIG_HOST", "10.0.0.5")
    write_config('[providers.big]\nkind = "llama"\nbase_url = "http://${BIG_HOST}:8080"\nread_timeout = 900\nmax_concurrency = 2\n')
    registry = LLMRegistry.from_env()
    spec = registry.spec("big")
    assert (spec.wire_kind, spec.read_timeout, spec.max_concurrency, spec.local) == ("llama", 900, 2, True)
    client, model = registry.resolve("big/qwen3-32b")
    assert model == "qwen3-32b" and client.base_url == "http://10.0.0.5:8080"  # type: ignore[attr-defined]


def test_declared_provider_is_known_to_create_client() -> None:
    LLMRegistry().add_provider("lab", kind="llama", base_url="http://127.0.0.1:9")
    assert get_spec("lab").wire_kind == "llama"
    assert create_client("lab").provider == "lab"


def test_config_interpolates_keys_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_ONE", "k-one")
    write_config('[providers.groq]\napi_keys = ["${GROQ_ONE}", "${GROQ_TWO:-k-two}", "${UNSET_VAR}"]\nrpm = 30\n')
    registry = LLMRegistry.from_env()
    assert registry.keys("groq") == ["k-one", "k-two"]
    assert registry.settings("groq").rpm == 30


def test_config_file_comes_from_assistant_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('[providers.groq]\napi_key = "from-file"\n')
    monkeypatch.setenv("ASSISTANT_CONFIG", str(path))
    assert LLMRegistry.from_env().keys("groq") == ["from-file"]


def test_unknown_config_setting_is_named() -> None:
    write_config('[providers.groq]\nrmp = 30\n')
    with pytest.raises(UsageError, match=r"\[providers.groq\].*'rmp'"):
        LLMRegistry.from_env()


def test_named_provider_without_kind_asks_for_one() -> None:
    write_config('[providers.mystery]\nbase_url = "http://127.0.0.1:1"\n')
    with pytest.raises(UsageError, match='kind = "openai"'):
        LLMRegistry.from_env()


def test_broken_toml_names_the_file() -> None:
    path = write_config("[providers.groq\n")
    with pytest.raises(UsageError, match=str(path)):
        LLMRegistry.from_env()


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_GROQ_RPM", "30")
    monkeypatch.setenv("ASSISTANT_GROQ_RPD", "1000")
    monkeypatch.setenv("OPENROUTER_CREDITS", "1")
    registry = LLMRegistry.from_env()
    assert (registry.settings("groq").rpm, registry.settings("groq").rpd) == (30, 1000)
    assert registry.settings("openrouter").credits


def test_disabled_in_config_is_kept_in_settings() -> None:
    write_config("[providers.groq]\ndisabled = true\n")
    assert LLMRegistry.from_env().settings("groq").disabled


def test_repr_never_shows_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "gsk_abcdefghijklmnopqrstuvwxyz0123"
    monkeypatch.setenv("GROQ_API_KEY", secret)
    registry = LLMRegistry.from_env()
    text = repr(registry) + repr(registry.settings("groq")) + repr(registry.client("groq"))
    assert secret not in text


async def test_chat_sends_through_the_providers_client() -> None:
    fake = FakeClient(lambda req: ChatResponse(text=f"echo {req.model}", provider="lab", model=req.model))
    registry = LLMRegistry()
    registry.add_provider("lab", kind="openai", base_url="http://127.0.0.1:9", api_key="k", client=fake)
    resp = await registry.chat("lab/some/model", [Message.user("hi")], max_tokens=5)
    assert resp.text == "echo some/model" and fake.requests[0].max_tokens == 5
    await registry.aclose()
    assert fake.closed


async def test_stream_sends_a_streaming_request() -> None:
    fake = FakeClient(lambda req: ChatResponse(text="hi", provider="lab", model=req.model))
    registry = LLMRegistry()
    registry.add_provider("lab", kind="openai", base_url="http://127.0.0.1:9", api_key="k", client=fake)
    events = [e async for e in registry.stream("lab/m", [Message.user("hi")])]
    assert [e.type for e in events] == ["text", "done"] and fake.requests[0].stream


def test_named_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        LLMRegistry.from_env(tmp_path / "missing.toml")
