"""Config files in the shapes the seeds' users bring, loaded and applied: zeroclaw's top level,
[reliability] and [[model_routes]]; unknown tables and keys name the nearest known spelling."""

from __future__ import annotations

import random

import pytest
from conftest import FakeClient

from assistant.errors import NotFoundError, UsageError
from assistant.files.paths import config_path
from assistant.messages import ChatResponse, Message
from assistant.registry import LLMRegistry
from assistant.registry.config import parse_config
from assistant.router import Router
from assistant.router.policies import RouterPolicy

ZEROCLAW_OPENAI = """
default_provider = "openai"
default_model = "gpt-4o"
api_key = "sk-openai-primary"

[reliability]
fallback_providers = ["anthropic", "groq", "openrouter"]
api_keys = ["sk-openai-backup-1", "sk-openai-backup-2"]

[reliability.model_fallbacks]
"gpt-4o" = ["gpt-4-turbo", "gpt-3.5-turbo"]
"gpt-4-turbo" = ["gpt-3.5-turbo"]
"""

ZEROCLAW_OLLAMA = """
default_provider = "ollama"
default_model = "llama2:70b"
api_url = "http://localhost:11434"

[reliability]
fallback_providers = ["openrouter", "groq"]
"""

ZEROCLAW_ROUTES = """
[[model_routes]]
hint = "reasoning"
provider = "openrouter"
model = "anthropic/claude-opus-4-20250514"

[[model_routes]]
hint = "fast"
provider = "groq"
model = "llama-3.3-70b-versatile"
api_key = "gsk-route-fast-0000"
"""

ZEROCLAW_DEPLOYMENT = """
default_provider = "openrouter"
default_model = "openai/gpt-4o-mini"

[reliability]
provider_retries = 3
provider_backoff_ms = 500
fallback_providers = ["openai"]

[reliability.model_fallbacks]
"openai/gpt-4o-mini" = ["google/gemini-2.5-flash"]
"anthropic/claude-sonnet-4.6" = ["openai/gpt-4o"]
"""


def _registry(text: str) -> LLMRegistry:
    registry = LLMRegistry()
    registry.apply_config(parse_config(text))
    return registry


def test_zeroclaw_primary_key_comes_first_then_the_reliability_keys() -> None:
    assert _registry(ZEROCLAW_OPENAI).keys("openai") == ["sk-openai-primary", "sk-openai-backup-1", "sk-openai-backup-2"]


def test_zeroclaw_chain_is_the_model_then_fallback_providers_then_model_fallbacks() -> None:
    assert _registry(ZEROCLAW_OPENAI).expand("openai/gpt-4o") == [
        "openai/gpt-4o", "anthropic/claude-sonnet-4-5", "groq/llama-3.3-70b-versatile", "openrouter/openrouter/auto",
        "openai/gpt-4-turbo", "openai/gpt-3.5-turbo",
    ]


def test_zeroclaw_default_provider_and_model_are_the_default_model_id() -> None:
    assert _registry(ZEROCLAW_OPENAI).default_model_id() == "openai/gpt-4o"


def test_zeroclaw_api_url_points_the_default_provider_elsewhere() -> None:
    registry = _registry(ZEROCLAW_OLLAMA)
    assert registry.settings("ollama").base_url == "http://localhost:11434"
    assert registry.client("ollama").base_url == "http://localhost:11434"


def test_zeroclaw_model_fallback_keys_name_the_providers_own_models() -> None:
    assert _registry(ZEROCLAW_DEPLOYMENT).expand("openrouter/openai/gpt-4o-mini") == [
        "openrouter/openai/gpt-4o-mini", "openai/gpt-4.1-mini", "openrouter/google/gemini-2.5-flash"]


def test_zeroclaw_model_routes_answer_hint_ids_with_their_own_key() -> None:
    registry = _registry(ZEROCLAW_ROUTES)
    assert registry.expand("hint:reasoning") == ["openrouter/anthropic/claude-opus-4-20250514"]
    (fast,) = registry.expand("hint:fast")
    assert fast == "groq-route-fast/llama-3.3-70b-versatile"
    assert registry.keys("groq-route-fast") == ["gsk-route-fast-0000"]
    with pytest.raises(UsageError, match="known hints: reasoning, fast"):
        registry.expand("hint:cheap")


def test_zeroclaw_reliability_numbers_become_the_router_policy() -> None:
    text = ZEROCLAW_DEPLOYMENT.replace("[reliability]\n", "[reliability]\ncircuit_breaker_threshold = 7\ncircuit_breaker_cooldown_ms = 30000\n")
    router = Router(_registry(text))
    assert router.policy.retry.attempts == 4
    assert router.policy.backoff.base == 0.5
    assert (router.policy.breaker.min_calls, router.policy.breaker.reset_s) == (7, 30.0)


def test_the_config_file_is_read_by_from_env() -> None:
    config_path().write_text(ZEROCLAW_OPENAI)
    registry = LLMRegistry.from_env()
    assert (registry.config.default_provider, registry.keys("openai")[0]) == ("openai", "sk-openai-primary")
    assert "sk-openai-primary" not in repr(registry.config)


@pytest.mark.parametrize(("text", "message"), [
    ("[modles]\nsummary = \"groq/x\"\n", r"unknown table \[modles\] \(did you mean 'models'\?\)"),
    ("default_modle = \"gpt-4o\"\n", r"unknown key 'default_modle' \(did you mean 'default_model'\?\)"),
    ("[reliability]\nprovider_retry = 3\n", r"unknown key 'provider_retry' in \[reliability\] \(did you mean 'provider_retries'\?\)"),
    ("[[model_routes]]\nhint = \"x\"\nprovder = \"groq\"\nmodel = \"m\"\n", r"'provder' in \[model_routes\] \(did you mean 'provider'\?\)"),
    ("[models]\nsumary = \"groq/x\"\n", r"unknown key 'sumary' in \[models\] \(did you mean 'summary'\?\)"),
    ("[providers.groq]\nrmp = 30\n", r"unknown setting\(s\) \['rmp'\] \(did you mean 'rpm'\?\)"),
    ("default_provider = \"openruter\"\n", r"default_provider: unknown provider 'openruter' \(did you mean 'openrouter'\?\)"),
])
def test_unknown_tables_and_keys_are_errors_naming_the_nearest_known_one(text: str, message: str) -> None:
    config_path().write_text(text)
    with pytest.raises(UsageError, match=message):
        LLMRegistry.from_env()
        from assistant.free_models.roles import model_for_role

        model_for_role("summary")


async def test_a_failing_primary_falls_to_the_fallback_provider_then_the_model_fallbacks() -> None:
    def missing(request):
        raise NotFoundError("model not found", provider="openai", model=request.model, status=404)

    registry = LLMRegistry()
    primary, backup = FakeClient(missing, "openai"), FakeClient(lambda r: ChatResponse(text="from anthropic"), "anthropic")
    registry.add_provider("openai", client=primary)
    registry.add_provider("anthropic", client=backup)
    registry.apply_config(parse_config('default_provider = "openai"\ndefault_model = "gpt-4o"\n'
                                       'default_temperature = 0.3\n[reliability]\nfallback_providers = ["anthropic"]\n'))
    router = Router(registry, policy=RouterPolicy(random=random.Random(1)))
    response = await router.chat("openai/gpt-4o", [Message.user("hi")])
    assert response.text == "from anthropic"
    assert [(a.provider, a.model, a.kind) for a in response.attempts] == [
        ("openai", "gpt-4o", "not_found"), ("anthropic", "claude-sonnet-4-5", None)]
    assert backup.requests[0].temperature == 0.3  # default_temperature applies when the caller gives none


def test_a_custom_url_default_provider_takes_the_config_key_and_model() -> None:
    registry = _registry('default_provider = "custom:https://llm.lan/v1"\ndefault_model = "qwen3-32b"\n'
                         'api_key = "lan-key-0000"\n[reliability]\nfallback_api_keys = { "anthropic-custom:https://proxy.lan" = "px-0000" }\n')
    assert registry.default_model_id() == "custom:https://llm.lan/v1/qwen3-32b"
    assert registry.keys("custom:https://llm.lan/v1") == ["lan-key-0000"]
    assert registry.keys("anthropic-custom:https://proxy.lan") == ["px-0000"]
    client, model = registry.resolve(registry.default_model_id())
    assert (client.base_url, model) == ("https://llm.lan/v1", "qwen3-32b")


def test_the_fleet_state_table_is_known_and_read() -> None:
    from assistant.router.shared import state_url

    config_path().write_text('[state]\nurl = "redis://10.0.0.5:6379/0"\n')
    assert state_url() == "redis://10.0.0.5:6379/0"
    config_path().write_text('[state]\nurls = "redis://10.0.0.5:6379/0"\n')
    with pytest.raises(UsageError, match=r"unknown key 'urls' in \[state\] \(did you mean 'url'\?\)"):
        state_url()
