"""After a failure that cost a whole answer, a plain call races its next two candidates: the first
whole answer wins, the other request is cancelled and on the record, and a won race feeds no breaker."""

from __future__ import annotations

import random
import time
from typing import Any

from fault_provider import KINDS, FaultPlan, base_url, echo_answer, fault_app

from assistant.messages import Message
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router.policies import Breaker, RouterPolicy

HI = [Message.user("hi")]
FULL = echo_answer("hi")
CHAIN = ["alpha/m", "beta/m", "gamma/m"]
# Every fake answer takes this long; a refusal (429, 5xx) comes back at once.
GENERATE_S = 0.3


def _router(fake_server: Any, plans: dict[str, FaultPlan], **policy: Any) -> Router:
    registry = LLMRegistry()
    for name, plan in plans.items():
        server = fake_server(fault_app("openai", plan))
        registry.add_provider(name, kind=KINDS["openai"], base_url=base_url("openai", server.url), api_key=f"k-{name}")
    return Router(registry, policy=RouterPolicy(random=random.Random(3), **policy))


def _plan(*script: str, slow_s: float = 0.3) -> FaultPlan:
    return FaultPlan(list(script), latency_s=GENERATE_S, slow_s=slow_s)


def _kinds(response: Any) -> list[tuple[str, str | None]]:
    return [(a.provider, a.kind) for a in response.attempts]


async def test_a_failed_answer_races_the_next_two_and_the_first_whole_answer_wins(fake_server) -> None:
    plans = {"alpha": _plan("malformed"), "beta": _plan("slow", slow_s=5.0), "gamma": _plan()}
    router = _router(fake_server, plans)
    started = time.perf_counter()
    response = await router.chat(CHAIN, HI)
    took = time.perf_counter() - started
    assert response.text == FULL and response.finish_reason == "stop"
    assert _kinds(response) == [("alpha", "transient"), ("beta", "raced"), ("gamma", None)]
    assert response.attempts[1].detail.startswith("cancelled")
    # Two answers' time (the failed one, then the race), not beta's five extra seconds.
    assert took < 2 * GENERATE_S + 1.5
    assert plans["beta"].served == ["slow"] and plans["gamma"].served == ["ok"]
    await router.aclose()


async def test_without_racing_the_next_candidate_is_waited_for(fake_server) -> None:
    plans = {"alpha": _plan("malformed"), "beta": _plan("slow", slow_s=0.5), "gamma": _plan()}
    router = _router(fake_server, plans, race_after_failed_answer=False)
    response = await router.chat(CHAIN, HI)
    assert _kinds(response) == [("alpha", "transient"), ("beta", None)]
    assert plans["gamma"].served == []
    await router.aclose()


async def test_a_quick_refusal_does_not_start_a_race(fake_server) -> None:
    plans = {"alpha": _plan("500"), "beta": _plan(), "gamma": _plan()}
    router = _router(fake_server, plans)
    response = await router.chat(CHAIN, HI)
    assert _kinds(response) == [("alpha", "transient"), ("beta", None)]
    assert plans["gamma"].served == []
    await router.aclose()


async def test_a_stream_never_races(fake_server) -> None:
    plans = {"alpha": _plan("malformed"), "beta": _plan(), "gamma": _plan()}
    router = _router(fake_server, plans)
    events = [event async for event in router.stream(CHAIN, HI)]
    done = events[-1].response
    assert done is not None and done.text == FULL
    assert _kinds(done) == [("alpha", "transient"), ("beta", None)]
    assert plans["gamma"].served == []
    await router.aclose()


async def test_a_won_race_feeds_no_breaker_and_frees_its_probe(fake_server) -> None:
    # One failure would open a circuit: beta's quick 500 inside the race that gamma won must not.
    plans = {"alpha": _plan("malformed"), "beta": _plan("500"), "gamma": _plan()}
    router = _router(fake_server, plans, breaker=Breaker(min_calls=1, failure_rate=0.5))
    response = await router.chat(CHAIN, HI)
    assert response.text == FULL and response.attempts[-1].provider == "gamma"
    assert router.health.breaker_state(router._circuit("beta")) == "closed"
    # alpha's failure came before the race: it counts.
    assert router.health.breaker_state(router._circuit("alpha")) == "open"
    await router.aclose()


async def test_a_lost_race_counts_both_failures(fake_server) -> None:
    plans = {"alpha": _plan("malformed"), "beta": _plan("500"), "gamma": _plan("502")}
    router = _router(fake_server, plans, breaker=Breaker(min_calls=1, failure_rate=0.5))
    response = await router.chat(CHAIN, HI)
    # Nobody won the race: both failures count (and each opens its circuit), alpha answers after its backoff.
    assert response.text == FULL and response.attempts[-1].provider == "alpha"
    assert [a.kind for a in response.attempts[1:3]] == ["transient", "transient"]
    assert all(router.health.opened_at(router._circuit(name)) is not None for name in ("beta", "gamma"))
    await router.aclose()
