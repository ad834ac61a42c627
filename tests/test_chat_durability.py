"""Histories that never break a conversation: a turn is kept or lost whole, a torn write never makes
later sends fail, and several processes appending to one conversation lose nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from assistant.agent import RunResult
from assistant.agent.records import event
from assistant.chat import ChatSession
from assistant.chat.history import HistoryStore, JsonlHistoryStore, MessageRecord, TurnRecord
from assistant.messages import Message, ToolCall


def _check_pairs(messages: list[Message]) -> None:
    """What OpenAI-compatible servers enforce (HTTP 400 otherwise): each call answered right after it."""
    pending: set[str] = set()
    for message in messages:
        if message.role == "tool":
            assert message.tool_call_id in pending, f"tool result {message.tool_call_id} has no call"
            pending.discard(message.tool_call_id)
            continue
        assert not pending, f"tool calls {pending} have no result"
        pending = {c.id for c in message.tool_calls} if message.role == "assistant" else set()
    assert not pending, f"tool calls {pending} have no result"


class ToolUsingAgent:
    """Answers every task with one tool call, its result and a final answer; checks the history it gets."""

    def __init__(self) -> None:
        self.turns = 0

    async def stream(self, task: str, *, history: Any = ()):
        _check_pairs([m for m in history if m.role != "system"])
        self.turns += 1
        call = ToolCall(id=f"call_{task}_{self.turns}", name="lookup", arguments={"q": task})
        new = [Message.assistant("", tool_calls=[call]), Message.tool(f"found {task}", tool_call_id=call.id, name="lookup"),
               Message.assistant(f"answer to {task}")]
        yield event("done", 1, result=RunResult(output=f"answer to {task}", messages=[*history, Message.user(task), *new]))


async def test_a_turn_is_one_record_with_its_tool_calls_and_results() -> None:
    session = ChatSession(ToolUsingAgent(), "c", greeting=False)
    await session.send("one")
    records = [json.loads(line) for line in session.path.read_text().splitlines()]
    assert [r["type"] for r in records] == ["meta", "message", "turn"]
    assert [m["role"] for m in records[2]["messages"]] == ["assistant", "tool", "assistant"]


async def test_a_turn_torn_mid_write_is_lost_whole_and_the_next_send_works() -> None:
    session = ChatSession(ToolUsingAgent(), "c", greeting=False)
    await session.send("one")
    data = session.path.read_bytes()
    turn_line = data.splitlines(keepends=True)[-1]
    # A crash after the assistant's tool call reached the disk but before its result did.
    cut = turn_line.index(b'"tool"')
    with open(session.path, "ab") as fh:
        fh.write(b'{"type":"message","message":{"role":"user","content":"two"}}\n' + turn_line[:cut])
    again = ChatSession(ToolUsingAgent(), "c", greeting=False)
    result = await again.send("three")  # the agent checks every call has its result
    assert result.output == "answer to three"
    reloaded = ChatSession(ToolUsingAgent(), "c", greeting=False)
    await reloaded.load()
    _check_pairs(reloaded.history)
    assert [m.content for m in reloaded.history if m.role == "user"] == ["one", "two", "three"]


def test_a_call_whose_result_line_was_lost_is_dropped_on_load(tmp_path: Path) -> None:
    store = JsonlHistoryStore.for_conversation("old", tmp_path)
    call, orphan = ToolCall(id="a", name="lookup"), Message.tool("stray", tool_call_id="zzz")
    # Version 1 files wrote each message as its own line: a crash could keep the call and lose the result.
    store.append([MessageRecord(message=m) for m in [
        Message.user("q"), Message.assistant("let me look", tool_calls=[call]), orphan, Message.user("again?"),
        Message.assistant("", tool_calls=[ToolCall(id="b", name="lookup")]),
    ]])
    loaded = store.load()
    _check_pairs(loaded.messages)
    assert [(m.role, m.content) for m in loaded.messages] == [("user", "q"), ("assistant", "let me look"), ("user", "again?")]


def test_the_jsonl_store_is_a_history_store(tmp_path: Path) -> None:
    assert isinstance(JsonlHistoryStore.for_conversation("x", tmp_path), HistoryStore)


APPENDER = textwrap.dedent(
    """
    import sys
    from assistant.chat.history import JsonlHistoryStore, TurnRecord
    from assistant.messages import Message, ToolCall
    store = JsonlHistoryStore.for_conversation("shared", sys.argv[1])
    name, count = sys.argv[2], int(sys.argv[3])
    for i in range(count):
        call = ToolCall(id=f"{name}-{i}", name="lookup", arguments={"pad": "x" * 5000})
        store.append([TurnRecord(messages=[Message.assistant("", tool_calls=[call]),
                                           Message.tool(f"{name} {i}", tool_call_id=call.id)])])
    print("ok")
    """
)


def _spawn(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "appender.py"
    script.write_text(APPENDER)
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_processes_appending_to_one_conversation_lose_nothing(tmp_path: Path) -> None:
    processes = [_spawn(tmp_path, str(tmp_path), f"w{n}", "20") for n in range(4)]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    store = JsonlHistoryStore.for_conversation("shared", tmp_path)
    lines = store.path.read_bytes().splitlines()
    assert all(json.loads(line) for line in lines)
    results = {m.content for m in store.load().messages if m.role == "tool"}
    assert results == {f"w{n} {i}" for n in range(4) for i in range(20)}


def test_repairing_a_torn_line_never_cuts_a_turn_another_process_wrote(tmp_path: Path) -> None:
    mine = JsonlHistoryStore.for_conversation("shared", tmp_path)
    mine.append([MessageRecord(message=Message.user("first"))])
    with open(mine.path, "ab") as fh:
        fh.write(b'{"type":"turn","messages":[{"role":"assis')  # a writer that crashed
    assert [m.content for m in mine.load().messages] == ["first"]  # this process has seen the torn line
    other = _spawn(tmp_path, str(tmp_path), "other", "1")
    assert other.communicate(timeout=60)[0].strip() == "ok"
    mine.append([MessageRecord(message=Message.user("mine"))])
    contents = [m.content for m in mine.load().messages]
    assert contents == ["first", "", "other 0", "mine"]
    assert all(json.loads(line) for line in mine.path.read_bytes().splitlines())


HOLDER = textwrap.dedent(
    """
    import sys, time
    from filelock import FileLock
    with FileLock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(30)
    """
)


def test_a_lock_held_by_another_process_is_waited_for_a_bounded_time(tmp_path: Path) -> None:
    store = JsonlHistoryStore(tmp_path / "c.jsonl", "c", lock_wait=0.3)
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen([sys.executable, str(script), str(store.path) + ".lock"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError, match=r"c\.jsonl\.lock"):
            store.append([MessageRecord(message=Message.user("hi"))])
    finally:
        holder.kill()
        holder.wait()
    store.append([MessageRecord(message=Message.user("hi"))])
    assert [m.content for m in store.load().messages] == ["hi"]


def test_threads_sharing_one_store_append_one_at_a_time(tmp_path: Path) -> None:
    import threading

    store = JsonlHistoryStore.for_conversation("threads", tmp_path)
    store.append([MessageRecord(message=Message.user("start"))])
    with open(store.path, "ab") as fh:
        fh.write(b'{"type":"turn","mess')  # torn: the first appender cuts it, no one cuts a finished turn

    def writer(name: str) -> None:
        for i in range(25):
            call = ToolCall(id=f"{name}-{i}", name="lookup", arguments={"pad": "y" * 20000})
            store.append([TurnRecord(messages=[Message.assistant("", tool_calls=[call]), Message.tool(f"{name} {i}", tool_call_id=call.id)])])

    threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(json.loads(line) for line in store.path.read_bytes().splitlines())
    assert {m.content for m in store.load().messages if m.role == "tool"} == {f"t{n} {i}" for n in range(4) for i in range(25)}


def test_a_writer_killed_mid_stream_leaves_a_conversation_that_loads_and_appends(tmp_path: Path) -> None:
    import signal
    import time

    writer = _spawn(tmp_path, str(tmp_path), "killed", "100000")
    store = JsonlHistoryStore.for_conversation("shared", tmp_path)
    deadline = time.monotonic() + 30
    while (not store.path.exists() or store.path.stat().st_size < 200_000) and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    store.append([MessageRecord(message=Message.user("after the crash"))])
    loaded = store.load()
    _check_pairs(loaded.messages)
    assert loaded.messages[-1].content == "after the crash"
    assert all(json.loads(line) for line in store.path.read_bytes().splitlines())
