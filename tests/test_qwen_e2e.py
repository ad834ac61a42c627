"""The default local model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, joined from its pinned chunk wheels by
scripts/install.sh) does small agent tasks end to end through this engine, with the CLI's default tools.

The answers are judged (the right number, the file's content, the current time, the right fact), not
the exit status. One server for the module; 1 thread, the measured best on 2 cores.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from assistant import Agent, LLMRegistry

# Read before any test scrubs ASSISTANT_* variables from the environment.
MODELS_DIR = os.environ.get("ASSISTANT_MODELS_DIR")
REQUIRED = bool(os.environ.get("ASSISTANT_REQUIRE_QWEN"))
MODEL = "qwen2.5-coder-1.5b"

pytestmark = [pytest.mark.qwen, pytest.mark.slow]


@pytest.fixture(scope="module")
def qwen_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from assistant import local
    from assistant.local import models

    saved = os.environ.get("ASSISTANT_MODELS_DIR")
    if MODELS_DIR:
        os.environ["ASSISTANT_MODELS_DIR"] = MODELS_DIR
    try:
        if models.path_of(models.get(MODEL)) is None or not local.available():
            message = f"{MODEL} is not installed: run scripts/install.sh (assistant local install {MODEL})"
            if REQUIRED:
                pytest.fail(message)
            pytest.skip(message)
        state = tmp_path_factory.mktemp("qwen-state")
        server = local.start(state_dir=state, ctx_size=4096, model=MODEL, threads=1)
    finally:
        if saved is None:
            os.environ.pop("ASSISTANT_MODELS_DIR", None)
        else:
            os.environ["ASSISTANT_MODELS_DIR"] = saved
    try:
        assert server.model == MODEL
        yield server.url
    finally:
        local.stop(state_dir=state)


def _run(url: str, task: str) -> str:
    from tools import default_tools

    registry = LLMRegistry()
    registry.add_provider("llama", base_url=url)
    result = Agent(f"llama/{MODEL}", default_tools(), registry=registry, max_steps=4).run_sync(task)
    return result.output


def test_arithmetic(qwen_url: str) -> None:
    answer = _run(qwen_url, "What is 17 * 23?")
    assert "391" in answer.replace(",", "")


def test_a_direct_answer(qwen_url: str) -> None:
    assert "paris" in _run(qwen_url, "What is the capital of France? Answer with the city name.").lower()


def test_reads_a_file_in_the_current_folder(qwen_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("Team notes\nThe weekly meeting is on Thursday at 14:30 in room B7.\n")
    answer = _run(qwen_url, "Read notes.txt and tell me which day the weekly meeting is on.")
    assert "thursday" in answer.lower()


def test_tells_the_current_time(qwen_url: str) -> None:
    before = datetime.now(timezone.utc)
    answer = _run(qwen_url, "What time is it now in UTC? Use a tool.")
    after = datetime.now(timezone.utc)
    minutes = set()
    moment = before - timedelta(minutes=1)
    while moment <= after + timedelta(minutes=1):
        minutes.add(moment.strftime("%H:%M"))
        moment += timedelta(minutes=1)
    # Any clock reading counts: "14:05", "2026-12-02T14:05:09+00:00" (no word boundary after the T), "2:05 PM".
    found = {f"{int(h):02d}:{m}" for h, m in re.findall(r"(?<!\d)(\d{1,2}):(\d{2})", answer)}
    found |= {f"{int(h) % 12 + 12:02d}:{m}" for h, m in re.findall(r"(?<!\d)(\d{1,2}):(\d{2})\s*[pP]\.?[mM]", answer)}
    assert found & minutes, f"no current UTC time ({sorted(minutes)}) in {answer!r}"
