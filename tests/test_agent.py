"""The agent loop against a scripted OpenAI-compatible model behind the real router."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from conftest import FakeClock, ScriptedModel, Turn, call, say

from assistant.agent import Agent, AgentEvent, RunResult
from assistant.errors import AllModelsFailedError, UsageError
from assistant.messages import Message
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router.policies import RouterPolicy


def calculator(expression: str) -> str:
    """Evaluate arithmetic.

    Args:
        expression: e.g. "2 + 2"
    """
    from tools.calculator import calculator as real

    return real(expression)


def make_router(**models: ScriptedModel) -> Router:
    registry = LLMRegistry()
    for name, model in models.items():
        registry.add_provider(name, kind="openai", base_url=model.url, api_key=f"sk-test-{name}-0123456789")
    clock = FakeClock()
    return Router(registry, policy=RouterPolicy(clock=clock.time, sleep=clock.sleep, random=random.Random(3)))


@asynccontextmanager
async def agent_on(models: dict[str, ScriptedModel], tools: Any = (), model: Any = "m/gpt", **kw: Any) -> AsyncIterator[Agent]:
    router = make_router(**models)
    try:
        yield Agent(model, tools, router=router, **kw)
    finally:
        await router.aclose()


async def run_events(agent: Agent, task: str, **kw: Any) -> tuple[list[AgentEvent], RunResult]:
    events = [event async for event in agent.stream(task, **kw)]
    assert events[-1].type == "done" and events[-1].result is not None
    return events, events[-1].result


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


async def test_calculator_task_runs_over_several_steps(scripted_model) -> None:
    model = scripted_model([
        call("calculator", {"expression": "12 * 7"}),
        call("calculator", {"expression": "84 + 16"}),
        say("The answer is 100."),
    ])
    async with agent_on({"m": model}, [calculator]) as agent:
        result = await agent.run("What is 12*7 plus 16?")
    assert result.output == "The answer is 100."
    assert result.stop_reason == "final"
    assert [r.output for s in result.steps for r in s.tool_results] == ["84", "100"]
    assert [m["content"] for m in tool_messages(model.requests[2])] == ["84", "100"]
    assert result.usage.input_tokens == 30 and result.usage.output_tokens == 15


async def test_each_request_offers_the_tools_natively(scripted_model) -> None:
    model = scripted_model([say("hi")])
    async with agent_on({"m": model}, [calculator]) as agent:
        await agent.run("hello")
    [offered] = model.requests[0]["tools"]
    assert offered["function"]["name"] == "calculator"
    assert offered["function"]["parameters"]["properties"]["expression"]["description"] == 'e.g. "2 + 2"'


async def test_parallel_tool_calls_run_concurrently(scripted_model) -> None:
    arrived = 0
    both_here = asyncio.Event()

    async def meet(name: str) -> str:
        """Wait until both calls are running at once."""
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both_here.set()
        await asyncio.wait_for(both_here.wait(), 5)
        return f"met {name}"

    model = scripted_model([Turn(calls=[("meet", {"name": "a"}), ("meet", {"name": "b"})]), say("both met")])
    async with agent_on({"m": model}, [meet]) as agent:
        result = await agent.run("meet twice")
    assert [(r.output, r.outcome) for r in result.steps[0].tool_results] == [("met a", "ok"), ("met b", "ok")]
    assert [m["tool_call_id"] for m in tool_messages(model.requests[1])] == [
        c["id"] for c in model.requests[1]["messages"][2]["tool_calls"]
    ]


async def test_invalid_arguments_are_returned_and_corrected_within_the_step(scripted_model) -> None:
    model = scripted_model([
        call("calculator", {"expr": "1 + 1"}),
        call("calculator", {"expression": "1 + 1"}),
        say("2"),
    ])
    async with agent_on({"m": model}, [calculator]) as agent:
        result = await agent.run("1+1?")
    first, second, final = result.steps
    assert first.tool_results[0].outcome == "invalid_arguments"
    assert "expression: Field required" in first.tool_results[0].output
    assert (second.number, second.correction) == (1, 1)
    assert second.tool_results[0].output == "2"
    assert final.number == 2 and result.output == "2"


async def test_corrections_stop_after_three_and_the_step_counts(scripted_model) -> None:
    model = scripted_model([call("calculator", {"wrong": n}) for n in range(4)], default=say("gave up"))
    async with agent_on({"m": model}, [calculator], max_steps=1) as agent:
        result = await agent.run("1+1?")
    assert [(s.number, s.correction) for s in result.steps] == [(1, 0), (1, 1), (1, 2), (1, 3), (2, 0)]
    assert result.stop_reason == "max_steps" and result.output == "gave up"


async def test_json_string_arguments_are_unwrapped_before_validation(scripted_model) -> None:
    def total(numbers: list[int]) -> int:
        """Sum numbers."""
        return sum(numbers)

    model = scripted_model([call("total", '{"numbers": "[1, 2, 3]"}'), say("6")])
    async with agent_on({"m": model}, [total]) as agent:
        result = await agent.run("sum")
    assert result.steps[0].tool_results[0].output == "6"


async def test_unknown_tool_is_reported_back_with_the_available_names(scripted_model) -> None:
    model = scripted_model([call("web_browse", {"url": "x"}), say("sorry")])
    async with agent_on({"m": model}, [calculator]) as agent:
        result = await agent.run("browse")
    observation = result.steps[0].tool_results[0]
    assert observation.outcome == "unknown_tool"
    assert "no tool named 'web_browse'" in observation.output and "calculator" in observation.output
    assert tool_messages(model.requests[1])[0]["content"] == observation.output


async def test_max_steps_ends_with_one_call_without_tools(scripted_model) -> None:
    model = scripted_model([
        call("calculator", {"expression": "1"}),
        call("calculator", {"expression": "2"}),
        say("best effort: 2"),
    ])
    async with agent_on({"m": model}, [calculator], max_steps=2) as agent:
        result = await agent.run("count")
    assert result.stop_reason == "max_steps"
    assert result.output == "best effort: 2"
    last = model.requests[-1]
    assert "tools" not in last
    assert "Do not call any more tools" in last["messages"][-1]["content"]


async def test_same_call_three_times_in_a_row_is_stopped_with_a_nudge(scripted_model) -> None:
    runs = 0

    def ping() -> str:
        """Ping."""
        nonlocal runs
        runs += 1
        return "pong"

    model = scripted_model([call("ping"), call("ping"), call("ping"), say("done")])
    async with agent_on({"m": model}, [ping]) as agent:
        result = await agent.run("ping")
    outcomes = [s.tool_results[0].outcome for s in result.steps[:3]]
    assert outcomes == ["ok", "ok", "repeated"]
    assert runs == 2
    assert "3 times" in result.steps[2].tool_results[0].output


async def test_tool_exception_becomes_an_observation(scripted_model) -> None:
    def explode(x: int) -> str:
        """Fail."""
        raise ValueError(f"bad x={x}")

    model = scripted_model([call("explode", {"x": 3}), say("it failed")])
    async with agent_on({"m": model}, [explode]) as agent:
        result = await agent.run("go")
    observation = result.steps[0].tool_results[0]
    assert observation.outcome == "error"
    assert observation.output == "Error: explode failed: ValueError: bad x=3"
    assert result.output == "it failed"


async def test_slow_tool_times_out_as_an_observation(scripted_model) -> None:
    async def slow() -> str:
        """Take forever."""
        await asyncio.sleep(30)
        return "late"

    model = scripted_model([call("slow"), say("gave up")])
    async with agent_on({"m": model}, [slow], tool_timeout=0.2) as agent:
        result = await agent.run("go")
    assert result.steps[0].tool_results[0].outcome == "timeout"
    assert "timed out after 0.2s" in result.steps[0].tool_results[0].output


async def test_stream_cut_mid_answer_reruns_the_step_on_the_next_model(scripted_model) -> None:
    broken = scripted_model([Turn("I will compute th", cut=True)])
    healthy = scripted_model([say("Done on the second model.")])
    async with agent_on({"a": broken, "b": healthy}, [calculator], model=["a/m", "b/m"]) as agent:
        events, result = await run_events(agent, "compute")
    [discarded] = [e for e in events if e.type == "step_discarded"]
    assert discarded.attempt is not None and discarded.attempt.provider == "a"
    assert result.output == "Done on the second model."
    assert result.steps[0].model == "b/m" and result.steps[0].reruns == 1
    assert len(broken.requests) == 1 and len(healthy.requests) == 1


async def test_every_tool_call_in_the_history_has_a_result(scripted_model) -> None:
    model = scripted_model([
        Turn(calls=[("calculator", {"expression": "2"}), ("nope", {}), ("calculator", {"x": 1})]),
        say("ok"),
    ])
    async with agent_on({"m": model}, [calculator]) as agent:
        result = await agent.run("go")
    asked = [c.id for m in result.messages if m.role == "assistant" for c in m.tool_calls]
    answered = [m.tool_call_id for m in result.messages if m.role == "tool"]
    assert asked == answered and len(set(asked)) == 3


async def test_events_arrive_in_step_order_and_done_is_last(scripted_model) -> None:
    model = scripted_model([call("calculator", {"expression": "3*3"}, text="Let me compute."), say("It is 9.")])
    async with agent_on({"m": model}, [calculator]) as agent:
        events, result = await run_events(agent, "3*3?")
    kinds = [e.type for e in events if e.type != "status"]
    # Text that reaches the client in one network read is one event, so how many is up to timing.
    assert kinds[:2] == ["step_start", "text"] and set(kinds[1 : kinds.index("tool_call")]) == {"text"}
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("step_end")
    assert kinds[-1] == "done"
    assert "".join(e.text or "" for e in events if e.type == "text") == "Let me compute.It is 9."
    assert result.steps[0].text == "Let me compute."


async def test_prompt_mode_describes_tools_in_text_and_parses_the_reply(scripted_model) -> None:
    reply = 'Checking.\n<tool_call>{"name": "calculator", "arguments": {"expression": "6*7"}}</tool_call>'
    model = scripted_model([say(reply), say("42")])
    async with agent_on({"m": model}, [calculator], tool_mode="prompt") as agent:
        events, result = await run_events(agent, "6*7?")
    assert "tools" not in model.requests[0]
    assert "<tool_call>" in model.requests[0]["messages"][0]["content"]
    assert result.steps[0].tool_results[0].output == "42"
    shown = "".join(e.text or "" for e in events if e.type == "text")
    assert "<tool_call>" not in shown and shown.startswith("Checking.")
    assert '<tool_response name="calculator">' in model.requests[1]["messages"][-1]["content"]


async def test_native_reply_with_call_markup_in_text_still_runs_the_call(scripted_model) -> None:
    model = scripted_model([say('{"name": "calculator", "parameters": {"expression": "2**5"}}'), say("32")])
    async with agent_on({"m": model}, [calculator]) as agent:
        result = await agent.run("2**5?")
    assert result.steps[0].tool_results[0].output == "32"
    assert result.steps[0].text == ""


async def test_history_continues_an_earlier_conversation(scripted_model) -> None:
    model = scripted_model([say("first"), say("second")])
    async with agent_on({"m": model}) as agent:
        first = await agent.run("one")
        await agent.run("two", history=first.messages)
    contents = [m["content"] for m in model.requests[1]["messages"]]
    assert contents[1:] == ["one", "first", "two"]


async def test_every_model_failing_raises_with_the_attempts(scripted_model) -> None:
    model = scripted_model(default=Turn(status=404, message="model not found"))
    async with agent_on({"m": model}, [calculator], model="m/gone") as agent:
        with pytest.raises(AllModelsFailedError) as caught:
            await agent.run("hi")
    assert [(a.provider, a.kind) for a in caught.value.attempts] == [("m", "not_found")]


def test_run_sync_answers_without_an_event_loop(scripted_model) -> None:
    model = scripted_model([say("sync answer")])
    registry = LLMRegistry()
    registry.add_provider("m", kind="openai", base_url=model.url, api_key="sk-test-m-0123456789")
    assert Agent("m/gpt", registry=registry).run_sync("hi").output == "sync answer"


async def test_run_sync_inside_an_event_loop_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="await agent.run"):
        Agent("m/gpt").run_sync("hi")


def test_allow_and_deny_pick_tools_by_name() -> None:
    def other() -> str:
        """Other."""
        return ""

    assert Agent(tools=[calculator, other], allow=["calculator"]).tool_names == ["calculator"]
    assert Agent(tools=[calculator, other], deny=["calculator"]).tool_names == ["other"]
    with pytest.raises(UsageError, match="nope"):
        Agent(tools=[calculator], allow=["nope"])


async def test_system_prompt_and_task_open_the_conversation(scripted_model) -> None:
    model = scripted_model([say("hi")])
    async with agent_on({"m": model}, system_prompt="Be terse.") as agent:
        await agent.run("hello")
    assert model.requests[0]["messages"][:2] == [
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "hello"}
    ]
    assert Message.user("x").role == "user"


async def test_a_summary_in_the_history_is_merged_into_the_one_system_message(scripted_model) -> None:
    model = scripted_model([say("ok")])
    history = [Message.system("Summary of earlier turns: the user is Ada."), Message.user("hi"), Message.assistant("hello")]
    async with agent_on({"m": model}, system_prompt="Be brief.") as agent:
        await agent.run("who am I?", history=history)
    roles = [m["role"] for m in model.requests[0]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert model.requests[0]["messages"][0]["content"] == "Be brief.\n\nSummary of earlier turns: the user is Ada."
