"""Retry, backoff, cooldown and breaker policies: tiny objects, pure functions of an attempt's state.

Clock, sleep and randomness are injected through ``RouterPolicy`` so tests run on a fake clock. The
loop that uses these lives in ``assistant/router.py``; ``decide`` turns one failed attempt into the
router's next ``Action`` and is a pure function too.

    policy = RouterPolicy(retry=stop_after_attempt(4) | stop_after_delay(30))
    router = Router(policy=policy)
"""

from __future__ import annotations

import asyncio
import random as _random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..errors import LLMError, RateLimitError

__all__ = [
    "RetryState",
    "Stop",
    "stop_after_attempt",
    "stop_after_delay",
    "WaitExponentialJitter",
    "WaitSchedule",
    "Breaker",
    "BreakerState",
    "Action",
    "Situation",
    "RouterPolicy",
    "decide",
    "names_tool_choice",
]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class RetryState:
    """What a policy may look at: how often this candidate failed this way, and since when."""

    tries: int
    elapsed_s: float = 0.0


class Stop:
    """``stop(state) -> bool``; ``a | b`` stops when either does (tenacity style)."""

    def __call__(self, state: RetryState) -> bool:
        raise NotImplementedError

    def __or__(self, other: Stop) -> Stop:
        return _StopAny((self, other))


@dataclass(frozen=True, slots=True)
class _StopAny(Stop):
    parts: tuple[Stop, ...]

    def __call__(self, state: RetryState) -> bool:
        return any(part(state) for part in self.parts)


@dataclass(frozen=True, slots=True)
class stop_after_attempt(Stop):  # noqa: N801 - reads like tenacity's
    """Stop once ``attempts`` sends failed (``stop_after_attempt(3)`` = two retries)."""

    attempts: int

    def __call__(self, state: RetryState) -> bool:
        return state.tries >= self.attempts


@dataclass(frozen=True, slots=True)
class stop_after_delay(Stop):  # noqa: N801
    """Stop once ``seconds`` passed since the first failure on this candidate."""

    seconds: float

    def __call__(self, state: RetryState) -> bool:
        return state.elapsed_s >= self.seconds


@dataclass(frozen=True, slots=True)
class WaitExponentialJitter:
    """Full jitter: uniform in ``[0, min(cap, base * factor ** (tries - 1))]`` (AWS backoff article).

        WaitExponentialJitter()(RetryState(tries=2), random.Random(0))  # somewhere in [0, 1.0]
    """

    base: float = 0.5
    factor: float = 2.0
    cap: float = 10.0

    def __call__(self, state: RetryState, rng: _random.Random) -> float:
        ceiling = min(self.cap, self.base * self.factor ** max(state.tries - 1, 0))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True, slots=True)
class WaitSchedule:
    """Fixed steps plus jitter, the last step repeating: OpenRouter's unhinted 429s (10 s, 30 s, 60 s)."""

    steps: tuple[float, ...] = (10.0, 30.0, 60.0)
    jitter: tuple[float, float] = (0.0, 1.0)

    def __call__(self, state: RetryState, rng: _random.Random) -> float:
        step = self.steps[min(max(state.tries - 1, 0), len(self.steps) - 1)]
        return step + rng.uniform(*self.jitter)


@dataclass(frozen=True, slots=True)
class Breaker:
    """Failure-rate circuit per provider endpoint, the way resilience4j's time-based window works:
    it opens when at least ``min_calls`` calls ended inside the last ``window_s`` seconds and at least
    ``failure_rate`` of them failed; after ``reset_s`` it is half-open and ``probes`` calls at a time
    may test it (a success closes it, a failure opens it again).

    The numbers: LLM calls take seconds and one process makes few of them, so Hystrix's 20 calls in
    10 s is stretched to 20 calls in 60 s. Twenty keeps chance from opening it: a provider failing
    30% of calls at random has a 4.8% chance of 10+ failures in 20 calls and far less once the window
    holds more, while a provider that is really down is judged after 20 tries (one per router call
    while others answer, up to three when it is alone). 50% is resilience4j's default threshold. An open circuit only moves calls to
    the next candidate (and is probed when nothing else is left), so 30 s open costs little.

        Breaker().trips([(100.0, 20, 11)], now=130.0)  # True: 11 of 20 failed
    """

    failure_rate: float = 0.5
    min_calls: int = 20
    window_s: float = 60.0
    buckets: int = 6
    reset_s: float = 30.0
    probes: int = 1

    @property
    def bucket_s(self) -> float:
        return self.window_s / self.buckets

    def bucket(self, now: float) -> float:
        """Start of the bucket a call ending at ``now`` is counted in."""
        return now - now % (self.window_s / self.buckets)

    def recent(self, buckets: Sequence[Sequence[float]], now: float) -> list[Sequence[float]]:
        """Buckets ``(start, calls, failed)`` still inside the window."""
        return [b for b in buckets if b[0] > now - self.window_s]

    def trips(self, buckets: Sequence[Sequence[float]], now: float) -> bool:
        recent = self.recent(buckets, now)
        calls = sum(b[1] for b in recent)
        failed = sum(b[2] for b in recent)
        return calls >= self.min_calls and failed >= self.failure_rate * calls

    def state(self, opened_at: float | None, now: float) -> BreakerState:
        if opened_at is None:
            return "closed"
        return "half_open" if now >= opened_at + self.reset_s else "open"


ActionKind = Literal["retry", "later", "drop_tool_choice", "prompt_tools", "rotate_key", "cool_down", "disable", "bigger_window", "next"]


@dataclass(frozen=True, slots=True)
class Action:
    """What the router does after a failed attempt; ``wait_s`` is a sleep (retry), a cooldown, or
    (``later``: leave it for the rest of the chain, then retry) the earliest time to send again."""

    kind: ActionKind
    wait_s: float = 0.0
    detail: str = ""
    # What a cooldown covers: the whole provider, or only this model (an upstream's free pool).
    scope: Literal["provider", "model"] = "provider"


def _sleep(seconds: float) -> Awaitable[None]:
    return asyncio.sleep(seconds)


@dataclass(slots=True)
class RouterPolicy:
    """Every knob the router has, with its clock, sleep and randomness.

        RouterPolicy(clock=fake.time, sleep=fake.sleep, random=random.Random(7))
    """

    # transient: two retries with full-jitter backoff, then the next candidate.
    retry: Stop = field(default_factory=lambda: stop_after_attempt(3))
    backoff: WaitExponentialJitter = field(default_factory=WaitExponentialJitter)
    # rate limits when no other candidate can serve: hints up to ``hint_cap_s`` are slept out this
    # many times. With another candidate the call moves on at once and the provider cools down for
    # the hint (``unhinted_cooldown_s`` without one) so the next calls skip it.
    rate_retry: Stop = field(default_factory=lambda: stop_after_attempt(3))
    hint_cap_s: float = 60.0
    # No hint: rest as long as a client backing off would wait before its first retry (the ceiling of
    # ``backoff`` for one failure).
    unhinted_cooldown_s: float = 0.5
    # 429s without a hint from providers that ask clients to spread requests (spec.jitter).
    unhinted_slow: WaitSchedule = field(default_factory=WaitSchedule)
    breaker: Breaker = field(default_factory=Breaker)
    # Longest client-side RPM/RPD delay to sit out; a longer one skips the candidate.
    limit_wait_cap_s: float = 60.0
    allow_prompt_tools: bool = True
    # A plain (not streamed) answer cut by the model's default output limit is continued, this many
    # more calls at most; a caller who set max_tokens gets the cut answer as asked.
    continue_on_length: bool = True
    continue_rounds: int = 2
    # After a failure that cost a whole answer (a 2xx body that was cut, empty or malformed, a
    # timeout: anything that took ``race_after_s`` or longer without an HTTP error status), a plain
    # call sends to its next two candidates at once and keeps the first whole answer, cancelling the
    # other request: one more request at most per such failure, instead of making the caller wait for
    # another whole answer that may fail too. False keeps calls strictly one request at a time.
    race_after_failed_answer: bool = True
    race_after_s: float = 0.2
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = _sleep
    random: _random.Random = field(default_factory=_random.Random)


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything ``decide`` needs besides the error itself."""

    tries: int = 1
    rate_tries: int = 1
    elapsed_s: float = 0.0
    keys_left: int = 0
    has_next: bool = False
    tool_choice_sent: bool = False
    tools_sent: bool = False
    prompt_mode: bool = False
    slow_unhinted: bool = False
    local: bool = False
    # temperature 0: the same request gets the same answer from the same model
    greedy: bool = False


def names_tool_choice(err: LLMError) -> bool:
    """True for the 400/404 answers that reject ``tool_choice`` itself, e.g. OpenRouter's 404
    "No endpoints found that support the provided 'tool_choice' value" and vLLM's 400
    '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'."""
    if err.status not in (400, 404):
        return False
    text = f"{err.message} {err.body}".lower()
    return "tool_choice" in text or "tool choice" in text


def decide(err: LLMError, s: Situation, policy: RouterPolicy) -> Action:
    """The router's next move after ``err`` on one candidate. Pure: randomness comes from ``policy``.

        decide(err, Situation(tries=1, has_next=True), RouterPolicy()).kind  # "retry", "next", ...
    """
    if s.tool_choice_sent and names_tool_choice(err):
        return Action("drop_tool_choice", detail="retrying without tool_choice")
    kind = err.kind
    if kind == "tools_unsupported":
        if s.tools_sent and not s.prompt_mode and policy.allow_prompt_tools:
            return Action("prompt_tools", detail="retrying with tools described in the prompt")
        return Action("next", detail="model cannot call tools")
    if kind == "rate_limit":
        return _decide_rate_limit(err, s, policy)
    if kind == "transient":
        if err.code == "empty_completion" and s.greedy:
            return Action("next", detail="an identical greedy request would answer empty again")
        if s.local and err.code == "connect_failed":
            # A local server that refuses connections is not running; backing off will not start it.
            return Action("next", detail="local server not running")
        state = RetryState(tries=s.tries, elapsed_s=s.elapsed_s)
        if policy.retry(state):
            return Action("next", detail=f"gave up after {s.tries} tries")
        if s.has_next:
            # Another candidate can answer now; sleeping here only delays the call. This one is
            # retried after the others: walking the chain is its first backoff (it is never resent
            # in a tight loop), later ones follow the usual schedule, shifted by one.
            wait = policy.backoff(RetryState(tries=s.tries - 1, elapsed_s=s.elapsed_s), policy.random) if s.tries > 1 else 0.0
            return Action("later", wait_s=wait, detail="trying the next candidate; back to this one after it")
        wait = policy.backoff(state, policy.random)
        return Action("retry", wait_s=wait, detail=f"retrying in {wait:.1f}s")
    if kind in ("billing", "auth"):
        if s.keys_left:
            return Action("rotate_key", detail="trying the next API key")
        return Action("disable", detail=f"provider disabled until its key changes ({kind})")
    if kind == "context_overflow":
        return Action("bigger_window", detail="prompt does not fit this window")
    return Action("next")


def _decide_rate_limit(err: LLMError, s: Situation, policy: RouterPolicy) -> Action:
    if isinstance(err, RateLimitError) and err.never_passes:
        # Groq 413 "Request too large ... tokens per minute": waiting never makes this request fit.
        return Action("next", detail="request too large for this tier")
    if s.keys_left:
        return Action("rotate_key", detail="trying the next API key")
    hint = err.retry_after
    state = RetryState(tries=s.rate_tries, elapsed_s=s.elapsed_s)
    if s.has_next:
        # Another candidate can serve now: waiting here only makes this call slower. The cooldown
        # tells the next calls to skip this provider until the hint passes.
        if hint is None and s.slow_unhinted:
            # OpenRouter's unhinted 429 on a :free model is usually that model's upstream pool being
            # full; other models of the provider stay usable.
            wait = policy.unhinted_slow(state, policy.random)
            return Action("cool_down", wait_s=wait, detail=f"model cooling down for {wait:.0f}s", scope="model")
        wait = max(hint, 0.0) if hint is not None else policy.unhinted_cooldown_s
        return Action("cool_down", wait_s=wait, detail=f"cooling down for {wait:.1f}s; trying the next candidate")
    if hint is None:
        wait = (policy.unhinted_slow if s.slow_unhinted else policy.backoff)(state, policy.random)
    else:
        wait = max(hint, 0.0)
    if wait > policy.hint_cap_s:
        return Action("cool_down", wait_s=wait, detail=f"cooling down for {wait:.0f}s")
    if policy.rate_retry(state):
        return Action("cool_down", wait_s=wait, detail=f"gave up after {s.rate_tries} tries; cooling down for {wait:.0f}s")
    return Action("retry", wait_s=wait, detail=f"retrying in {wait:.1f}s")
