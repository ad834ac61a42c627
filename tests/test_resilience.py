"""Fallback that helps instead of refusing: rate limits move on, resting candidates are the last
resort, empty answers are the model's content, and the agent never runs a call the model did not finish."""

from __future__ import annotations

import random
from typing import Any

from conftest import FakeClock
from fault_provider import KINDS, ArithmeticBrain, FaultPlan, base_url, echo_answer, fault_app

from assistant.agent import Agent
from assistant.errors import classify_error
from assistant.messages import Message
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router.policies import Breaker, RouterPolicy

HI = [Message.user("hi")]
FULL = echo_answer("hi")


def _router(fake_server: Any, plans: dict[str, tuple[str, FaultPlan]], clock: FakeClock, brain: Any = None,
            **policy: Any) -> Router:
    registry = LLMRegistry()
    for name, (wire, plan) in plans.items():
        server = fake_server(fault_app(wire, plan, brain) if brain else fault_app(wire, plan))
        registry.add_provider(name, kind=KINDS[wire], base_url=base_url(wire, server.url), api_key=f"k-{name}")
    return Router(registry, policy=RouterPolicy(clock=clock.time, sleep=clock.sleep, random=random.Random(2), **policy))


def _kinds(response: Any) -> list[tuple[str, str | None]]:
    return [(a.provider, a.kind) for a in response.attempts]


async def test_long_retry_after_with_a_healthy_second_provider_is_not_slept(fake_server) -> None:
    clock = FakeClock()
    first, second = FaultPlan(["429_hint"], hint_s=20), FaultPlan()
    router = _router(fake_server, {"alpha": ("openai", first), "beta": ("anthropic", second)}, clock)
    response = await router.chat(["alpha/m", "beta/m"], HI)
    assert response.text == FULL and _kinds(response) == [("alpha", "rate_limit"), ("beta", None)]
    assert clock.sleeps == []
    # The next call skips the provider that is still cooling down.
    again = await router.chat(["alpha/m", "beta/m"], HI)
    assert _kinds(again)[0][1] == "rate_limit" and "cooling down" in again.attempts[0].detail
    assert first.served == ["429_hint"]
    await router.aclose()


async def test_unhinted_429_with_a_second_provider_moves_on_at_once(fake_server) -> None:
    clock = FakeClock()
    first = FaultPlan(["429", "429", "429"])
    router = _router(fake_server, {"alpha": ("gemini", first), "beta": ("openai", FaultPlan())}, clock)
    response = await router.chat(["alpha/m", "beta/m"], HI)
    assert _kinds(response) == [("alpha", "rate_limit"), ("beta", None)] and clock.sleeps == []
    await router.aclose()


async def test_short_hint_is_slept_out_when_nothing_else_can_serve(fake_server) -> None:
    clock = FakeClock()
    router = _router(fake_server, {"alpha": ("openai", FaultPlan(["429_hint"], hint_s=2))}, clock)
    response = await router.chat("alpha/m", HI)
    assert response.text == FULL and _kinds(response) == [("alpha", "rate_limit"), ("alpha", None)]
    assert clock.sleeps == [2.0]
    await router.aclose()


async def test_every_circuit_open_probes_the_one_that_opened_first(fake_server) -> None:
    clock = FakeClock()
    plans = {"alpha": ("openai", FaultPlan()), "beta": ("openai", FaultPlan())}
    router = _router(fake_server, plans, clock, breaker=Breaker(min_calls=1, reset_s=600))
    for name in ("alpha", "beta"):
        await router.health.failed(router._circuit(name))
        clock.now += 1
    response = await router.chat(["alpha/m", "beta/m"], HI)
    assert response.text == FULL
    assert [a.kind for a in response.attempts] == ["transient", "transient", None]
    assert response.attempts[-1].provider == "alpha"
    assert router.health.breaker_state(router._circuit("alpha")) == "closed"
    assert router.health.breaker_state(router._circuit("beta")) == "open"
    await router.aclose()


async def test_empty_completions_never_open_the_circuit(fake_server) -> None:
    clock = FakeClock()
    router = _router(fake_server, {"alpha": ("anthropic", FaultPlan(["empty"] * 4)), "beta": ("openai", FaultPlan())},
                     clock, breaker=Breaker(min_calls=2, failure_rate=0.5))
    for _ in range(2):
        await router.chat(["alpha/m", "beta/m"], HI)
    assert router.health.breaker_state(router._circuit("alpha")) == "closed"
    await router.aclose()


async def test_empty_greedy_answer_is_not_sent_again_to_the_same_model(fake_server) -> None:
    clock = FakeClock()
    alpha = FaultPlan(["empty", "empty"])
    router = _router(fake_server, {"alpha": ("anthropic", alpha), "beta": ("openai", FaultPlan())}, clock)
    response = await router.chat(["alpha/m", "beta/m"], HI, temperature=0)
    assert _kinds(response) == [("alpha", "transient"), ("beta", None)] and alpha.served == ["empty"]
    await router.aclose()


def test_server_error_mentioning_keys_is_transient_not_auth() -> None:
    body = '{"error": {"message": "Internal error while validating the API key", "type": "server_error"}}'
    assert classify_error("openai", 500, body).kind == "transient"
    assert classify_error("openai", 401, body).kind == "auth"


# --- the agent ---------------------------------------------------------------------------------------

def _tools(log: list[tuple[str, dict[str, int]]]) -> list[Any]:
    def add(x: int, y: int) -> int:
        """Add two integers."""
        log.append(("add", {"x": x, "y": y}))
        return x + y

    def multiply(x: int, y: int) -> int:
        """Multiply two integers."""
        log.append(("multiply", {"x": x, "y": y}))
        return x * y

    return [add, multiply]


async def _agent_run(fake_server: Any, wire: str, script: list[str], task: str, **agent: Any) -> tuple[Any, list[Any]]:
    log: list[tuple[str, dict[str, int]]] = []
    router = _router(fake_server, {"alpha": (wire, FaultPlan(script))}, FakeClock(), brain=ArithmeticBrain())
    async with Agent("alpha/m", _tools(log), router=router, **agent) as run_agent:
        result = await run_agent.run(task)
    await router.aclose()
    return result, log


async def test_tool_call_cut_by_the_output_limit_never_runs_and_the_step_reruns(fake_server) -> None:
    task = "Compute (1035 + 1111) * 2"
    result, log = await _agent_run(fake_server, "openai", ["length"], task, max_tokens=200)
    value, calls = ArithmeticBrain.expected(task)
    assert log == calls and result.output == f"The result is {value}." and result.stop_reason == "final"
    first = result.steps[0]
    assert first.reruns == 1 and "cut by the output limit" in first.discarded[0]


async def test_tool_call_cut_by_a_broken_stream_never_runs(fake_server) -> None:
    task = "Compute (1035 + 1111) * 2 + 7"
    result, log = await _agent_run(fake_server, "anthropic", ["ok", "early_end"], task)
    value, calls = ArithmeticBrain.expected(task)
    assert log == calls and result.output == f"The result is {value}."
    # Nothing reached the caller before the cut (calls are only passed on whole): the router retried.
    assert [a.kind for a in result.steps[1].attempts] == ["transient", None]


async def test_final_answer_cut_by_the_output_limit_ends_with_stop_reason_length(fake_server) -> None:
    result, log = await _agent_run(fake_server, "gemini", ["length"], "hi")
    assert result.stop_reason == "length" and FULL.startswith(result.output) and result.output != FULL


def test_cli_says_when_the_answer_was_cut_by_the_output_limit(fake_server, monkeypatch, capsys) -> None:
    from assistant.cli import main

    server = fake_server(fault_app("openai", FaultPlan(["length"])))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijklmnop1234")
    monkeypatch.setenv("OPENAI_BASE_URL", base_url("openai", server.url))
    assert main(["run", "hi", "--model", "openai/m", "--no-tools"]) == 0
    out, err = capsys.readouterr()
    assert FULL.startswith(out.strip()) and out.strip() != FULL
    assert "cut off by the model's output limit" in err
