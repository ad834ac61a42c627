"""Every fault the fake provider injects, on every wire, through ``Router.chat`` and ``Router.stream``:
the answer is exactly the whole answer (after the hops ``attempts`` lists), or an error; never a prefix."""

from __future__ import annotations

import random
from typing import Any

import pytest
from conftest import FakeClock
from fault_provider import KINDS, WIRES, FaultPlan, base_url, echo_answer, fault_app

from assistant.errors import StreamInterruptedError
from assistant.messages import Message
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router.policies import RouterPolicy

QUESTION = "what is the capital of France?"
FULL = echo_answer(QUESTION)

# What one fault costs before the retry on the same provider answers: the failed hop's kind.
RETRIED = {
    "429": "rate_limit", "429_hint": "rate_limit", "500": "transient", "502": "transient", "503": "transient",
    "529": "transient", "reset": "transient", "malformed": "transient", "empty": "transient",
}
# Faults that cut a stream after output reached the caller: the stream raises, it never completes.
CUT_AFTER_OUTPUT = ("early_end", "stream_error")


def _router(fake_server: Any, wire: str, plan: FaultPlan, clock: FakeClock) -> Router:
    server = fake_server(fault_app(wire, plan))
    registry = LLMRegistry()
    registry.add_provider("flaky", kind=KINDS[wire], base_url=base_url(wire, server.url), api_key="k-flaky")
    policy = RouterPolicy(clock=clock.time, sleep=clock.sleep, random=random.Random(1))
    return Router(registry, policy=policy)


def _kinds(attempts: list[Any]) -> list[str | None]:
    return [a.kind for a in attempts]


async def _stream(router: Router) -> Any:
    done = None
    text = []
    async for event in router.stream("flaky/m", [Message.user(QUESTION)]):
        if event.type == "text":
            text.append(event.text)
        elif event.type == "done":
            done = event.response
    assert done is not None
    assert "".join(text) == done.text
    return done


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("fault", ["ok", "slow", *RETRIED, "early_end", "stream_error"])
async def test_plain_call_returns_the_whole_answer_after_each_fault(fake_server, wire, fault) -> None:
    plan = FaultPlan([fault], slow_s=0.05)
    router = _router(fake_server, wire, plan, FakeClock())
    response = await router.chat("flaky/m", [Message.user(QUESTION)])
    await router.aclose()
    assert response.text == FULL and response.finish_reason == "stop"
    failed = [] if fault in ("ok", "slow") else ["transient" if fault in CUT_AFTER_OUTPUT else RETRIED[fault]]
    assert _kinds(response.attempts) == [*failed, None]


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("fault", ["ok", "slow", *RETRIED])
async def test_stream_before_any_output_is_retried_and_whole(fake_server, wire, fault) -> None:
    plan = FaultPlan([fault], slow_s=0.05)
    router = _router(fake_server, wire, plan, FakeClock())
    response = await _stream(router)
    await router.aclose()
    assert response.text == FULL and response.finish_reason == "stop"
    assert _kinds(response.attempts) == ([] if fault in ("ok", "slow") else [RETRIED[fault]]) + [None]


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("fault", CUT_AFTER_OUTPUT)
async def test_stream_cut_after_output_raises_with_the_partial_never_completes(fake_server, wire, fault) -> None:
    router = _router(fake_server, wire, FaultPlan([fault]), FakeClock())
    with pytest.raises(StreamInterruptedError) as caught:
        await _stream(router)
    await router.aclose()
    partial = caught.value.partial
    assert partial is not None and partial.text and FULL.startswith(partial.text) and partial.text != FULL
    assert partial.finish_reason == "error"
    assert _kinds(caught.value.partial.attempts) == ["transient"]


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("streaming", [False, True], ids=["chat", "stream"])
async def test_answer_cut_by_the_output_limit_is_marked_length(fake_server, wire, streaming) -> None:
    router = _router(fake_server, wire, FaultPlan(["length"]), FakeClock())
    if streaming:
        response = await _stream(router)
    else:
        response = await router.chat("flaky/m", [Message.user(QUESTION)], max_tokens=4000)
    await router.aclose()
    assert response.finish_reason == "length"
    assert FULL.startswith(response.text) and response.text != FULL
