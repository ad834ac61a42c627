"""Retry, backoff, cooldown and breaker policies as pure functions of an attempt's state."""

from __future__ import annotations

import random

import pytest

from assistant.errors import (
    AuthError,
    BadRequestError,
    BillingError,
    ContextOverflowError,
    NotFoundError,
    RateLimitError,
    ToolsUnsupportedError,
    TransientError,
)
from assistant.router.policies import (
    Breaker,
    RetryState,
    RouterPolicy,
    Situation,
    WaitExponentialJitter,
    WaitSchedule,
    decide,
    names_tool_choice,
    stop_after_attempt,
    stop_after_delay,
)


def policy(**kw: object) -> RouterPolicy:
    return RouterPolicy(random=random.Random(3), **kw)  # type: ignore[arg-type]


def test_full_jitter_backoff_stays_under_the_doubling_ceiling() -> None:
    wait = WaitExponentialJitter(base=0.5, factor=2, cap=10)
    rng = random.Random(0)
    for tries, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 10.0)]:
        samples = [wait(RetryState(tries=tries), rng) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # full jitter spreads over the whole range


def test_wait_schedule_steps_then_repeats_the_last_step() -> None:
    wait = WaitSchedule(steps=(10.0, 30.0, 60.0), jitter=(0.0, 1.0))
    rng = random.Random(0)
    got = [wait(RetryState(tries=n), rng) for n in (1, 2, 3, 4)]
    assert [int(g) for g in got] == [10, 30, 60, 60]


def test_stop_policies_compose_with_or() -> None:
    stop = stop_after_attempt(3) | stop_after_delay(30)
    assert not stop(RetryState(tries=2, elapsed_s=10))
    assert stop(RetryState(tries=3, elapsed_s=0))
    assert stop(RetryState(tries=1, elapsed_s=31))


def test_breaker_trips_on_failure_rate_once_enough_calls_ended_inside_the_window() -> None:
    breaker = Breaker(failure_rate=0.5, min_calls=20, window_s=60)
    assert not breaker.trips([[100, 19, 19]], now=130)  # below the minimum number of calls
    assert breaker.trips([[100, 20, 10]], now=130)
    assert not breaker.trips([[100, 20, 9]], now=130)  # 45% failed
    assert not breaker.trips([[60, 20, 20], [120, 1, 1]], now=130)  # the first bucket aged out


def test_breaker_is_open_then_half_open_after_reset() -> None:
    breaker = Breaker(reset_s=60)
    assert breaker.state(None, now=500) == "closed"
    assert breaker.state(400, now=459) == "open"
    assert breaker.state(400, now=460) == "half_open"


def test_transient_retries_twice_with_backoff_then_moves_on() -> None:
    err = TransientError("HTTP 500", status=500)
    first = decide(err, Situation(tries=1), policy())
    second = decide(err, Situation(tries=2), policy())
    third = decide(err, Situation(tries=3), policy())
    assert (first.kind, second.kind, third.kind) == ("retry", "retry", "next")
    assert 0 <= first.wait_s <= 0.5 and 0 <= second.wait_s <= 1.0


def test_short_retry_hint_is_slept_out_when_nothing_else_can_serve() -> None:
    action = decide(RateLimitError("slow down", retry_after=1.0), Situation(has_next=False), policy())
    assert (action.kind, action.wait_s) == ("retry", 1.0)


@pytest.mark.parametrize("hint", [1.0, 20.0, None])
def test_rate_limit_with_another_candidate_moves_on_at_once_and_cools_down(hint) -> None:
    action = decide(RateLimitError("slow down", retry_after=hint), Situation(has_next=True), policy())
    assert (action.kind, action.wait_s) == ("cool_down", hint if hint is not None else policy().unhinted_cooldown_s)


def test_empty_greedy_answer_is_not_resent_to_the_same_model() -> None:
    err = TransientError("empty completion", code="empty_completion")
    assert decide(err, Situation(tries=1, has_next=True, greedy=True), policy()).kind == "next"
    assert decide(err, Situation(tries=1, has_next=False, greedy=False), policy()).kind == "retry"


def test_long_retry_hint_cools_the_provider_down() -> None:
    action = decide(RateLimitError("slow down", retry_after=3600), Situation(has_next=True), policy())
    assert (action.kind, action.wait_s, action.scope) == ("cool_down", 3600, "provider")


def test_rate_limit_rotates_key_before_waiting() -> None:
    action = decide(RateLimitError("slow down", retry_after=5), Situation(keys_left=1), policy())
    assert action.kind == "rotate_key"


def test_request_too_large_for_the_tier_moves_on_without_retry() -> None:
    err = RateLimitError("Request too large for model ... tokens per minute (TPM)", status=413, never_passes=True)
    assert decide(err, Situation(has_next=True), policy()).kind == "next"


def test_rate_limits_stop_after_three_tries_with_a_cooldown() -> None:
    action = decide(RateLimitError("slow down", retry_after=2), Situation(rate_tries=3), policy())
    assert (action.kind, action.wait_s) == ("cool_down", 2)


def test_unhinted_429_from_a_spreading_provider_waits_ten_seconds_when_alone() -> None:
    action = decide(RateLimitError("Rate limit exceeded"), Situation(slow_unhinted=True), policy())
    assert action.kind == "retry" and 10 <= action.wait_s <= 11


def test_unhinted_429_from_a_spreading_provider_cools_the_model_when_another_exists() -> None:
    action = decide(RateLimitError("Rate limit exceeded"), Situation(slow_unhinted=True, has_next=True), policy())
    assert (action.kind, action.scope) == ("cool_down", "model")


def test_billing_and_auth_disable_the_provider() -> None:
    assert decide(BillingError("insufficient_quota"), Situation(), policy()).kind == "disable"
    assert decide(AuthError("Incorrect API key provided"), Situation(), policy()).kind == "disable"


def test_auth_failure_tries_another_key_first() -> None:
    assert decide(AuthError("Incorrect API key provided"), Situation(keys_left=2), policy()).kind == "rotate_key"


def test_error_naming_tool_choice_drops_it_whatever_its_kind() -> None:
    msg = "No endpoints found that support the provided 'tool_choice' value."
    for err in (NotFoundError(msg, status=404), ToolsUnsupportedError(msg, status=404), BadRequestError(msg, status=400)):
        assert decide(err, Situation(tool_choice_sent=True, tools_sent=True), policy()).kind == "drop_tool_choice"


def test_tool_choice_is_dropped_only_when_it_was_sent() -> None:
    err = BadRequestError('"auto" tool choice requires --enable-auto-tool-choice', status=400)
    assert names_tool_choice(err)
    assert decide(err, Situation(tool_choice_sent=False), policy()).kind == "next"


def test_tools_unsupported_switches_to_prompt_guided_tools_once() -> None:
    err = ToolsUnsupportedError("No endpoints found that support tool use.", status=404)
    assert decide(err, Situation(tools_sent=True), policy()).kind == "prompt_tools"
    assert decide(err, Situation(tools_sent=False, prompt_mode=True), policy()).kind == "next"
    assert decide(err, Situation(tools_sent=True), policy(allow_prompt_tools=False)).kind == "next"


def test_context_overflow_asks_for_a_bigger_window() -> None:
    err = ContextOverflowError("maximum context length is 8192 tokens", context_window=8192)
    assert decide(err, Situation(has_next=True), policy()).kind == "bigger_window"


def test_not_found_and_bad_request_move_on() -> None:
    assert decide(NotFoundError("model not found", status=404), Situation(), policy()).kind == "next"
    assert decide(BadRequestError("bad", status=400), Situation(), policy()).kind == "next"


def test_a_local_server_that_refuses_connections_is_left_at_once() -> None:
    err = TransientError("cannot connect to 127.0.0.1:8080", provider="llama", code="connect_failed")
    assert decide(err, Situation(tries=1, has_next=True, local=True), RouterPolicy()).kind == "next"
    # A remote provider that cannot be reached gets the usual backoff (after the others, when there are any).
    assert decide(err, Situation(tries=1, has_next=False, local=False), RouterPolicy()).kind == "retry"
    assert decide(err, Situation(tries=1, has_next=True, local=False), RouterPolicy()).kind == "later"


def test_transient_failure_with_another_candidate_moves_on_and_comes_back_after_its_backoff() -> None:
    err = TransientError("HTTP 503", status=503)
    later = decide(err, Situation(tries=1, has_next=True), policy())
    assert (later.kind, later.wait_s) == ("later", 0.0)  # after the rest of the chain
    again = decide(err, Situation(tries=2, has_next=True), policy())
    assert again.kind == "later" and 0 <= again.wait_s <= 0.5
    assert decide(err, Situation(tries=1, has_next=False), policy()).kind == "retry"
    assert decide(err, Situation(tries=3, has_next=True), policy()).kind == "next"
