"""Compaction: each rule on its own, what is never touched, and the error when nothing fits."""

from __future__ import annotations

import pytest

from assistant.context import NOTE_HEADER, Compacted, CompactionStep, Compactor, compact, shorten_text, split_note
from assistant.context.tokens import estimate_tokens
from assistant.errors import ContextOverflowError
from assistant.messages import ChatResponse, Message, ToolCall, ToolSpec

SYSTEM = Message.system("You are a travel assistant. Answer briefly.")


def _turn(i: int, words: int = 60) -> list[Message]:
    return [Message.user(f"question {i}: " + "tell me more about Lisbon " * (words // 5)),
            Message.assistant(f"answer {i}: " + "Lisbon has trams and hills " * (words // 5))]


def _tool_turn(i: int, result_words: int = 50) -> list[Message]:
    call = ToolCall(id=f"call_{i}", name="search", arguments={"q": f"topic {i}"})
    return [Message.user(f"question {i}: look it up"),
            Message.assistant("", tool_calls=[call]),
            Message.tool(f"result {i} " + "data row " * result_words, tool_call_id=f"call_{i}", name="search"),
            Message.assistant(f"answer {i}")]


def _history(turns: int, last: str = "And what about Porto?") -> list[Message]:
    messages = [SYSTEM]
    for i in range(turns):
        messages += _turn(i)
    return messages + [Message.user(last)]


class FakeSummarizer:
    """Records what it was asked to condense; answers with a short fixed note."""

    def __init__(self, note: str = "The user asked about Lisbon; trams and hills were covered.") -> None:
        self.note = note
        self.texts: list[str] = []

    async def __call__(self, text: str) -> str:
        self.texts.append(text)
        return self.note


async def test_history_that_fits_is_returned_unchanged():
    messages = _history(2)
    result = await compact(messages, budget_tokens=10_000)
    assert result.messages == messages
    assert result.steps == []
    assert result.tokens_after == result.tokens_before


async def test_oversized_tool_result_keeps_its_head_and_tail():
    big = "FIRST LINE\n" + "row of data\n" * 3000 + "LAST LINE"
    call = ToolCall(id="c1", name="read_file", arguments={"path": "log.txt"})
    messages = [SYSTEM, Message.user("summarise the log"), Message.assistant("", tool_calls=[call]),
                Message.tool(big, tool_call_id="c1", name="read_file")]
    result = await compact(messages, budget_tokens=2000)
    shortened = result.messages[-1].content
    assert shortened.startswith("FIRST LINE") and shortened.endswith("LAST LINE")
    assert "characters (about" in shortened and "were cut to fit the context window" in shortened
    assert [s.kind for s in result.steps] == ["shorten_tool_results"]


async def test_shortening_tool_results_leaves_other_messages_alone():
    messages = [SYSTEM, *_tool_turn(0, result_words=4000), Message.user("thanks, and now?")]
    result = await compact(messages, budget_tokens=2500)
    assert [m.content for m in result.messages if m.role != "tool"] == [m.content for m in messages if m.role != "tool"]


async def test_oldest_turns_are_summarised_into_one_note_in_the_system_prompt():
    summarize = FakeSummarizer()
    messages = _history(12)
    result = await compact(messages, budget_tokens=900, summarize=summarize)
    system = result.messages[0]
    base, note = split_note(system.content)
    assert base == SYSTEM.content
    assert note == summarize.note
    assert "question 0" in summarize.texts[0]
    assert [s.kind for s in result.steps] == ["summarize"]
    assert result.summary == summarize.note


async def test_summary_keeps_the_latest_user_turn_last():
    result = await compact(_history(12), budget_tokens=900, summarize=FakeSummarizer())
    assert result.messages[-1] == Message.user("And what about Porto?")
    assert result.tokens_after <= 900


async def test_what_remains_after_summarising_starts_with_a_user_turn():
    result = await compact(_history(12), budget_tokens=900, summarize=FakeSummarizer())
    assert result.messages[1].role == "user"


async def test_a_tool_call_is_never_separated_from_its_result():
    messages = [SYSTEM]
    for i in range(8):
        messages += _tool_turn(i, result_words=150)
    messages.append(Message.user("final question"))
    result = await compact(messages, budget_tokens=700, summarize=FakeSummarizer())
    kept = result.messages
    calls = {c.id for m in kept for c in m.tool_calls}
    results = {m.tool_call_id for m in kept if m.role == "tool"}
    assert calls == results
    for i, message in enumerate(kept):
        if message.role == "tool":
            assert kept[i - 1].role == "tool" or kept[i - 1].tool_calls


async def test_the_latest_step_of_a_running_task_is_kept_whole():
    calls = [ToolCall(id=f"s{i}", name="search", arguments={"q": str(i)}) for i in range(6)]
    messages = [SYSTEM, Message.user("research Porto")]
    for call in calls:
        messages += [Message.assistant("", tool_calls=[call]), Message.tool("found " * 120, tool_call_id=call.id, name="search")]
    result = await compact(messages, budget_tokens=600, summarize=FakeSummarizer())
    assert result.messages[-2].tool_calls == [calls[-1]]
    assert result.messages[-1].tool_call_id == "s5"
    assert Message.user("research Porto") in result.messages


async def test_a_second_compaction_folds_the_earlier_note_into_the_new_one():
    first = await compact(_history(12), budget_tokens=900, summarize=FakeSummarizer("NOTE ONE"))
    grown = first.messages + [Message.assistant("Porto has port wine " * 40)] + _turn(20)[:1] + [Message.assistant("more " * 200), Message.user("and Faro?")]
    second_summarizer = FakeSummarizer("NOTE TWO")
    second = await compact(grown, budget_tokens=600, summarize=second_summarizer)
    assert "Summary so far:\nNOTE ONE" in second_summarizer.texts[0]
    assert split_note(second.messages[0].content) == (SYSTEM.content, "NOTE TWO")
    assert second.messages[0].content.count(NOTE_HEADER) == 1


async def test_oldest_turns_are_dropped_when_there_is_no_summariser():
    result = await compact(_history(12), budget_tokens=700)
    assert [s.kind for s in result.steps] == ["drop_oldest"]
    assert Message.user("question 0: " + "tell me more about Lisbon " * 12) not in result.messages
    assert result.messages[-1].content == "And what about Porto?"
    assert "dropped without a summary" in result.messages[0].content


async def test_a_failing_summary_model_falls_back_to_dropping():
    async def broken(text: str) -> str:
        raise RuntimeError("summary model down")

    result = await compact(_history(12), budget_tokens=700, summarize=broken)
    assert [s.kind for s in result.steps] == ["summary_failed", "drop_oldest"]
    assert "summary model down" in result.steps[0].detail
    assert result.tokens_after <= 700


async def test_huge_tool_results_in_the_latest_step_are_cut_harder_instead_of_failing():
    call = [ToolCall(id=f"p{i}", name="fetch", arguments={}) for i in range(4)]
    messages = [SYSTEM, Message.user("fetch all four pages"), Message.assistant("", tool_calls=call)]
    messages += [Message.tool("page text " * 2000, tool_call_id=c.id, name="fetch") for c in call]
    result = await compact(messages, budget_tokens=1200)
    assert result.tokens_after <= 1200
    assert len([m for m in result.messages if m.role == "tool"]) == 4


async def test_overflow_error_states_the_sizes_and_what_to_change():
    messages = [SYSTEM, Message.user("please review this: " + "very long text " * 2000)]
    with pytest.raises(ContextOverflowError) as caught:
        await compact(messages, budget_tokens=500, model_id="small/smollm2", summarize=FakeSummarizer())
    text = str(caught.value)
    assert "latest user message ~" in text and "only 500 are available" in text
    assert "bigger context window" in text and "small/smollm2" in text
    assert caught.value.prompt_tokens > 500


async def test_tool_specs_count_against_the_budget():
    tools = [ToolSpec(name=f"tool_{i}", description="does a thing " * 10) for i in range(5)]
    messages = _history(4)
    budget = estimate_tokens(messages) + 50
    without = await compact(messages, budget_tokens=budget)
    with_tools = await compact(messages, budget_tokens=budget, tools=tools)
    assert without.steps == []
    assert with_tools.steps and with_tools.tokens_after <= budget
    assert with_tools.tokens_after == estimate_tokens(with_tools.messages, tools)


async def test_each_step_is_reported_as_it_happens():
    seen: list[CompactionStep] = []
    result = await compact(_history(12), budget_tokens=700, summarize=FakeSummarizer(), on_step=seen.append)
    assert seen == result.steps
    assert "context compacted (summarize)" in seen[0].describe()


async def test_compactor_returns_the_shorter_list_with_its_steps():
    compactor = Compactor(FakeSummarizer())
    out = await compactor(_history(12), 900, "llama/smollm2")
    assert isinstance(out, Compacted) and isinstance(out, list)
    assert all(isinstance(m, Message) for m in out)
    assert [s.kind for s in out.steps] == ["summarize"]


async def test_compactor_over_a_router_asks_the_summary_role_model(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ASSISTANT_MODEL_SUMMARY", "big/smollm2")

    class FakeRouter:
        def __init__(self) -> None:
            self.calls: list[tuple[str, list[Message], dict]] = []

        async def chat(self, model, messages, **kw):
            self.calls.append((model, messages, kw))
            return ChatResponse(text="condensed", finish_reason="stop")

    router = FakeRouter()
    out = await Compactor(router)(_history(12), 900, "small/smollm2")
    model, request, options = router.calls[0]
    assert model == "big/smollm2"
    assert "question 0" in request[-1].content
    assert options["max_tokens"] > 0
    assert split_note(out[0].content)[1] == "condensed"


def test_shorten_text_leaves_short_text_alone():
    assert shorten_text("all of it", 100) == "all of it"
