"""What an answer becomes: continued when the model's own output limit cut it (``send_more`` asks the
same model for the rest), priced, and recorded as the call's answering attempt (the first one wins a race).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import telemetry
from ..errors import LLMError, RateLimitError, TransientError
from ..messages import Attempt, ChatRequest, ChatResponse, Message, Usage, trusted
from . import _fitting as ctx
from ._call import Call, hop
from ._candidates import UNASKED, Candidate
from ._failures import COUNTED, EMPTY
from ._hops import is_empty
from .policies import RetryState

if TYPE_CHECKING:
    from . import Router
    from ._route import Route
    from ._steps import Sending

__all__ = ["answered", "attempt_cost", "send_more"]


async def answered(router: Router, call: Call, sending: Sending, response: ChatResponse) -> None:
    """A whole answer to the try ``sending``: the circuit hears of the success, and the answer becomes
    the call's (continued first when the model's own output limit cut it mid-answer; in a race only the
    first answer counts)."""
    cand, waited = sending.cand, sending.waited
    await router.health.succeeded(sending.route.circuit, sending.sent, provider=cand.provider)
    if call.response is not None:
        hop(call, cand, "raced", None, waited, "discarded: another candidate answered first")
        return
    state, tries = call.state, sending.tries
    detail = "tools described in the prompt" if tries.prompt_mode else "without tool_choice" if tries.drop_choice else ""
    if state.notes:
        detail = "; ".join([detail, *state.notes] if detail else state.notes)
    # Only a cut the caller did not ask for (no max_tokens), and only in a plain call: a stream's
    # text is already out.
    if (response.finish_reason == "length" and call.request.max_tokens is None and not call.streaming
            and router.policy.continue_on_length):
        response, note = await _continued(router, sending, call, response)
        if note:
            detail = f"{detail}; {note}" if detail else note
        if call.response is not None:
            hop(call, cand, "raced", None, waited, "discarded: another candidate answered while this answer was continued")
            return
    usage = response.usage
    cost = usage.cost
    if cost is None:
        cost = attempt_cost(router, cand, usage, sending.route)
        if cost is not None:
            response.usage = usage = trusted(Usage, {**usage.__dict__, "cost": cost})
    attempt = trusted(Attempt, {
        "provider": cand.provider, "model": cand.model, "kind": None, "status": None,
        "wait_s": round(waited, 3) if waited else 0.0, "detail": detail, "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens, "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens, "cost": cost,
    })
    attempts = call.attempts
    attempts.append(attempt)
    if call.trace.recording:
        telemetry.attempt(call.trace, attempt)
    # What pydantic's __setattr__ does for a plain field, without its two Python-level calls.
    response.__dict__["attempts"] = attempts.copy()
    response.__pydantic_fields_set__.add("attempts")
    call.response = response


async def _continued(router: Router, sending: Sending, call: Call, response: ChatResponse) -> tuple[ChatResponse, str]:
    # The rest of an answer the model's own output limit cut, asked of the same model.
    cand, request, client, rules = sending.cand, sending.request, sending.client, sending.route.rules
    assert request is not None
    policy = router.policy
    budget = ctx.continuation_budget(cand, call.state, response)

    async def send(more: list[Message]) -> ChatResponse:
        return await send_more(router, cand, client, request, rules, more)

    return await ctx.continue_cut(send, request.messages, response, rounds=policy.continue_rounds, budget=budget,
                                  model_id=cand.model_id)


def attempt_cost(router: Router, cand: Candidate, usage: Usage, route: Route | None = None) -> float | None:
    """USD for this answer: the provider's own figure, nothing for a local server, else catalog prices."""
    if usage.cost is not None:
        return usage.cost
    route = route or router._routes.of(cand)
    if route.local:
        return 0.0
    if router._call_cost is None:
        from ..catalog.pricing import call_cost

        router._call_cost = call_cost
    # The catalog's answer at planning time when the candidate carries it (the same call, the same prices).
    info = cand.info if cand.info is not UNASKED else router._facts().get(cand.model_id)
    if info is None:
        return None  # what call_cost says of a model the catalog does not know
    return router._call_cost(info, usage, family=route.spec.family)


async def send_more(
    router: Router, cand: Candidate, client: Any, request: ChatRequest, rules: Any, messages: list[Message],
) -> ChatResponse:
    """One more request to the model that just answered (a continuation), within its request limits,
    retried like any request on a transient failure. An empty continuation is no ending: the
    answer then stays marked as cut."""
    policy = router.policy
    tries = 0
    while True:
        if rules:
            wait = await router.limiter.reserve_async(rules, policy.clock(), policy.limit_wait_cap_s)
            if wait > policy.limit_wait_cap_s:
                raise RateLimitError(f"client-side request limit full for {wait:.0f}s", provider=cand.provider, model=cand.model)
            await policy.sleep(wait)
        try:
            response = await client.chat(request.model_copy(update={"messages": messages}))
            if is_empty(response):
                raise TransientError("empty continuation", provider=cand.provider, model=cand.model, code=EMPTY)
            return response
        except LLMError as err:
            tries += 1
            state = RetryState(tries=tries)
            if err.kind not in COUNTED or err.code == EMPTY or policy.retry(state):
                raise
            await policy.sleep(err.retry_after if err.retry_after is not None and err.retry_after <= policy.hint_cap_s
                               else policy.backoff(state, policy.random))
