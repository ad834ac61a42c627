"""The steps of one candidate's hop, shared by the router's two loops over them: a stream
(``Router._candidate``, which yields each step's status event) and a plain call (``Router._attempt``,
coroutines only: a plain call pays for no async generator). A step records its own hops; the event it
returns is what a stream yields, and a plain call drops it. A whole answer is the last step
(``_answers.answered``).

    sending = await ready(router, cand, call, last_resort=False)   # a Sending, or the skip hop's event
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import LLMError, TransientError, UsageError
from ..messages import ChatRequest, ChatResponse, StreamEvent
from . import _failures
from . import _fitting as ctx
from ._call import Call, Tries, build_request, hop
from ._candidates import Candidate, screen
from ._failures import EMPTY
from ._hops import Partial, describe, is_empty, status_event
from ._schedule import can_serve

if TYPE_CHECKING:
    from . import Router
    from ._route import Route
    from .policies import Action

__all__ = ["Sending", "ready", "reserve", "waiting", "pause", "build", "stand_in", "check", "cancelled", "failed"]


class Sending:
    """One candidate being tried in one call: what ``ready`` worked out, then the try under way (the
    request it sends, the client, when it was sent and how long it waited first)."""

    __slots__ = ("cand", "route", "tries", "ollama", "warning", "waited", "lowered", "request", "client", "sent")

    def __init__(self, cand: Candidate, route: Route, tries: Tries, ollama: Any, warning: str | None) -> None:
        self.cand, self.route, self.tries, self.ollama, self.warning = cand, route, tries, ollama, warning
        self.waited, self.lowered, self.sent = 0.0, None, 0.0
        self.request: ChatRequest | None = None
        self.client: Any = None


async def ready(router: Router, cand: Candidate, call: Call, last_resort: bool) -> Sending | StreamEvent:
    """``cand`` set up to send (its ``Tries`` made on first use in the call), or the hop that skips it:
    not pulled on its Ollama server, or screened out (no key, resting, too small a window, ...)."""
    state = call.state
    route = router._routes.of(cand)
    if router.health.doc.providers:
        await _failures.forget_stale_disable(router, cand.provider)
    ollama = None
    if route.local:
        await ctx.know_window(router.registry, router.catalog, cand, state)
    if route.ollama:
        if cand.free_entry and ctx.unpulled(cand, router.catalog):
            return hop(call, cand, "not_found", None, 0.0, f"skipped: not pulled on this server; run `ollama pull {cand.model}`")
        # Screened against the num_ctx it will run with: Ollama cuts a longer prompt silently.
        ollama = ctx.ollama_window(cand, call.request, router.catalog, state)
        if ollama.record and ollama.num_ctx:
            await ctx.remember_window(router.catalog, cand.model_id, ollama.num_ctx, source="the num_ctx sent to Ollama")
    policy = router.policy
    skipped = screen(cand, state, route=route, health=router.health, allow_prompt_tools=policy.allow_prompt_tools,
                     now=policy.clock(), probe=True, resting=not last_resort)
    if skipped is not None:
        if skipped[0] == "context_overflow" and state.window(cand):
            state.too_small = (*state.too_small, cand)
        if router._screen(cand, state, probe=False, resting=False) is None:
            call.resting = (*call.resting, cand)
        return hop(call, cand, skipped[0], None, 0.0, "skipped: " + skipped[1])
    warning = None
    tries = call.tries.get(cand.model_id)
    if tries is None:
        keys, spec = route.keys, route.spec
        tries = call.tries[cand.model_id] = Tries(
            keys, router._key_index.get(cand.provider, 0) % len(keys) if keys else 0,
            prompt_mode=bool(state.tools) and not (cand.supports_tools is not False and spec.supports_tools
                                                   and cand.model_id not in router._prompt_tools))
        if (state.tools and call.streaming and spec.free_suffix and cand.model.endswith(spec.free_suffix)
                and not (cand.free_entry and cand.supports_tools is True)):
            # The Go seed's isFreeModel warning: free variants often lack (or flake on) tool calling; an
            # entry the free-models list marks as tool-capable is not warned about.
            warning = (f"warning: {cand.model_id} is a free model; free models often do not support tool calling "
                       "reliably (tools fall back to prompt-guided calls if it refuses them)")
    return Sending(cand, route, tries, ollama, warning)


async def reserve(router: Router, sending: Sending, call: Call) -> float | StreamEvent:
    """The wait the client-side request limits ask before this try (taken from them), or the hop that
    skips the candidate when that wait is longer than the policy lets a call wait."""
    policy = router.policy
    wait: float = await router.limiter.reserve_async(sending.route.rules, policy.clock(), policy.limit_wait_cap_s)
    if wait > policy.limit_wait_cap_s:
        router.health.release(sending.route.circuit)
        return hop(call, sending.cand, "rate_limit", None, 0.0, f"skipped: client-side request limit full for {wait:.0f}s")
    return wait


def waiting(sending: Sending, wait: float) -> StreamEvent:
    return status_event(f"{sending.cand.model_id}: waiting {wait:.1f}s for the client-side request limit")


async def pause(router: Router, sending: Sending, wait: float) -> None:
    """Sleep out the request limit's ``wait``, and OpenRouter's spread: 100-400 ms before each request."""
    policy = router.policy
    if wait > 0:
        await policy.sleep(wait)
        sending.waited += wait
    if sending.route.jitter:
        jitter = policy.random.uniform(*sending.route.spec.jitter)
        await policy.sleep(jitter)
        sending.waited += jitter


def build(router: Router, sending: Sending, call: Call) -> set[str] | None:
    """Make this try's request (``sending.request``; ``sending.lowered`` says when its max_tokens had to
    shrink to fit the window). The attachment kinds the model cannot read, when there are some: the
    request then still needs its text stand-ins (``stand_in``)."""
    cand, state, ollama = sending.cand, call.state, sending.ollama
    request = build_request(call, cand, sending.tries, ollama.num_ctx if ollama and ollama.send else None,
                            local=sending.route.local)
    sending.request = request
    if state.attachments:
        unreadable = router.media.unreadable(cand.model_id, request.messages)
        if unreadable:
            return unreadable
    finish(router, sending, call)
    return None


async def stand_in(router: Router, sending: Sending, call: Call, unreadable: set[str]) -> StreamEvent | None:
    """Replace the ``unreadable`` attachments of ``sending.request`` with text stand-ins, or the hop that
    skips the candidate when none could be made."""
    request, cand = sending.request, sending.cand
    assert request is not None
    try:
        replaced = await router.media.replace(request.messages, unreadable, router._describe)
    except (LLMError, UsageError) as exc:
        return hop(call, cand, "bad_request", None, 0.0, f"skipped: it cannot read the {' and '.join(sorted(unreadable))}s "
                   f"and no text stand-in could be made: {exc}")
    sending.request = request.model_copy(update={"messages": replaced})
    finish(router, sending, call)
    return None


def finish(router: Router, sending: Sending, call: Call) -> None:
    # The request's max_tokens fitted to the window, its client, and when it was sent.
    sending.lowered = None
    if call.state.max_tokens:  # (without one there is nothing to lower)
        sending.request, sending.lowered = ctx.fit_reply(sending.request, sending.cand, call.state)  # type: ignore[arg-type]
    tries = sending.tries
    sending.client = router.registry.client(sending.cand.provider, tries.keys[tries.key_i] if tries.keys else None)
    # A success only closes a circuit when it was sent after the circuit opened.
    sending.sent = router.policy.clock()


def check(sending: Sending, call: Call, response: ChatResponse, started: bool = False) -> None:
    """Raise what a whole answer still may be: an empty completion (when no content was streamed), or a
    prompt Ollama cut silently."""
    cand = sending.cand
    if not started and is_empty(response):
        # A content problem, not the endpoint failing: the breaker does not count it.
        raise TransientError("empty completion", provider=cand.provider, model=cand.model, code=EMPTY)
    if sending.ollama is not None and (cut := ctx.truncation(cand, call.state, sending.ollama, response)) is not None:
        raise cut


def cancelled(router: Router, sending: Sending, call: Call) -> None:
    # The other request of a race answered first (or the caller gave up): a probe slot this request held
    # is free again, and the request sent is on the record.
    router.health.release(sending.route.circuit, sending.sent)
    if call.response is not None:
        hop(call, sending.cand, "raced", None, sending.waited, "cancelled: another candidate answered first")


async def failed(
    router: Router, sending: Sending, call: Call, err: LLMError, rest: Sequence[Candidate], *, last_resort: bool,
    race: list[tuple[str, LLMError, float]] | None, partial: Partial | None = None,
) -> tuple[Action, StreamEvent]:
    """Weigh ``err``: fed to the breaker (or kept for the end of a race), the policy's next move, and its
    hop (whose event a stream yields before ``_failures.apply`` carries the move out). A stream that
    broke off after output raises ``StreamInterruptedError`` with the partial answer."""
    policy, cand, circuit, sent = router.policy, sending.cand, sending.route.circuit, sending.sent
    if race is None:
        opened = await _failures.count_failure(router, circuit, err, sent)
    else:
        # Weighed when the race is over (``_schedule.race``).
        router.health.release(circuit, sent)
        race.append((circuit, err, sent))
        opened = False
    if (policy.race_after_failed_answer and not call.streaming and (err.status is None or err.status < 300)
            and policy.clock() - sent >= policy.race_after_s):
        call.racing = True
    if partial is not None and partial.started:
        hop(call, cand, err.kind, err.status, sending.waited, describe(err, "stream broke off after output"))
        raise partial.interrupted(err, cand.provider, cand.model, call.attempts) from None
    action = _failures.judge(router, err, cand, sending.tries, sending.request,  # type: ignore[arg-type]
                             has_next=can_serve(router, rest, call), opened=opened, last_resort=last_resort)
    if action.kind == "cool_down" or (action.kind == "next" and action.detail.startswith("circuit open")):
        call.resting = (*call.resting, cand)
    wait = action.wait_s if action.kind == "retry" else 0.0
    note = hop(call, cand, err.kind, err.status, sending.waited + wait, describe(err, action.detail))
    sending.waited = 0.0  # the next try counts its own wait
    return action, note
