"""How tools reach each model (native, grammar-constrained JSON actions on llama.cpp, text protocol) and
how provider-opaque state is handled across providers, driven by a small in-process router stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from assistant.agent import Agent
from assistant.agent._steps import Segment, plan_segments
from assistant.errors import AllModelsFailedError, StreamInterruptedError, UsageError
from assistant.messages import ChatResponse, Message, StreamEvent, ToolCall
from assistant.registry import LLMRegistry
from assistant.router import Router


def calculator(expression: str) -> str:
    """Evaluate arithmetic."""
    from tools.calculator import calculator as real

    return real(expression)


class FakeRouter:
    """The router's ``stream`` shape, answering from a list of ChatResponses; ``calls`` records requests."""

    def __init__(self, replies: list[ChatResponse | Exception]) -> None:
        self.replies = list(replies)
        self.calls: list[dict[str, Any]] = []

    def stream(self, model: Any, messages: list[Message], tools: Any = (), **options: Any) -> AsyncIterator[StreamEvent]:
        self.calls.append({"model": model, "messages": list(messages), "tools": list(tools), **options})
        return self._events(self.replies.pop(0))

    async def _events(self, reply: ChatResponse | Exception) -> AsyncIterator[StreamEvent]:
        if isinstance(reply, Exception):
            yield StreamEvent(type="text", text="partial ")
            raise reply
        if reply.text:
            yield StreamEvent(type="text", text=reply.text)
        yield StreamEvent(type="done", response=reply)

    def describe_model(self, model_id: str) -> tuple[str, str | None]:
        """As the real router answers it, from a default registry."""
        registry = LLMRegistry()
        try:
            provider, model = registry.parse(model_id)
        except UsageError:
            return model_id, None
        return f"{provider}/{model}", registry.spec(provider).wire_kind

    async def aclose(self) -> None:
        pass


def reply(text: str = "", provider: str = "p", calls: list[ToolCall] | None = None, **kw: Any) -> ChatResponse:
    return ChatResponse(text=text, provider=provider, model="m", tool_calls=calls or [], **kw)


async def test_llama_steps_ask_for_a_json_action_under_a_grammar() -> None:
    router = FakeRouter([
        reply('{"tool": "calculator", "arguments": {"expression": "2+2"}}', provider="llama"),
        reply('{"final_answer": "It is 4."}', provider="llama"),
    ])
    agent = Agent("llama/smollm2", [calculator], router=router)
    events = [e async for e in agent.stream("2+2?")]
    first, second = router.calls
    assert first["tools"] == [] and first["max_tokens"] == 512
    branches = first["response_schema"]["oneOf"]
    assert branches[0]["properties"]["tool"] == {"const": "calculator"}
    assert branches[-1]["required"] == ["thought", "final_answer"]
    assert "<" not in first["messages"][0].content.split("Tools:")[0]  # worked examples, no placeholders
    assert second["messages"][-2].content == '{"tool":"calculator","arguments":{"expression":"2+2"}}'
    assert second["messages"][-1].content.startswith("Result of calculator: 4\n")
    result = events[-1].result
    assert result is not None and result.output == "It is 4."
    assert [e.text for e in events if e.type == "text"] == ["It is 4."]


async def test_a_final_call_on_llama_offers_only_the_final_answer_branch() -> None:
    router = FakeRouter([
        reply('{"tool": "calculator", "arguments": {"expression": "1"}}', provider="llama"),
        reply('{"final_answer": "The answer is 1."}', provider="llama"),
    ])
    result = await Agent("llama/smollm2", [calculator], max_steps=1, router=router).run("1?")
    final = router.calls[-1]
    assert final["response_schema"]["oneOf"] == [
        {"type": "object", "properties": {"thought": {"type": "string", "maxLength": 300},
                                          "final_answer": {"type": "string", "minLength": 1, "maxLength": 2000}},
         "required": ["thought", "final_answer"], "additionalProperties": False}
    ]
    assert final["temperature"] == 0.0
    assert all(m.role in ("system", "user", "assistant") and not m.tool_calls for m in final["messages"])
    assert result.output == "The answer is 1." and result.stop_reason == "max_steps"


async def test_a_model_repeating_a_call_past_the_nudge_is_asked_for_its_answer() -> None:
    same = '{"tool": "calculator", "arguments": {"expression": "2*3"}}'
    router = FakeRouter([reply(same, provider="llama") for _ in range(4)] + [reply('{"final_answer": "6"}', provider="llama")])
    result = await Agent("llama/smollm2", [calculator], max_steps=12, router=router).run("2*3?")
    assert result.output == "6"
    assert result.stop_reason == "final"
    assert len(result.steps) == 5
    assert "tools" not in router.calls[-1] or not router.calls[-1]["tools"]
    assert router.calls[-1]["response_schema"]["oneOf"][0]["required"] == ["thought", "final_answer"]


def test_plan_puts_llama_candidates_in_their_own_grammar_segment() -> None:
    segments = plan_segments(FakeRouter([]), ["groq/a", "openai/b", "llama/s", "openai/c"], tools=True, tool_mode="auto")
    assert segments == [
        Segment("native", ("groq/a", "openai/b")), Segment("grammar", ("llama/s",)), Segment("native", ("openai/c",))
    ]


def test_plan_follows_a_forced_tool_mode() -> None:
    assert plan_segments(FakeRouter([]), ["llama/s", "groq/a"], tools=True, tool_mode="prompt") == [
        Segment("prompt", ("llama/s", "groq/a"))
    ]


def test_auto_is_planned_from_the_routers_own_free_chain() -> None:
    router = Router(LLMRegistry())
    segments = plan_segments(router, "auto", tools=True, tool_mode="auto")
    assert segments[0] == Segment("grammar", ("llama/smollm2",))


async def test_state_of_another_provider_is_dropped_once_the_conversation_moves() -> None:
    signed = ToolCall(id="g1", name="calculator", arguments={"expression": "1"}, signature="sig-abc")
    router = FakeRouter([
        reply(provider="google", calls=[signed], opaque={"google": {"thought": "x"}}),
        reply(provider="openai", calls=[ToolCall(id="o1", name="calculator", arguments={"expression": "2"})]),
        reply("done", provider="openai"),
    ])
    await Agent(["google/g", "openai/o"], [calculator], router=router).run("go")
    kept = router.calls[1]["messages"][2]
    moved = router.calls[2]["messages"][2]
    assert kept.tool_calls[0].signature == "sig-abc" and kept.opaque == {"google": {"thought": "x"}}
    assert moved.tool_calls[0].signature is None and moved.opaque == {}
    assert moved.tool_calls[0].id == "g1"


async def test_state_is_dropped_before_sending_when_the_step_has_one_provider() -> None:
    history = [Message.user("earlier"), Message.assistant("thought about it", opaque={"anthropic": [{"sig": "s"}]})]
    router = FakeRouter([reply("ok", provider="openai")])
    await Agent("openai/o", router=router).run("next", history=history)
    assert router.calls[0]["messages"][2].opaque == {}
    assert history[1].opaque == {"anthropic": [{"sig": "s"}]}


async def test_repeated_call_ids_from_a_server_are_made_unique() -> None:
    router = FakeRouter([
        reply(calls=[ToolCall(id="call_0", name="calculator", arguments={"expression": "1"})]),
        reply(calls=[ToolCall(id="call_0", name="calculator", arguments={"expression": "2"})]),
        reply("done"),
    ])
    result = await Agent("p/m", [calculator], router=router).run("go")
    ids = [m.tool_call_id for m in result.messages if m.role == "tool"]
    assert len(set(ids)) == 2


async def test_a_lone_model_whose_stream_broke_off_gets_the_step_again() -> None:
    cut = StreamInterruptedError("stream broke off", provider="p", model="m", partial=reply("partial "))
    router = FakeRouter([cut, reply("whole answer")])
    events = [e async for e in Agent("p/m", router=router).stream("go")]
    assert [e.type for e in events if e.type in ("text", "step_discarded")] == ["text", "step_discarded", "text"]
    result = events[-1].result
    assert result is not None and result.output == "whole answer" and result.steps[0].reruns == 1


async def test_streams_that_keep_breaking_fail_the_run() -> None:
    cut = StreamInterruptedError("stream broke off", provider="p", model="m", partial=reply("x"))
    router = FakeRouter([cut, cut, cut])
    with pytest.raises(AllModelsFailedError, match="kept breaking off"):
        await Agent("p/m", router=router).run("go")


async def test_zero_steps_asks_once_without_tools() -> None:
    router = FakeRouter([reply("straight answer")])
    result = await Agent("p/m", [calculator], max_steps=0, router=router).run("2+2?")
    assert router.calls[0]["tools"] == []
    assert result.output == "straight answer" and result.stop_reason == "max_steps"


def test_a_looping_final_answer_keeps_each_repeated_sentence_once() -> None:
    from assistant.agent._grammar import without_repeats

    assert without_repeats("It is 391. It is 391. It is 391.") == "It is 391."
    assert without_repeats("Paris is big. It is old. Paris is big.") == "Paris is big. It is old. Paris is big."


def test_a_failed_tool_result_asks_for_a_fix_not_for_the_error_as_the_answer() -> None:
    from assistant.agent._grammar import FAILED_HINT, RESULT_HINT, render_action_history

    call = ToolCall(id="c1", name="read_file", arguments={"path": "x.txt"})
    history = [Message.user("What is in x.txt?"), Message.assistant("", tool_calls=[call])]
    failed = render_action_history([*history, Message.tool("Error: read_file failed: no such file", tool_call_id="c1",
                                                           name="read_file")])
    worked = render_action_history([*history, Message.tool("hello", tool_call_id="c1", name="read_file")])
    assert failed[-1].content.endswith(FAILED_HINT) and worked[-1].content.endswith(RESULT_HINT)


async def test_alternating_calls_in_a_loop_are_stopped_like_repeated_ones() -> None:
    a = '{"thought": "t", "tool": "calculator", "arguments": {"expression": "1"}}'
    b = '{"thought": "t", "tool": "calculator", "arguments": {"expression": "2"}}'
    router = FakeRouter([reply(x, provider="llama") for x in (a, b, a, b, a)]
                        + [reply('{"thought": "t", "final_answer": "done"}', provider="llama")])
    result = await Agent("llama/smollm2", [calculator], max_steps=12, router=router).run("loop")
    outcomes = [r.outcome for s in result.steps for r in s.tool_results]
    assert outcomes == ["ok", "ok", "ok", "ok", "repeated"]
    assert result.output == "done"
