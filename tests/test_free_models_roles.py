"""Model roles: defaults that need no key, then the config file's [models] table, then the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import UsageError
from assistant.free_models.roles import ROLES, model_for_role, role_settings


@pytest.fixture
def config(_isolated_home: Path) -> Path:
    return _isolated_home / "config.toml"


def test_every_role_defaults_to_the_free_chain() -> None:
    assert {role: model_for_role(role) for role in ROLES} == {role: "auto" for role in ROLES}


def test_the_roles_are_the_eleven_named_jobs() -> None:
    assert ROLES == ("default", "high_end", "free_fallback", "flash_fallback", "summary", "translation", "refinement",
                     "stt", "interim", "greeting", "overflow")


def test_the_config_file_sets_a_role(config: Path) -> None:
    config.write_text('[models]\nsummary = "groq/llama-3.1-8b-instant"\n')
    assert model_for_role("summary") == "groq/llama-3.1-8b-instant"


def test_the_config_file_accepts_hyphenated_role_names(config: Path) -> None:
    config.write_text('[models]\nhigh-end = "openrouter/z-ai/glm-5"\n')
    assert model_for_role("high_end") == "openrouter/z-ai/glm-5"


def test_the_environment_wins_over_the_config_file(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text('[models]\ntranslation = "groq/a"\n')
    monkeypatch.setenv("ASSISTANT_MODEL_TRANSLATION", "google/gemini-2.5-flash")
    assert model_for_role("translation") == "google/gemini-2.5-flash"


def test_settings_say_where_each_role_came_from(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text('[models]\nsummary = "groq/a"\n')
    monkeypatch.setenv("ASSISTANT_MODEL_REFINEMENT", "groq/b")
    sources = {s.role: s.source for s in role_settings()}
    assert sources["summary"] == f"config:{config}"
    assert sources["refinement"] == "env:ASSISTANT_MODEL_REFINEMENT"
    assert sources["default"] == "default"


def test_a_changed_config_file_is_read_again(config: Path) -> None:
    config.write_text('[models]\nsummary = "groq/a"\n')
    assert model_for_role("summary") == "groq/a"
    config.write_text('[models]\nsummary = "groq/bb"\n')
    assert model_for_role("summary") == "groq/bb"


def test_an_unknown_role_lists_the_roles() -> None:
    with pytest.raises(UsageError, match="unknown model role 'poetry'.*refinement"):
        model_for_role("poetry")


def test_a_value_that_is_not_a_model_id_names_where_it_was_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODEL_SUMMARY", "gpt4")
    with pytest.raises(UsageError, match="ASSISTANT_MODEL_SUMMARY = 'gpt4' is not a model id"):
        model_for_role("summary")


def test_a_broken_config_file_names_its_line(config: Path) -> None:
    config.write_text('[models]\nsummary = "groq/a\n')
    with pytest.raises(UsageError, match=r"not valid TOML.*line 2"):
        model_for_role("summary")
