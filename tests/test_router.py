"""Router against scripted local OpenAI-compatible providers: every "no" becomes the right next action."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import RESET, FakeClock, ScriptedProvider, fail, ok

from assistant.errors import AllModelsFailedError, UsageError
from assistant.messages import Message, ToolSpec
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router.policies import Breaker, RouterPolicy

HI = [Message.user("hi")]
TOOLS = [ToolSpec(name="lookup", description="Look a word up.", parameters={"type": "object", "properties": {"q": {"type": "string"}}})]


def make_router(providers: dict[str, tuple[ScriptedProvider, Any]], clock: FakeClock | None = None, **policy: Any) -> Router:
    registry = LLMRegistry()
    for name, (fake, keys) in providers.items():
        registry.add_provider(name, kind="openai", base_url=fake.url, api_keys=[keys] if isinstance(keys, str) else keys)
    if clock is not None:
        policy.update(clock=clock.time, sleep=clock.sleep)
    return Router(registry, policy=RouterPolicy(random=random.Random(5), **policy))


def kinds(resp: Any) -> list[tuple[str, str | None]]:
    return [(a.provider, a.kind) for a in resp.attempts]


async def test_short_retry_after_is_waited_out_on_the_same_provider(scripted) -> None:
    alpha = scripted([fail(429, "Rate limit reached", headers={"Retry-After": "1"})])
    router = make_router({"alpha": (alpha, "k-alpha")})
    started = time.monotonic()
    resp = await router.chat("alpha/m", HI)
    elapsed = time.monotonic() - started
    assert resp.text == "ok" and kinds(resp) == [("alpha", "rate_limit"), ("alpha", None)]
    assert resp.attempts[0].wait_s == 1.0
    assert 0.9 <= elapsed < 10
    await router.aclose()


async def test_long_retry_hint_cools_the_provider_down_and_moves_on_at_once(scripted) -> None:
    alpha = scripted([fail(429, "Rate limit reached", headers={"Retry-After": "3600"})])
    beta = scripted()
    clock = FakeClock()
    router = make_router({"alpha": (alpha, "ka"), "beta": (beta, "kb")}, clock)
    first = await router.chat(["alpha/m", "beta/m"], HI)
    assert kinds(first) == [("alpha", "rate_limit"), ("beta", None)] and clock.sleeps == []
    second = await router.chat(["alpha/m", "beta/m"], HI)
    assert kinds(second) == [("alpha", "rate_limit"), ("beta", None)]
    assert second.attempts[0].detail.startswith("skipped: alpha cooling down")
    assert alpha.hits == 1
    await router.aclose()


async def test_server_error_moves_to_the_next_candidate_at_once(scripted) -> None:
    alpha = scripted(default=fail(500, "The server had an error while processing your request."))
    beta = scripted()
    clock = FakeClock()
    router = make_router({"alpha": (alpha, "ka"), "beta": (beta, "kb")}, clock)
    resp = await router.chat(["alpha/m", "beta/m"], HI)
    assert kinds(resp) == [("alpha", "transient"), ("beta", None)]
    assert alpha.hits == 1 and clock.sleeps == []
    await router.aclose()


async def test_candidate_left_after_a_server_error_is_retried_after_the_chain(scripted) -> None:
    alpha = scripted([fail(500, "The server had an error"), fail(500, "The server had an error")])
    beta = scripted(default=fail(502, "Bad gateway"))
    clock = FakeClock()
    router = make_router({"alpha": (alpha, "ka"), "beta": (beta, "kb")}, clock)
    resp = await router.chat(["alpha/m", "beta/m"], HI)
    # Round by round: each candidate once, then again once its backoff has passed.
    assert kinds(resp) == [("alpha", "transient"), ("beta", "transient")] * 2 + [("alpha", None)]
    assert alpha.hits == 3 and beta.hits == 2
    await router.aclose()


async def test_connection_reset_is_retried(scripted) -> None:
    alpha = scripted([RESET])
    router = make_router({"alpha": (alpha, "ka")}, FakeClock())
    resp = await router.chat("alpha/m", HI)
    assert kinds(resp) == [("alpha", "transient"), ("alpha", None)]
    await router.aclose()


async def test_breaker_opens_on_its_failure_rate_and_a_probe_closes_it(scripted) -> None:
    alpha = scripted(default=fail(500, "boom"))
    beta = scripted()
    clock = FakeClock()
    breaker = Breaker(min_calls=5, failure_rate=0.5, reset_s=60)
    router = make_router({"alpha": (alpha, "ka"), "beta": (beta, "kb")}, clock, breaker=breaker)
    chain = ["alpha/m", "beta/m"]
    for _ in range(4):  # one failed call each: fewer calls than the minimum
        await router.chat(chain, HI)
    fifth = await router.chat(chain, HI)  # the fifth failed call of five opens the circuit
    assert alpha.hits == 5 and "circuit opened" in fifth.attempts[0].detail
    sixth = await router.chat(chain, HI)
    assert sixth.attempts[0].detail == "skipped: alpha circuit open after repeated failures" and alpha.hits == 5
    clock.now += 61
    alpha.default = ok("back")
    probe = await router.chat(chain, HI)
    assert probe.text == "back" and kinds(probe) == [("alpha", None)]
    assert router.health.breaker_state(router._circuit("alpha")) == "closed"
    await router.aclose()


async def test_auth_failure_disables_the_provider_for_the_next_process(scripted) -> None:
    alpha = scripted(default=fail(401, "Incorrect API key provided: sk-bad***0000.", code="invalid_api_key"))
    beta = scripted()
    router = make_router({"alpha": (alpha, "k-old"), "beta": (beta, "kb")}, FakeClock())
    first = await router.chat(["alpha/m", "beta/m"], HI)
    assert kinds(first) == [("alpha", "auth"), ("beta", None)]
    await router.aclose()
    code = "from assistant.router.health import HealthStore; print(sorted(HealthStore().disabled()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['alpha']"
    fresh = make_router({"alpha": (alpha, "k-old"), "beta": (beta, "kb")}, FakeClock())
    again = await fresh.chat(["alpha/m", "beta/m"], HI)
    assert again.attempts[0].detail.startswith("skipped: alpha auto-disabled") and alpha.hits == 1
    await fresh.aclose()


async def test_changed_key_re_enables_a_disabled_provider(scripted) -> None:
    alpha = scripted([fail(401, "Incorrect API key provided.", code="invalid_api_key")])
    beta = scripted()
    router = make_router({"alpha": (alpha, "k-old"), "beta": (beta, "kb")}, FakeClock())
    await router.chat(["alpha/m", "beta/m"], HI)
    await router.aclose()
    fresh = make_router({"alpha": (alpha, "k-new"), "beta": (beta, "kb")}, FakeClock())
    resp = await fresh.chat(["alpha/m", "beta/m"], HI)
    assert kinds(resp) == [("alpha", None)] and fresh.health.disabled() == {}
    assert alpha.auth[-1] == "Bearer k-new"
    await fresh.aclose()


async def test_health_enable_re_enables_a_disabled_provider(scripted) -> None:
    alpha = scripted([fail(402, "Insufficient credits", code="insufficient_quota")])
    router = make_router({"alpha": (alpha, "ka")}, FakeClock())
    with pytest.raises(AllModelsFailedError):
        await router.chat("alpha/m", HI)
    assert router.health.disabled()["alpha"].kind == "billing"
    await router.health.enable("alpha")
    assert (await router.chat("alpha/m", HI)).text == "ok"
    await router.aclose()


async def test_rate_limit_rotates_to_the_next_key_and_really_sends_it(scripted) -> None:
    def by_key(request: Any) -> Any:
        return fail(429, "Rate limit reached") if request.headers["Authorization"] == "Bearer k-one" else ok("from two")

    alpha = scripted(pick=by_key)
    clock = FakeClock()
    router = make_router({"alpha": (alpha, ["k-one", "k-two"])}, clock)
    resp = await router.chat("alpha/m", HI)
    assert resp.text == "from two" and kinds(resp) == [("alpha", "rate_limit"), ("alpha", None)]
    assert alpha.auth == ["Bearer k-one", "Bearer k-two"] and clock.sleeps == []
    await router.chat("alpha/m", HI)
    assert alpha.auth[-1] == "Bearer k-two"  # the working key is remembered
    await router.aclose()


async def test_error_naming_tool_choice_is_retried_without_it(scripted) -> None:
    message = ("No endpoints found that support the provided 'tool_choice' value. "
               "To learn more about provider routing, visit: https://openrouter.ai/docs/provider-routing")
    alpha = scripted([fail(404, message)])
    router = make_router({"alpha": (alpha, "ka")}, FakeClock())
    resp = await router.chat("alpha/m", HI, TOOLS, tool_choice="required")
    assert [a.kind is None for a in resp.attempts] == [False, True]
    assert resp.attempts[1].detail == "without tool_choice"
    assert "tool_choice" in alpha.bodies[0] and "tool_choice" not in alpha.bodies[1]
    await router.aclose()


async def test_not_found_moves_on_without_retrying(scripted) -> None:
    alpha = scripted(default=fail(404, "The model `m` does not exist or you do not have access to it.", code="model_not_found"))
    beta = scripted()
    router = make_router({"alpha": (alpha, "ka"), "beta": (beta, "kb")}, FakeClock())
    resp = await router.chat(["alpha/m", "beta/m"], HI)
    assert kinds(resp) == [("alpha", "not_found"), ("beta", None)] and alpha.hits == 1
    await router.aclose()


async def test_every_candidate_failing_raises_with_all_attempts(scripted) -> None:
    alpha = scripted(default=fail(400, "Invalid value for 'temperature'"))
    router = make_router({"alpha": (alpha, "ka")}, FakeClock())
    with pytest.raises(AllModelsFailedError) as info:
        await router.chat(["alpha/m", "openai/gpt-4o-mini"], HI)
    assert [(a.provider, a.kind) for a in info.value.attempts] == [("alpha", "bad_request"), ("openai", "auth")]
    assert info.value.attempts[1].detail == "skipped: no API key for openai"
    await router.aclose()


async def test_unknown_provider_is_a_usage_error_not_a_failover(scripted) -> None:
    router = make_router({}, FakeClock())
    with pytest.raises(UsageError, match="unknown provider 'nope'"):
        await router.chat(["nope/m"], HI)
    await router.aclose()


async def test_keys_appear_in_no_attempt_or_error(scripted) -> None:
    secret = "sk-proj-abcdefghijklmnop0123456789"
    alpha = scripted(default=fail(401, f"Incorrect API key provided: {secret}.", code="invalid_api_key"))
    router = make_router({"alpha": (alpha, secret)}, FakeClock())
    with pytest.raises(AllModelsFailedError) as info:
        await router.chat("alpha/m", HI)
    text = str(info.value) + repr(info.value) + "".join(a.model_dump_json() for a in info.value.attempts)
    text += router.health.path.read_text()
    assert secret not in text and secret[:-4] not in text
    await router.aclose()


async def test_misspelt_option_is_a_usage_error_naming_it(scripted) -> None:
    router = make_router({}, FakeClock())
    with pytest.raises(UsageError, match="max_tokenz"):
        await router.chat("llama/smollm2", HI, max_tokenz=5)


def test_a_local_server_gets_an_output_cap_when_the_caller_sets_none() -> None:
    from assistant.messages import ChatRequest, Message
    from assistant.router._call import LOCAL_MAX_TOKENS, Call, Tries, build_request
    from assistant.router._candidates import Candidate

    cand = Candidate(model_id="llama/m", provider="llama", model="m")
    local = build_request(Call(ChatRequest(model="", messages=[Message.user("hi")]), streaming=False), cand,
                          Tries([], 0), local=True)
    cloud = build_request(Call(ChatRequest(model="", messages=[Message.user("hi")]), streaming=False), cand,
                          Tries([], 0), local=False)
    chosen = build_request(Call(ChatRequest(model="", messages=[Message.user("hi")], max_tokens=50), streaming=False),
                           cand, Tries([], 0), local=True)
    assert (local.max_tokens, cloud.max_tokens, chosen.max_tokens) == (LOCAL_MAX_TOKENS, None, 50)
