"""ChatSession: turns, history handed to the agent, rolling summary, greeting and interim replies."""

from __future__ import annotations

import asyncio

import pytest

from assistant.agent import AgentEvent, RunResult
from assistant.agent.records import event
from assistant.chat import ChatEvent, ChatSession
from assistant.free_models import FreeModel, FreeModelsStore
from assistant.messages import ChatResponse, Message


class EchoAgent:
    """Answers "echo: <task>"; shaped like ``assistant.agent.Agent`` (stream with history, done last)."""

    def __init__(self, delay: float = 0.0, gate: asyncio.Event | None = None, fail: bool = False) -> None:
        self.delay = delay
        self.gate = gate
        self.fail = fail
        self.histories: list[list[Message]] = []
        self.model = "auto"

    async def stream(self, task: str, *, history=()):
        self.histories.append(list(history))
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("every model failed")
        yield event("text", 1, text="echo")
        answer = f"echo: {task}"
        messages = [*history, Message.user(task), Message.assistant(answer)]
        yield event("done", 1, result=RunResult(output=answer, messages=messages))


class RunOnlyAgent:
    """An agent with ``run`` and no ``stream``."""

    async def run(self, task: str, *, history=()):
        return RunResult(output=f"ran: {task}", messages=[*history, Message.user(task), Message.assistant(f"ran: {task}")])


class FakeRouter:
    """Answers greeting/interim requests; records the model ids it was asked for."""

    def __init__(self, text: str = "Hello! Looking into it.", fail: bool = False) -> None:
        self.text = text
        self.fail = fail
        self.models: list[str] = []

    async def chat(self, model, messages, **kw):
        self.models.append(model)
        if self.fail:
            raise RuntimeError("greeting model down")
        return ChatResponse(text=self.text, finish_reason="stop")


def _store(tmp_path) -> FreeModelsStore:
    store = FreeModelsStore(tmp_path / "free-models.json")
    for model in store.list_models():
        store.remove_model(model.id)
    store.add_model(FreeModel(id="llama/smollm2", priority=1, context_window=8192))
    store.add_model(FreeModel(id="groq/llama-3.1-8b-instant", priority=5, flash=True, roles=("greeting", "interim")))
    return store


async def test_send_returns_the_agents_result_and_records_the_turn():
    session = ChatSession(EchoAgent(), "c1", greeting=False)
    result = await session.send("hello")
    assert result.output == "echo: hello"
    assert session.history == [Message.user("hello"), Message.assistant("echo: hello")]


async def test_the_agent_gets_earlier_turns_as_history():
    agent = EchoAgent()
    session = ChatSession(agent, "c1", greeting=False)
    await session.send("one")
    await session.send("two")
    assert agent.histories[1] == [Message.user("one"), Message.assistant("echo: one")]


async def test_a_new_session_object_continues_the_stored_conversation():
    await ChatSession(EchoAgent(), "c1", greeting=False).send("one")
    agent = EchoAgent()
    again = ChatSession(agent, "c1", greeting=False)
    await again.send("two")
    assert [m.content for m in again.history] == ["one", "echo: one", "two", "echo: two"]
    assert agent.histories[0][0] == Message.user("one")


async def test_an_agent_with_only_run_works():
    session = ChatSession(RunOnlyAgent(), "c1", greeting=False)
    assert (await session.send("hi")).output == "ran: hi"
    assert session.history[-1] == Message.assistant("ran: hi")


async def test_stream_yields_agent_events_then_the_reply_last():
    session = ChatSession(EchoAgent(), "c1", greeting=False)
    events = [e async for e in session.stream("hi")]
    assert [e.type for e in events] == ["agent", "reply"]
    assert isinstance(events[0].agent_event, AgentEvent)
    assert events[-1].text == "echo: hi"


async def test_a_failed_run_raises_and_keeps_the_users_message():
    session = ChatSession(EchoAgent(fail=True), "c1", greeting=False)
    with pytest.raises(RuntimeError, match="every model failed"):
        await session.send("hello?")
    assert session.history == [Message.user("hello?")]


async def test_turns_of_one_conversation_run_one_after_another():
    agent = EchoAgent(delay=0.05)
    session = ChatSession(agent, "c1", greeting=False)
    await asyncio.gather(session.send("first"), session.send("second"))
    assert [m.content for m in session.history] == ["first", "echo: first", "second", "echo: second"]
    assert agent.histories[1] == [Message.user("first"), Message.assistant("echo: first")]


async def test_sessions_without_an_id_get_distinct_ones():
    assert ChatSession(EchoAgent()).conversation_id != ChatSession(EchoAgent()).conversation_id


async def test_ids_with_unsafe_characters_get_distinct_files(tmp_path):
    a = ChatSession(EchoAgent(), "telegram:42", store_dir=tmp_path)
    b = ChatSession(EchoAgent(), "telegram/42", store_dir=tmp_path)
    assert a.path != b.path
    assert a.path.parent == tmp_path


async def test_history_past_half_the_window_is_condensed_into_a_stored_summary():
    summaries: list[str] = []

    async def summarize(text: str) -> str:
        summaries.append(text)
        return "We talked about Lisbon trams."

    agent = EchoAgent()
    session = ChatSession(agent, "c1", greeting=False, window_tokens=800, summarize=summarize)
    for i in range(12):
        await session.send(f"message {i}: " + "tell me about Lisbon trams " * 8)
    assert session.summary == "We talked about Lisbon trams."
    assert "message 0" in summaries[0]
    note = agent.histories[-1][0]
    assert note.role == "system" and note.content.endswith("We talked about Lisbon trams.")
    assert len(session.history) == 24  # the full record stays on disk


async def test_the_summary_survives_a_reload():
    async def summarize(text: str) -> str:
        return "short summary"

    session = ChatSession(EchoAgent(), "c1", greeting=False, window_tokens=800, summarize=summarize)
    for i in range(12):
        await session.send(f"message {i}: " + "tell me about Lisbon trams " * 8)
    agent = EchoAgent()
    again = ChatSession(agent, "c1", greeting=False, window_tokens=800, summarize=summarize)
    await again.send("and now?")
    assert again.summary == "short summary"
    assert agent.histories[0][0].content.endswith("short summary")
    assert Message.user("message 0: " + "tell me about Lisbon trams " * 8) not in agent.histories[0]


async def test_condensing_is_reported_as_a_summary_event():
    async def summarize(text: str) -> str:
        return "short summary"

    session = ChatSession(EchoAgent(), "c1", greeting=False, window_tokens=800, summarize=summarize)
    kinds: list[str] = []
    for i in range(12):
        kinds += [e.type async for e in session.stream(f"message {i}: " + "tell me about Lisbon trams " * 8)]
    assert "summary" in kinds


async def test_first_contact_gets_a_greeting_from_the_greeting_model(tmp_path):
    gate = asyncio.Event()
    seen: list[ChatEvent] = []

    def on_event(ev: ChatEvent) -> None:
        seen.append(ev)
        if ev.type == "greeting":
            gate.set()

    router = FakeRouter("Hi there!")
    session = ChatSession(EchoAgent(gate=gate), "c1", router=router, free_models=_store(tmp_path), on_event=on_event)
    await session.send("hello")
    assert [e.type for e in seen] == ["greeting", "agent", "reply"]
    assert seen[0].text == "Hi there!"
    assert router.models == ["groq/llama-3.1-8b-instant"]


async def test_greeting_is_an_aside_not_part_of_the_history(tmp_path):
    gate = asyncio.Event()
    session = ChatSession(EchoAgent(gate=gate), "c1", router=FakeRouter(), free_models=_store(tmp_path),
                          on_event=lambda ev: gate.set() if ev.type == "greeting" else None)
    await session.send("hello")
    assert [a.kind for a in session.asides] == ["greeting"]
    assert session.history == [Message.user("hello"), Message.assistant("echo: hello")]


async def test_only_the_first_contact_is_greeted(tmp_path):
    router = FakeRouter()
    session = ChatSession(EchoAgent(), "c1", router=router, free_models=_store(tmp_path), greeting=False)
    await session.send("hello")
    greeted = ChatSession(EchoAgent(), "c1", router=router, free_models=_store(tmp_path))
    await greeted.send("again")
    assert router.models == []


async def test_a_failing_greeting_model_does_not_cost_the_answer(tmp_path):
    session = ChatSession(EchoAgent(delay=0.05), "c1", router=FakeRouter(fail=True), free_models=_store(tmp_path))
    events = [e.type async for e in session.stream("hello")]
    assert events == ["agent", "reply"]


async def test_a_slow_answer_gets_an_interim_reply_first(tmp_path):
    gate = asyncio.Event()
    router = FakeRouter("Working on it...")
    session = ChatSession(EchoAgent(gate=gate), "c1", greeting=False, interim_after=0.01, router=router,
                          free_models=_store(tmp_path), on_event=lambda ev: gate.set() if ev.type == "interim" else None)
    events = [e async for e in session.stream("a hard question")]
    assert [e.type for e in events] == ["interim", "agent", "reply"]
    assert events[0].text == "Working on it..."
    assert router.models == ["groq/llama-3.1-8b-instant"]
    assert [a.kind for a in session.asides] == ["interim"]


async def test_a_fast_answer_gets_no_interim_reply(tmp_path):
    router = FakeRouter()
    session = ChatSession(EchoAgent(), "c1", greeting=False, interim_after=30, router=router, free_models=_store(tmp_path))
    events = [e.type async for e in session.stream("easy")]
    assert events == ["agent", "reply"]
    assert router.models == []
