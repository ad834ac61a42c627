"""`assistant free-models ...` and `assistant models ...` run as a user would: in a subprocess, with
exit codes 0 (done), 2 (usage mistake) and 1 (anything else, e.g. a broken file)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

import assistant.cli

# Until every command group of `assistant` exists, run the real main() with just these two.
_SHIM = "import sys, assistant.cli as c; c._GROUPS = ('models', 'free_models'); sys.exit(c.main(sys.argv[1:]))"


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    complete = all(importlib.util.find_spec(f"assistant.cli.{group}") for group in assistant.cli._GROUPS)
    command = [sys.executable, "-m", "assistant"] if complete else [sys.executable, "-c", _SHIM]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **env})


@pytest.fixture
def listfile(tmp_path: Path) -> Path:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"version": 1, "models": [
        {"id": "groq/a", "supports_tools": True}, {"id": "groq/b"}, {"id": "ollama/c", "supports_tools": True}]}))
    return path


# --- free-models ---------------------------------------------------------------------------------

def test_list_shows_the_default_list_as_a_table() -> None:
    result = cli("free-models", "list")
    assert result.returncode == 0, result.stderr
    assert "llama/smollm2" in result.stdout and "PRIORITY" in result.stdout


def test_list_json_is_machine_readable(listfile: Path) -> None:
    result = cli("free-models", "list", "--file", str(listfile), "--json")
    assert [m["id"] for m in json.loads(result.stdout)] == ["groq/a", "groq/b", "ollama/c"]


def test_list_chain_with_tools_shows_what_an_agent_step_would_try(listfile: Path) -> None:
    result = cli("free-models", "list", "--file", str(listfile), "--chain", "--tools", "--json")
    assert [m["id"] for m in json.loads(result.stdout)] == ["ollama/c", "groq/a"]


def test_add_update_remove_round_trip(listfile: Path) -> None:
    added = cli("free-models", "add", "openrouter/z-ai/glm-4.5-air:free", "--file", str(listfile), "--tools",
                "--context", "131072", "--roles", "interim", "--notes", "openrouter.ai/z-ai/glm-4.5-air:free")
    assert added.returncode == 0, added.stderr
    assert cli("free-models", "update", "openrouter/z-ai/glm-4.5-air:free", "--disable", "--file", str(listfile)).returncode == 0
    entry = next(m for m in json.loads(listfile.read_text())["models"] if m["id"].startswith("openrouter/"))
    assert (entry["enabled"], entry["supports_tools"], entry["context_window"], entry["roles"]) == (False, True, 131072, ["interim"])
    assert cli("free-models", "remove", "groq/b", "--file", str(listfile)).returncode == 0
    assert "groq/b" not in listfile.read_text()


def test_reorder_moves_ids_to_the_front(listfile: Path) -> None:
    assert cli("free-models", "reorder", "groq/b", "--file", str(listfile)).returncode == 0
    assert [m["id"] for m in json.loads(listfile.read_text())["models"]] == ["groq/b", "groq/a", "ollama/c"]


def test_adding_a_duplicate_exits_2_with_a_clear_error(listfile: Path) -> None:
    result = cli("free-models", "add", "groq/a", "--file", str(listfile))
    assert result.returncode == 2
    assert result.stderr.startswith("error: free model 'groq/a' is already in")


def test_updating_an_unknown_id_exits_2_listing_the_known_ones(listfile: Path) -> None:
    result = cli("free-models", "update", "groq/zzz", "--enable", "--file", str(listfile))
    assert result.returncode == 2
    assert "no free model 'groq/zzz'" in result.stderr and "groq/a" in result.stderr


def test_a_bad_value_exits_2_naming_the_field(listfile: Path) -> None:
    before = listfile.read_bytes()
    result = cli("free-models", "update", "groq/a", "--roles", "poetry", "--file", str(listfile))
    assert result.returncode == 2 and "roles" in result.stderr
    assert listfile.read_bytes() == before


def test_a_missing_argument_exits_2_with_usage() -> None:
    result = cli("free-models", "add")
    assert result.returncode == 2 and "usage:" in result.stderr


def test_a_broken_file_exits_1_pointing_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"version": 1,\n "models": [\n  {"id": "groq/a"\n]}\n')
    result = cli("free-models", "list", "--file", str(path))
    assert result.returncode == 1
    assert f"{path}:4:" in result.stderr and "Traceback" not in result.stderr


# --- models --------------------------------------------------------------------------------------

def test_models_shows_a_table_with_source_and_age() -> None:
    result = cli("models", "--provider", "groq")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[-2:] == ["SOURCE", "AGE"]
    assert rows and all(row.startswith("groq/") and row.endswith("seed") for row in rows)


def test_models_json_filters_free_tool_models() -> None:
    models = json.loads(cli("models", "--free", "--tools", "--json").stdout)
    assert models and all(m["free"] and m["supports_tools"] for m in models)
    assert "llama/smollm2" not in {m["model_id"] for m in models}


def test_models_with_an_unknown_provider_exits_2() -> None:
    result = cli("models", "--provider", "nope")
    assert result.returncode == 2 and "unknown provider 'nope'" in result.stderr


def test_models_refresh_asks_the_configured_providers(fake_server) -> None:
    def listing(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "z-ai/glm-4.5-air:free", "context_length": 131072,
                                            "pricing": {"prompt": "0", "completion": "0"},
                                            "supported_parameters": ["tools"]}]})

    server = fake_server(listing)
    result = cli("models", "--refresh", "--provider", "openrouter", "--json",
                 OPENROUTER_API_KEY="sk-or-v1-test", OPENROUTER_BASE_URL=server.url + "/api/v1")
    assert result.returncode == 0, result.stderr
    glm = next(m for m in json.loads(result.stdout) if m["model_id"] == "openrouter/z-ai/glm-4.5-air:free")
    assert glm["age_s"] is not None and glm["free"] is True
    assert [r["path"] for r in server.requests] == ["/api/v1/models"]
