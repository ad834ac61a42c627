"""FreeModelsStore: entries, CRUD with bad input, reordering, and the chains the router asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import UsageError
from assistant.free_models import FreeModel, FreeModelsStore, UnknownModelError


@pytest.fixture
def store(tmp_path: Path) -> FreeModelsStore:
    return FreeModelsStore(tmp_path / "free-models.json")


def add_all(store: FreeModelsStore, *entries: dict) -> None:
    for entry in entries:
        store.add_model(entry)


class Registry:
    """Only what the store asks: is this provider configured (has a key, or is local)?"""

    def __init__(self, *configured: str) -> None:
        self._configured = set(configured)

    def configured(self, provider: str) -> bool:
        return provider in self._configured


# --- the record ----------------------------------------------------------------------------------

def test_local_defaults_from_the_provider() -> None:
    assert FreeModel(id="ollama/qwen3:8b").local is True
    assert FreeModel(id="llama/smollm2").local is True
    assert FreeModel(id="groq/llama-3.1-8b-instant").local is False


def test_flash_defaults_from_the_model_name() -> None:
    assert FreeModel(id="google/gemini-2.5-flash-lite").flash is True
    assert FreeModel(id="groq/llama-3.1-8b-instant").flash is False


def test_explicit_flags_win_over_defaults() -> None:
    entry = FreeModel(id="google/gemini-2.5-flash", flash=False, local=True)
    assert (entry.flash, entry.local) == (False, True)


def test_provider_and_model_split_at_the_first_slash() -> None:
    entry = FreeModel(id="openrouter/z-ai/glm-4.5-air:free")
    assert (entry.provider, entry.model) == ("openrouter", "z-ai/glm-4.5-air:free")


@pytest.mark.parametrize("bad", ["no-slash", "/model", "groq/", "groq/has space"])
def test_malformed_id_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="provider/model"):
        FreeModel(id=bad)


def test_unknown_provider_is_rejected_naming_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown provider 'nope'.*openrouter"):
        FreeModel(id="nope/model")


def test_provider_declared_in_the_config_file_is_accepted(_isolated_home: Path) -> None:
    (_isolated_home / "config.toml").write_text('[providers.lab]\nkind = "llama"\nbase_url = "http://127.0.0.1:9"\n')
    assert FreeModel(id="lab/qwen").provider == "lab"


def test_wrong_types_are_rejected_not_coerced() -> None:
    with pytest.raises(ValueError):
        FreeModel(id="groq/x", enabled="yes")
    with pytest.raises(ValueError):
        FreeModel(id="groq/x", context_window=0)


# --- CRUD ----------------------------------------------------------------------------------------

def test_added_entry_is_returned_by_get(store: FreeModelsStore) -> None:
    store.add_model(FreeModel(id="groq/a", supports_tools=True, context_window=8192))
    entry = store.get_model("groq/a")
    assert (entry.supports_tools, entry.context_window) == (True, 8192)


def test_add_accepts_a_bare_id_and_a_dict(store: FreeModelsStore) -> None:
    store.add_model("groq/a")
    store.add_model({"id": "groq/b", "notes": "from a dict"})
    assert [m.id for m in store.list_models()] == ["groq/a", "groq/b"]


def test_add_without_priority_goes_after_the_last_entry(store: FreeModelsStore) -> None:
    store.add_model({"id": "groq/a", "priority": 50})
    added = store.add_model("groq/b")
    assert added.priority > 50


def test_add_keeps_an_explicit_priority(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a", "priority": 50})
    store.add_model({"id": "groq/b", "priority": 5})
    assert [m.id for m in store.list_models()] == ["groq/b", "groq/a"]


def test_add_duplicate_raises_and_leaves_the_file_unchanged(store: FreeModelsStore) -> None:
    store.add_model("groq/a")
    before = store.path.read_bytes()
    with pytest.raises(UsageError, match="'groq/a' is already"):
        store.add_model({"id": "groq/a", "priority": 1})
    assert store.path.read_bytes() == before


def test_add_malformed_entry_raises_naming_the_field(store: FreeModelsStore) -> None:
    store.add_model("groq/a")
    before = store.path.read_bytes()
    with pytest.raises(UsageError, match="context_window"):
        store.add_model({"id": "groq/b", "context_window": "big"})
    assert store.path.read_bytes() == before


def test_update_changes_fields_on_disk(store: FreeModelsStore) -> None:
    store.add_model("groq/a")
    store.update_model("groq/a", enabled=False, notes="paused")
    reread = FreeModelsStore(store.path).get_model("groq/a")
    assert (reread.enabled, reread.notes) == (False, "paused")


def test_update_unknown_id_raises_keyerror_naming_the_id(store: FreeModelsStore) -> None:
    store.add_model("groq/a")
    with pytest.raises(KeyError) as info:
        store.update_model("groq/zzz", enabled=False)
    assert "groq/zzz" in str(info.value) and "groq/a" in str(info.value)


def test_update_wrong_type_raises_and_leaves_the_file_unchanged(store: FreeModelsStore) -> None:
    store.add_model("groq/a")
    before = store.path.read_bytes()
    with pytest.raises(UsageError, match="priority"):
        store.update_model("groq/a", priority="first")
    assert store.path.read_bytes() == before


def test_update_unknown_field_raises_listing_the_fields(store: FreeModelsStore) -> None:
    store.add_model("groq/a")
    with pytest.raises(UsageError, match="unknown field.*colour.*supports_tools"):
        store.update_model("groq/a", colour="red")


def test_update_can_rename_but_not_onto_an_existing_id(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a"}, {"id": "groq/b"})
    store.update_model("groq/a", id="groq/c")
    with pytest.raises(UsageError, match="already"):
        store.update_model("groq/c", id="groq/b")
    assert [m.id for m in store.list_models()] == ["groq/c", "groq/b"]


def test_remove_deletes_the_entry(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a"}, {"id": "groq/b"})
    removed = store.remove_model("groq/a")
    assert removed.id == "groq/a"
    assert [m.id for m in store.list_models()] == ["groq/b"]


def test_remove_unknown_id_raises_keyerror(store: FreeModelsStore) -> None:
    with pytest.raises(UnknownModelError, match="groq/zzz"):
        store.remove_model("groq/zzz")


def test_changes_made_through_another_store_are_seen_on_the_next_read(store: FreeModelsStore) -> None:
    store.add_model("groq/a")
    assert len(store.list_models()) == 1
    FreeModelsStore(store.path).add_model("groq/b")
    assert [m.id for m in store.list_models()] == ["groq/a", "groq/b"]


# --- reorder -------------------------------------------------------------------------------------

def test_reorder_with_a_full_permutation(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a"}, {"id": "groq/b"}, {"id": "groq/c"})
    store.reorder_models(["groq/c", "groq/a", "groq/b"])
    assert [m.id for m in store.list_models()] == ["groq/c", "groq/a", "groq/b"]


def test_reorder_with_a_partial_list_moves_it_to_the_front(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a"}, {"id": "groq/b"}, {"id": "groq/c"}, {"id": "groq/d"})
    store.reorder_models(["groq/d", "groq/b"])
    assert [m.id for m in store.list_models()] == ["groq/d", "groq/b", "groq/a", "groq/c"]


def test_reorder_naming_unknown_ids_raises_and_leaves_the_file_unchanged(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a"}, {"id": "groq/b"})
    before = store.path.read_bytes()
    with pytest.raises(KeyError, match="groq/x.*groq/y"):
        store.reorder_models(["groq/b", "groq/x", "groq/y"])
    assert store.path.read_bytes() == before


def test_reorder_with_a_repeated_id_raises(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a"}, {"id": "groq/b"})
    with pytest.raises(UsageError, match="more than once: groq/a"):
        store.reorder_models(["groq/a", "groq/a"])


def test_reorder_refuses_a_bare_string(store: FreeModelsStore) -> None:
    store.add_model("groq/a")
    with pytest.raises(UsageError, match="list of ids"):
        store.reorder_models("groq/a")


# --- chains --------------------------------------------------------------------------------------

def test_chain_puts_local_entries_first_then_orders_by_priority(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a", "priority": 1}, {"id": "ollama/b", "priority": 50},
            {"id": "groq/c", "priority": 2}, {"id": "llama/d", "priority": 40})
    assert [m.id for m in store.fallback_chain()] == ["llama/d", "ollama/b", "groq/a", "groq/c"]


def test_chain_is_stable_for_equal_priorities(store: FreeModelsStore) -> None:
    add_all(store, *({"id": f"groq/m{i}", "priority": 10} for i in range(5)))
    assert [m.id for m in store.fallback_chain()] == [f"groq/m{i}" for i in range(5)]


def test_chain_skips_disabled_entries(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a", "enabled": False}, {"id": "groq/b"})
    assert [m.id for m in store.fallback_chain()] == ["groq/b"]


def test_tool_chain_drops_entries_without_tools_and_flash_entries(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/plain"}, {"id": "groq/tools", "supports_tools": True},
            {"id": "google/gemini-2.5-flash-lite", "supports_tools": True})
    assert [m.id for m in store.fallback_chain(tools=True)] == ["groq/tools"]


def test_chain_with_a_registry_drops_providers_that_are_not_configured(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a"}, {"id": "openrouter/b"}, {"id": "llama/c"})
    chain = store.fallback_chain(registry=Registry("groq", "llama"))
    assert [m.id for m in chain] == ["llama/c", "groq/a"]


def test_interim_model_prefers_the_interim_role_in_chain_order(store: FreeModelsStore) -> None:
    add_all(store, {"id": "google/gemini-2.5-flash-lite"}, {"id": "groq/b", "roles": ["interim"]},
            {"id": "groq/c", "roles": ["interim"]})
    assert store.interim_model().id == "groq/b"


def test_interim_model_falls_back_to_the_first_flash_entry(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a"}, {"id": "google/gemini-2.5-flash-lite"})
    assert store.interim_model().id == "google/gemini-2.5-flash-lite"


def test_interim_model_falls_back_to_the_chain_head(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a"}, {"id": "groq/b"})
    assert store.interim_model().id == "groq/a"


def test_interim_model_skips_providers_the_registry_lacks(store: FreeModelsStore) -> None:
    add_all(store, {"id": "google/gemini-2.5-flash-lite", "roles": ["interim"]}, {"id": "groq/b", "roles": ["interim"]})
    assert store.interim_model(registry=Registry("groq")).id == "groq/b"


def test_greeting_model_uses_the_greeting_role(store: FreeModelsStore) -> None:
    add_all(store, {"id": "groq/a", "roles": ["interim"]}, {"id": "groq/b", "roles": ["greeting"]})
    assert store.greeting_model().id == "groq/b"


def test_role_models_are_none_for_an_empty_chain(store: FreeModelsStore) -> None:
    assert store.interim_model() is None and store.greeting_model() is None
