"""Each model role read where it is used, bare provider names, and Flowfile's resolution order."""

from __future__ import annotations

import random

import pytest
from conftest import FakeClient

from assistant.agent import Agent
from assistant.errors import ContextOverflowError, NotFoundError, ToolsUnsupportedError
from assistant.files.paths import config_path
from assistant.free_models.roles import configured_role, model_for_role, resolve_model
from assistant.messages import ChatResponse, Message, ToolSpec
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router.policies import RouterPolicy


def _router(**clients: FakeClient) -> Router:
    registry = LLMRegistry()
    for name, client in clients.items():
        registry.add_provider(name, client=client)
    return Router(registry, policy=RouterPolicy(random=random.Random(3)))


def _answers(text: str, provider: str) -> FakeClient:
    return FakeClient(lambda r: ChatResponse(text=f"{text}:{r.model}"), provider)


def _fails(exc: type, provider: str) -> FakeClient:
    def handler(request):
        raise exc("no", provider=provider, model=request.model, status=400)

    return FakeClient(handler, provider)


def test_the_default_role_is_what_agent_uses_without_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Agent().model == "auto"
    monkeypatch.setenv("ASSISTANT_MODEL_DEFAULT", "groq/llama-3.1-8b-instant")
    assert Agent().model == "groq/llama-3.1-8b-instant"


def test_zeroclaw_default_provider_and_model_set_the_default_role() -> None:
    config_path().write_text('default_provider = "groq"\ndefault_model = "llama-3.1-8b-instant"\n')
    assert model_for_role("default") == "groq/llama-3.1-8b-instant"
    config_path().write_text('default_provider = "claude"\n')
    assert model_for_role("default") == "anthropic/claude-sonnet-4-5"


def test_a_bare_provider_name_means_that_providers_default_model() -> None:
    config_path().write_text('[models]\nsummary = "groq"\ntranslation = "gemini"\n')
    assert model_for_role("summary") == "groq/llama-3.3-70b-versatile"
    assert model_for_role("translation") == "google/gemini-2.5-flash"


def test_flowfile_order_explicit_then_credential_then_curated_then_surface_then_provider() -> None:
    assert resolve_model("groq", explicit="x") == "x"
    assert resolve_model("groq", surface_default="surface") == "surface"
    config_path().write_text('[models.curated]\ngroq = ["a", "b"]\n')
    assert resolve_model("groq", surface_model="b") == "b"
    assert resolve_model("groq", surface_model="z", surface_default="surface") == "a"
    config_path().write_text('[models.curated]\ngroq = ["a"]\n[providers.groq]\ndefault_model = "cred"\n')
    assert resolve_model("groq") == "cred"
    config_path().write_text('default_provider = "groq"\ndefault_model = "top"\n[providers.groq]\ndefault_model = "cred"\n')
    assert resolve_model("groq") == "top"
    assert resolve_model("mistral") == "mistral-small-latest"


async def test_a_role_name_is_accepted_as_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODEL_HIGH_END", "openai/gpt-5")
    router = _router(openai=_answers("big", "openai"))
    assert (await router.chat("high_end", [Message.user("hi")])).text == "big:gpt-5"


async def test_flash_then_free_fallback_follow_an_explicit_model_that_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODEL_FLASH_FALLBACK", "google/gemini-2.5-flash")
    monkeypatch.setenv("ASSISTANT_MODEL_FREE_FALLBACK", "groq/llama-3.1-8b-instant")
    router = _router(openai=_fails(NotFoundError, "openai"), google=_fails(NotFoundError, "google"),
                     groq=_answers("free", "groq"))
    response = await router.chat("openai/gpt-5", [Message.user("hi")])
    assert response.text == "free:llama-3.1-8b-instant"
    assert [a.provider for a in response.attempts] == ["openai", "google", "groq"]


async def test_without_fallback_roles_an_explicit_model_stands_alone() -> None:
    router = _router(openai=_answers("only", "openai"))
    assert router.candidate_ids("openai/gpt-5") == ["openai/gpt-5"]


async def test_the_overflow_role_answers_when_no_window_holds_the_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODEL_OVERFLOW", "google/gemini-2.5-pro")
    router = _router(groq=_fails(ContextOverflowError, "groq"), google=_answers("wide", "google"))
    router.compactor = False
    response = await router.chat("groq/llama-3.1-8b-instant", [Message.user("long")])
    assert response.text == "wide:gemini-2.5-pro"


def test_interim_and_greeting_roles_choose_the_chat_asides(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.chat._asides import Asides

    monkeypatch.setenv("ASSISTANT_MODEL_INTERIM", "groq/llama-3.1-8b-instant")
    config_path().write_text('[models]\ngreeting = "google/gemini-2.5-flash-lite"\n')
    asides = Asides(router=None, free_models=None)
    assert (asides._model("interim"), asides._model("greeting")) == ("groq/llama-3.1-8b-instant", "google/gemini-2.5-flash-lite")


@pytest.mark.parametrize("role", ["stt", "translation", "refinement"])
def test_every_other_role_reads_its_setting(role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured_role(role) is None
    monkeypatch.setenv(f"ASSISTANT_MODEL_{role.upper()}", "groq/whisper-large-v3")
    assert model_for_role(role) == configured_role(role) == "groq/whisper-large-v3"


async def test_a_free_model_offered_tools_gets_a_warning_event() -> None:
    router = _router(openrouter=_answers("ok", "openrouter"))
    tool = ToolSpec(name="add", description="add")
    events = [e async for e in router.stream("openrouter/z-ai/glm-4.5-air:free", [Message.user("hi")], tools=[tool])]
    warnings = [e.text for e in events if e.type == "status" and "free model" in (e.text or "")]
    assert len(warnings) == 1 and "tool calling" in warnings[0]


async def test_a_model_that_refused_native_tools_gets_prompt_guided_tools_on_later_steps() -> None:
    def handler(request):
        if request.tools:
            raise ToolsUnsupportedError("does not support tools", provider="groq", model=request.model, status=400)
        return ChatResponse(text="done")

    client = FakeClient(handler, "groq")
    router = _router(groq=client)
    tool = ToolSpec(name="add", description="add")
    for _ in range(3):
        assert (await router.chat("groq/tiny", [Message.user("hi")], tools=[tool])).text == "done"
    assert [bool(r.tools) for r in client.requests] == [True, False, False, False]
