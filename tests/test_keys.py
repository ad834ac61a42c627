"""Keys at rest: the encrypted store, the registry reading it, and `assistant keys` / `doctor` using it."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from assistant.cli import main
from assistant.errors import UsageError
from assistant.registry import LLMRegistry
from assistant.registry.keystore import MASTER_KEY_ENV, KeyStore

KEY = "gsk_" + "A1b2C3d4E5f6G7h8I9j0K1l2" + "wxyz"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_stored_key_reads_back() -> None:
    store = KeyStore()
    store.set("groq", KEY)
    assert KeyStore().get("groq") == KEY


def test_the_store_file_never_holds_the_key_in_plain_text() -> None:
    store = KeyStore()
    store.set("groq", KEY)
    text = store.path.read_text()
    assert KEY not in text and KEY[-8:] not in text


def test_the_master_key_file_is_created_0600_on_first_use() -> None:
    store = KeyStore()
    assert not store.master_key_path.exists()
    store.set("groq", KEY)
    assert _mode(store.master_key_path) == 0o600
    assert _mode(store.path) == 0o600


def test_a_passphrase_master_key_from_the_environment_needs_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, "correct horse battery staple")
    KeyStore().set("groq", KEY)
    assert not KeyStore().master_key_path.exists()
    assert KeyStore().get("groq") == KEY


def test_a_wrong_master_key_is_a_clear_error_that_does_not_show_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, "first passphrase")
    KeyStore().set("groq", KEY)
    monkeypatch.setenv(MASTER_KEY_ENV, "another passphrase")
    with pytest.raises(UsageError, match="does not decrypt") as info:
        KeyStore().get("groq")
    assert KEY not in str(info.value)


def test_a_group_readable_master_key_file_is_refused() -> None:
    store = KeyStore()
    store.set("groq", KEY)
    os.chmod(store.master_key_path, 0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        KeyStore().get("groq")


def test_the_registry_uses_a_stored_key_when_no_other_source_has_one() -> None:
    KeyStore().set("groq", KEY)
    registry = LLMRegistry.from_env()
    assert registry.keys("groq") == [KEY]
    assert registry.key_source("groq") == "keystore"
    assert "groq" in registry.providers()


def test_an_environment_key_wins_over_the_stored_one(monkeypatch: pytest.MonkeyPatch) -> None:
    KeyStore().set("groq", KEY)
    monkeypatch.setenv("GROQ_API_KEY", "gsk_fromtheenvironment0000")
    registry = LLMRegistry.from_env()
    assert registry.keys("groq") == ["gsk_fromtheenvironment0000"]
    assert registry.key_source("groq") == "env"


def test_an_unreadable_store_does_not_stop_environment_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, "first passphrase")
    KeyStore().set("groq", KEY)
    monkeypatch.setenv(MASTER_KEY_ENV, "another passphrase")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fromtheenvironment000000")
    registry = LLMRegistry.from_env()
    assert registry.providers().count("openai") == 1
    assert registry.keys("groq") == []


# --- the CLI --------------------------------------------------------------------------------------

def _set_via_stdin(monkeypatch: pytest.MonkeyPatch, name: str, key: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    return main(["keys", "set", name])


def test_keys_set_reads_a_piped_key_and_never_prints_it(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    assert _set_via_stdin(monkeypatch, "gemini", KEY) == 0
    out = capsys.readouterr()
    assert KEY not in out.out + out.err and "...wxyz" in out.out
    assert KeyStore().get("google") == KEY  # the alias is stored under the canonical name


def test_keys_set_prompts_hidden_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []
    monkeypatch.setattr("sys.stdin", Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or KEY)
    assert main(["keys", "set", "groq"]) == 0
    assert prompts and KeyStore().get("groq") == KEY


def test_keys_set_refuses_an_unknown_provider(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    assert _set_via_stdin(monkeypatch, "nosuch", KEY) == 2
    assert "unknown provider 'nosuch'" in capsys.readouterr().err


def test_keys_list_shows_each_source_masked_to_the_last_4(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    _set_via_stdin(monkeypatch, "groq", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-fromtheenvironment9876")
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines()}
    assert lines["groq"][1:3] == ["keystore", "...wxyz"]
    assert lines["openai"][1:3] == ["env", "...9876"]
    assert KEY not in out and "fromtheenvironment" not in out


def test_keys_delete_forgets_the_stored_key(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_via_stdin(monkeypatch, "groq", KEY)
    assert main(["keys", "delete", "groq"]) == 0
    assert KeyStore().get("groq") is None
    assert main(["keys", "delete", "groq"]) == 2


def _lab(url: str) -> None:
    config = Path(os.environ["ASSISTANT_HOME"]) / "config.toml"
    config.write_text(f'[providers.lab]\nkind = "openai"\nbase_url = "{url}/v1"\n')


def _refusing_chat(request: web.Request) -> web.Response:
    if request.path.endswith("/models"):  # listing needs no key, like OpenRouter's /models
        return web.json_response({"data": [{"id": "m1", "object": "model"}]})
    return web.json_response({"error": {"message": "Invalid API key", "type": "invalid_request_error",
                                         "code": "invalid_api_key"}}, status=401)


def test_keys_test_records_a_401_as_rejected(monkeypatch: pytest.MonkeyPatch, capsys: Any, fake_server: Any) -> None:
    server = fake_server(_refusing_chat)
    _lab(server.url)
    _set_via_stdin(monkeypatch, "lab", KEY)
    assert main(["keys", "test", "lab", "--model", "m1"]) == 1
    out = capsys.readouterr().out
    assert "rejected" in out and KEY not in out
    test = KeyStore().last_test("lab")
    assert test is not None and test.result == "rejected" and not test.ok and test.at > 0


@pytest.mark.llama
def test_keys_test_makes_a_one_token_call_and_records_ok(monkeypatch: pytest.MonkeyPatch, llama_url: str, capsys: Any) -> None:
    _lab(llama_url)  # llama.cpp ignores the key, so any key is accepted
    _set_via_stdin(monkeypatch, "lab", KEY)
    assert main(["keys", "test", "lab", "--model", "smollm2"]) == 0
    assert KeyStore().last_test("lab").result == "ok"
    capsys.readouterr()
    main(["keys", "list"])
    assert "tested" in capsys.readouterr().out


def test_doctor_never_shows_a_provider_that_answered_401_as_ok(monkeypatch: pytest.MonkeyPatch, capsys: Any,
                                                                fake_server: Any) -> None:
    server = fake_server(_refusing_chat)
    _lab(server.url)
    _set_via_stdin(monkeypatch, "lab", KEY)
    capsys.readouterr()
    main(["doctor", "--json"])
    import json

    report = json.loads(capsys.readouterr().out)
    lab = next(p for p in report["providers"] if p["name"] == "lab")
    assert lab["key_test"] == "rejected"
    main(["doctor"])
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("lab"))
    assert "key rejected" in line and " ok " not in line


def test_doctor_counts_a_rate_limited_key_test_as_an_accepted_key(monkeypatch: pytest.MonkeyPatch, capsys: Any,
                                                                   fake_server: Any) -> None:
    def busy(request: web.Request) -> web.Response:
        if request.path.endswith("/models"):
            return web.json_response({"data": [{"id": "m1", "object": "model"}]})
        return web.json_response({"error": {"message": "Rate limit exceeded", "type": "rate_limit_error"}}, status=429)

    _lab(fake_server(busy).url)
    _set_via_stdin(monkeypatch, "lab", KEY)
    capsys.readouterr()
    main(["doctor"])
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith("lab"))
    assert " ok " in line and "rate_limit" in out
