"""Client-side limits: RPM/RPD windows delay calls, OpenRouter jitter and free-tier limits."""

from __future__ import annotations

import random

import pytest
from conftest import FakeClock, ScriptedProvider, fail

from assistant.errors import AllModelsFailedError
from assistant.messages import Message
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router.health import HealthStore
from assistant.router.policies import RouterPolicy
from assistant.router.ratelimit import RateLimiter, Window, limit_rules, next_slot

HI = [Message.user("hi")]


def make_router(fake: ScriptedProvider, clock: FakeClock, *, name: str = "alpha", kind: str = "openai", **limits: object) -> Router:
    registry = LLMRegistry()
    registry.add_provider(name, kind=kind, base_url=fake.url, api_key="k", **limits)
    return Router(registry, policy=RouterPolicy(clock=clock.time, sleep=clock.sleep, random=random.Random(4)))


def test_next_slot_waits_for_the_oldest_request_in_a_full_window() -> None:
    assert next_slot([], [Window(2, 60)], now=5) == 5
    assert next_slot([0.0], [Window(2, 60)], now=5) == 5
    assert next_slot([0.0, 1.0], [Window(2, 60)], now=5) == 60
    assert next_slot([0.0, 1.0, 60.0], [Window(2, 60)], now=5) == 61  # reserved slots queue up


def test_local_providers_have_no_limits() -> None:
    assert limit_rules("llama", "smollm2", local=True, rpm=1) == ()


def test_openrouter_free_models_share_the_account_wide_limits() -> None:
    (rule,) = limit_rules("openrouter", "z-ai/glm-4.5-air:free", free_suffix=":free")
    assert rule.key == "openrouter:free" and rule.windows == (Window(20, 60), Window(50, 86400))
    (credited,) = limit_rules("openrouter", "x:free", free_suffix=":free", credits=True)
    assert credited.windows[1] == Window(1000, 86400)
    assert limit_rules("openrouter", "openai/gpt-4o", free_suffix=":free") == ()


def test_concurrent_reservations_queue_up(tmp_path) -> None:
    clock = FakeClock()
    limiter = RateLimiter(HealthStore(tmp_path / "h.json", clock=clock.time))
    rules = limit_rules("groq", "m", rpm=2)
    waits = [limiter.reserve(rules, clock.now, max_wait=600) for _ in range(5)]
    assert waits == [0, 0, 60, 60, 120]


async def test_full_rpm_window_delays_the_call_and_says_how_long(scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_ALPHA_RPM", "2")
    alpha = scripted()
    clock = FakeClock()
    router = make_router(alpha, clock)
    await router.chat("alpha/m", HI)
    await router.chat("alpha/m", HI)
    events = [e async for e in router.stream("alpha/m", HI)]
    assert events[0].type == "status" and "waiting 60.0s" in events[0].text
    assert clock.sleeps == [60.0] and events[-1].response.attempts[0].wait_s == 60.0
    assert alpha.hits == 3
    await router.aclose()


async def test_daily_limit_beyond_the_wait_cap_skips_the_candidate(scripted) -> None:
    alpha = scripted()
    clock = FakeClock()
    router = make_router(alpha, clock, rpd=1)
    await router.chat("alpha/m", HI)
    with pytest.raises(AllModelsFailedError) as info:
        await router.chat("alpha/m", HI)
    assert info.value.attempts[0].detail.startswith("skipped: client-side request limit full")
    assert alpha.hits == 1
    await router.aclose()


async def test_openrouter_requests_get_100_to_400_ms_of_jitter(scripted) -> None:
    fake = scripted()
    clock = FakeClock()
    router = make_router(fake, clock, name="orfake", kind="openrouter")
    for _ in range(30):
        await router.chat("orfake/openai/gpt-4o-mini", HI)
    assert len(clock.sleeps) == 30 and all(0.1 <= s <= 0.4 for s in clock.sleeps)
    assert max(clock.sleeps) - min(clock.sleeps) > 0.1
    await router.aclose()


async def test_openrouter_free_models_wait_before_the_21st_request_in_a_minute(scripted) -> None:
    fake = scripted()
    clock = FakeClock()
    router = make_router(fake, clock, name="orfake", kind="openrouter")
    for _ in range(21):
        await router.chat("orfake/z-ai/glm-4.5-air:free", HI)
    limit_waits = [s for s in clock.sleeps if s > 1]
    assert len(limit_waits) == 1 and 50 < limit_waits[0] <= 60
    await router.aclose()


async def test_openrouter_429_without_hint_backs_off_ten_seconds(scripted) -> None:
    fake = scripted([fail(429, "Rate limit exceeded: free-models-per-min.")])
    clock = FakeClock()
    router = make_router(fake, clock, name="orfake", kind="openrouter")
    resp = await router.chat("orfake/z-ai/glm-4.5-air:free", HI)
    assert resp.text == "ok"
    backoffs = [s for s in clock.sleeps if s > 1]
    assert len(backoffs) == 1 and 10 <= backoffs[0] <= 11
    await router.aclose()
