"""Chat histories on disk: across process restarts, after a crash mid-write, and 100 at once."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from assistant.agent import RunResult
from assistant.agent.records import event
from assistant.chat import ChatSession
from assistant.messages import Message

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from assistant.agent import RunResult
    from assistant.agent.records import event
    from assistant.chat import ChatSession
    from assistant.messages import Message

    class CountingAgent:
        async def stream(self, task, *, history=()):
            answer = f"answer {len(history) // 2 + 1} to {task}"
            yield event("done", 1, result=RunResult(output=answer, messages=[*history, Message.user(task), Message.assistant(answer)]))

    async def main():
        session = ChatSession(CountingAgent(), "bot:user-7", greeting=False)
        await session.send(sys.argv[1])
        print("|".join(m.content for m in session.history))

    asyncio.run(main())
    """
)


class SlowEcho:
    async def stream(self, task: str, *, history=()):
        await asyncio.sleep(0.2)
        answer = f"echo: {task}"
        yield event("done", 1, result=RunResult(output=answer, messages=[*history, Message.user(task), Message.assistant(answer)]))


def _contents(path: Path) -> list[str]:
    """Message texts in file order, from ``message`` and ``turn`` records (every line must parse)."""
    out = []
    for record in (json.loads(line) for line in path.read_text().splitlines()):
        if record["type"] == "message":
            out.append(record["message"]["content"])
        elif record["type"] == "turn":
            out.extend(m["content"] for m in record["messages"])
    return out


def _run_process(tmp_path: Path, home: Path, text: str) -> str:
    script = tmp_path / "chat_once.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "ASSISTANT_HOME": str(home)}
    done = subprocess.run([sys.executable, str(script), text], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_history_survives_a_process_restart(tmp_path: Path):
    home = Path(os.environ["ASSISTANT_HOME"])
    _run_process(tmp_path, home, "first")
    second = _run_process(tmp_path, home, "second")
    assert second == "first|answer 1 to first|second|answer 2 to second"


async def test_history_file_is_one_json_record_per_line():
    session = ChatSession(SlowEcho(), "c1", greeting=False)
    await session.send("hi")
    lines = session.path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["type"] for r in records] == ["meta", "message", "turn"]
    assert records[0]["conversation_id"] == "c1"
    assert records[1]["message"]["content"] == "hi"


async def test_a_torn_last_line_is_ignored_with_a_warning(caplog):
    session = ChatSession(SlowEcho(), "c1", greeting=False)
    await session.send("hi")
    with open(session.path, "ab") as f:
        f.write(b'{"type": "message", "message": {"role": "user", "cont')
    with caplog.at_level(logging.WARNING, logger="assistant.chat.history"):
        again = ChatSession(SlowEcho(), "c1", greeting=False)
        await again.load()
    assert "torn last line" in caplog.text
    assert [m.content for m in again.history] == ["hi", "echo: hi"]


async def test_writing_after_a_torn_line_leaves_a_valid_file():
    session = ChatSession(SlowEcho(), "c1", greeting=False)
    await session.send("hi")
    with open(session.path, "ab") as f:
        f.write(b'{"type": "mess')
    again = ChatSession(SlowEcho(), "c1", greeting=False)
    await again.send("still there?")
    assert _contents(again.path) == ["hi", "echo: hi", "still there?", "echo: still there?"]


async def test_a_last_record_missing_its_newline_is_kept_and_the_next_starts_on_a_new_line():
    session = ChatSession(SlowEcho(), "c1", greeting=False)
    await session.send("hi")
    data = session.path.read_bytes()
    session.path.write_bytes(data[:-1])  # the final "\n" never reached the disk
    again = ChatSession(SlowEcho(), "c1", greeting=False)
    await again.send("next")
    assert _contents(again.path) == ["hi", "echo: hi", "next", "echo: next"]


async def test_a_broken_line_in_the_middle_is_skipped_not_fatal(caplog):
    session = ChatSession(SlowEcho(), "c1", greeting=False)
    await session.send("one")
    with open(session.path, "ab") as f:
        f.write(b"not json at all\n")
    await ChatSession(SlowEcho(), "c1", greeting=False).send("two")
    with caplog.at_level(logging.WARNING, logger="assistant.chat.history"):
        again = ChatSession(SlowEcho(), "c1", greeting=False)
        await again.load()
    assert "skipping a record" in caplog.text
    assert [m.content for m in again.history] == ["one", "echo: one", "two", "echo: two"]


async def test_a_hundred_conversations_run_at_once_without_waiting_for_each_other():
    sessions = [ChatSession(SlowEcho(), f"user-{i}", greeting=False) for i in range(100)]
    started = time.perf_counter()
    results = await asyncio.gather(*(s.send(f"hello from {i}") for i, s in enumerate(sessions)))
    elapsed = time.perf_counter() - started
    assert elapsed < 10  # one after another would take 20 s; together it is about 0.2 s
    assert [r.output for r in results] == [f"echo: hello from {i}" for i in range(100)]
    for i, session in enumerate(sessions):
        reloaded = ChatSession(SlowEcho(), f"user-{i}", greeting=False)
        await reloaded.load()
        assert [m.content for m in reloaded.history] == [f"hello from {i}", f"echo: hello from {i}"]
