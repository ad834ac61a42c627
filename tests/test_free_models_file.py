"""free-models.json on disk: where it lives, hand-edit mistakes, migrations, and the shipped list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import assistant
from assistant.errors import UsageError
from assistant.free_models import CURRENT_VERSION, BrokenFileError, FreeModelsStore, packaged_default
from assistant.providers.specs import get_spec

REPO = Path(__file__).resolve().parent.parent
PACKAGED = Path(assistant.__path__[0]) / "data" / "free-models.json"


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document, indent=2))
    return path


# --- where the file lives ------------------------------------------------------------------------

def test_explicit_path_wins_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_FREE_MODELS", str(tmp_path / "env.json"))
    assert FreeModelsStore(tmp_path / "arg.json").path == tmp_path / "arg.json"


def test_environment_wins_over_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "free-models.json", {"version": 1, "models": []})
    monkeypatch.setenv("ASSISTANT_FREE_MODELS", str(tmp_path / "env.json"))
    assert FreeModelsStore().path == tmp_path / "env.json"


def test_a_free_models_json_in_the_working_directory_is_used_only_when_named(
        tmp_path: Path, _isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tracked = write(tmp_path / "free-models.json", {"version": 1, "models": [{"id": "groq/a"}]})
    monkeypatch.chdir(tmp_path)
    before = tracked.read_bytes()
    FreeModelsStore().add_model("groq/added")
    assert tracked.read_bytes() == before
    assert [m.id for m in FreeModelsStore("free-models.json").list_models()] == ["groq/a"]


def test_writes_leave_no_lock_file_beside_the_list(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    FreeModelsStore(tmp_path / "tree" / "free-models.json").add_model("groq/a")
    assert sorted(p.name for p in (tmp_path / "tree").iterdir()) == ["free-models.json"]


def test_default_is_a_user_copy_of_the_packaged_list(_isolated_home: Path) -> None:
    store = FreeModelsStore()
    assert store.path == _isolated_home / "free-models.json"
    assert len(store.list_models()) > 10
    assert store.path.read_bytes() == packaged_default()


def test_editing_the_default_list_never_writes_into_the_package() -> None:
    before = PACKAGED.read_bytes()
    FreeModelsStore().add_model("groq/added-by-a-test")
    assert PACKAGED.read_bytes() == before


def test_a_missing_explicit_file_is_empty_until_the_first_write(tmp_path: Path) -> None:
    store = FreeModelsStore(tmp_path / "new" / "list.json")
    assert store.list_models() == []
    store.add_model("groq/a")
    assert json.loads(store.path.read_text())["models"][0]["id"] == "groq/a"


def test_the_written_file_is_versioned_and_lists_every_field(tmp_path: Path) -> None:
    store = FreeModelsStore(tmp_path / "list.json")
    store.add_model("groq/a")
    document = json.loads(store.path.read_text())
    assert document["version"] == CURRENT_VERSION
    assert set(document["models"][0]) == {"id", "priority", "enabled", "local", "supports_tools", "flash",
                                          "context_window", "roles", "notes"}


def test_notes_at_the_top_of_the_file_survive_a_write(tmp_path: Path) -> None:
    path = write(tmp_path / "list.json", {"version": 1, "notes": ["sources: vendor pages"], "models": []})
    FreeModelsStore(path).add_model("groq/a")
    assert json.loads(path.read_text())["notes"] == ["sources: vendor pages"]


# --- hand-edited files ---------------------------------------------------------------------------

def test_broken_json_names_the_line_and_column_and_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text('{\n  "version": 1,\n  "models": [\n    {"id": "groq/a",}\n  ]\n}\n')
    before = path.read_bytes()
    store = FreeModelsStore(path)
    with pytest.raises(BrokenFileError) as info:
        store.list_models()
    assert (info.value.line, info.value.column) == (4, 20)  # the offending trailing comma
    assert f"{path}:4:20: not valid JSON (trailing comma" in str(info.value)
    with pytest.raises(BrokenFileError):
        store.add_model("groq/b")
    assert path.read_bytes() == before


def test_an_invalid_entry_names_its_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "list.json", {"version": 1, "models": [{"id": "groq/a"}, {"id": "groq/b", "priority": "1"}]})
    with pytest.raises(BrokenFileError, match=r"list.json:\d+: entry 2 \(groq/b\): priority") as info:
        FreeModelsStore(path).list_models()
    assert path.read_text().splitlines()[info.value.line - 1].strip().startswith('"id": "groq/b"')


def test_a_misspelt_field_is_reported_not_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "list.json", {"version": 1, "models": [{"id": "groq/a", "supports_tool": True}]})
    with pytest.raises(BrokenFileError, match="supports_tool: unknown field"):
        FreeModelsStore(path).list_models()


def test_a_duplicate_id_points_at_the_second_occurrence(tmp_path: Path) -> None:
    path = write(tmp_path / "list.json", {"version": 1, "models": [{"id": "groq/a"}, {"id": "groq/a"}]})
    with pytest.raises(BrokenFileError, match="duplicate id 'groq/a'") as info:
        FreeModelsStore(path).list_models()
    lines = [n for n, text in enumerate(path.read_text().splitlines(), 1) if '"groq/a"' in text]
    assert info.value.line == lines[1]


def test_an_unknown_top_level_key_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "list.json", {"version": 1, "modles": []})
    with pytest.raises(BrokenFileError, match='unknown top-level key "modles"'):
        FreeModelsStore(path).list_models()


def test_a_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "list.json", {"version": CURRENT_VERSION + 1, "models": []})
    with pytest.raises(BrokenFileError, match="newer assistant"):
        FreeModelsStore(path).list_models()


def test_broken_file_errors_are_usage_errors() -> None:
    assert issubclass(BrokenFileError, UsageError) and issubclass(BrokenFileError, ValueError)


def test_an_entry_naming_an_undeclared_provider_still_loads(tmp_path: Path) -> None:
    # It may be declared by the registry at run time; the chain drops it when the registry lacks it.
    path = write(tmp_path / "list.json", {"version": 1, "models": [{"id": "lab/qwen"}]})
    assert FreeModelsStore(path).get_model("lab/qwen").notes == ""


# --- migrations ----------------------------------------------------------------------------------

def test_an_unversioned_bare_list_is_read_and_migrated_on_the_next_write(tmp_path: Path) -> None:
    path = write(tmp_path / "list.json", ["groq/a", {"id": "groq/b", "supports_tools": True}])
    store = FreeModelsStore(path)
    assert [m.id for m in store.list_models()] == ["groq/a", "groq/b"]
    store.update_model("groq/a", notes="touched")
    document = json.loads(path.read_text())
    assert document["version"] == CURRENT_VERSION and len(document["models"]) == 2


# --- the shipped list ----------------------------------------------------------------------------

def test_the_repo_copy_and_the_package_copy_are_identical() -> None:
    assert (REPO / "free-models.json").read_bytes() == PACKAGED.read_bytes()


def test_the_shipped_list_loads_and_names_only_known_providers() -> None:
    models = FreeModelsStore(PACKAGED).list_models()
    assert len({m.id for m in models}) == len(models) > 10
    for model in models:
        get_spec(model.provider)


def test_every_shipped_entry_says_where_its_facts_come_from() -> None:
    for model in FreeModelsStore(PACKAGED).list_models():
        assert len(model.notes) > 30, model.id
        assert model.context_window, model.id


def test_the_embedded_local_model_is_shipped_enabled_without_tools() -> None:
    smollm2 = FreeModelsStore(PACKAGED).get_model("llama/smollm2")
    assert (smollm2.enabled, smollm2.local, smollm2.supports_tools, smollm2.context_window) == (True, True, False, 2048)


def test_the_shipped_list_has_fast_interim_and_greeting_models() -> None:
    store = FreeModelsStore(PACKAGED)
    for role_model in (store.interim_model(), store.greeting_model()):
        assert role_model is not None and not role_model.local


@pytest.mark.parametrize("provider", ["openrouter", "groq", "cerebras", "nvidia", "google"])
def test_each_free_cloud_provider_alone_still_has_a_tool_chain(provider: str) -> None:
    class OnlyThat:
        def configured(self, name: str) -> bool:
            return name == provider

    assert FreeModelsStore(PACKAGED).fallback_chain(tools=True, registry=OnlyThat())
