"""Router streaming: transparent failover before the first content event, a typed error after it."""

from __future__ import annotations

import random
from typing import Any

import pytest
from conftest import FakeClock, ScriptedProvider, cut, fail, ok

from assistant.errors import StreamInterruptedError
from assistant.messages import Message
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router.policies import RouterPolicy

HI = [Message.user("hi")]


def make_router(**providers: ScriptedProvider) -> Router:
    registry = LLMRegistry()
    for name, fake in providers.items():
        registry.add_provider(name, kind="openai", base_url=fake.url, api_key=f"k-{name}")
    clock = FakeClock()
    return Router(registry, policy=RouterPolicy(clock=clock.time, sleep=clock.sleep, random=random.Random(2)))


async def collect(router: Router, model: Any) -> list[Any]:
    return [event async for event in router.stream(model, HI)]


async def test_stream_cut_before_the_first_token_fails_over(scripted) -> None:
    alpha = scripted(default=cut(""))
    beta = scripted([ok("hello from beta")])
    router = make_router(alpha=alpha, beta=beta)
    events = await collect(router, ["alpha/m", "beta/m"])
    assert [e.type for e in events if e.type != "status"] == ["text", "done"]
    assert "".join(e.text for e in events if e.type == "text") == "hello from beta"
    statuses = [e for e in events if e.type == "status"]
    assert statuses and all(e.attempt.provider == "alpha" and e.attempt.kind == "transient" for e in statuses)
    done = events[-1].response
    assert [(a.provider, a.kind) for a in done.attempts][-1] == ("beta", None)
    await router.aclose()


async def test_stream_cut_after_text_raises_with_the_partial_text(scripted) -> None:
    alpha = scripted([cut("partial te")])
    beta = scripted()
    router = make_router(alpha=alpha, beta=beta)
    seen: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for event in router.stream(["alpha/m", "beta/m"], HI):
            if event.type == "text":
                seen.append(event.text)
    err = info.value
    assert "".join(seen) == "partial te" == err.partial.text
    assert err.cause is not None and err.cause.kind == "transient"
    assert [(a.provider, a.kind) for a in err.partial.attempts] == [("alpha", "transient")]
    assert beta.hits == 0
    await router.aclose()


async def test_stream_reports_each_wait_as_a_status_event(scripted) -> None:
    alpha = scripted([fail(429, "Rate limit reached", headers={"Retry-After": "2"})])
    router = make_router(alpha=alpha)
    events = await collect(router, "alpha/m")
    assert events[0].type == "status" and events[0].attempt.wait_s == 2.0
    assert "retrying in 2.0s" in events[0].text
    assert events[-1].type == "done" and events[-1].response.text == "ok"
    await router.aclose()


async def test_stream_error_status_fails_over_before_content(scripted) -> None:
    alpha = scripted(default=fail(503, "Service Unavailable"))
    beta = scripted()
    router = make_router(alpha=alpha, beta=beta)
    events = await collect(router, ["alpha/m", "beta/m"])
    assert events[-1].response.provider == "beta" and alpha.hits == 1
    await router.aclose()
