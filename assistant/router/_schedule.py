"""When each candidate of a call is tried: the waiting room (candidates that could not answer now,
in the order they become ready) and races (after a failure that cost a whole answer, a plain call sends
to two candidates at once and keeps the first whole answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from ..errors import LLMError
from ..messages import StreamEvent
from ._call import Call
from ._candidates import Candidate
from ._failures import count_failure
from ._hops import status_event
from .policies import RetryState

if TYPE_CHECKING:
    from . import Router

__all__ = ["waiting_room", "partner_for", "race", "can_serve", "ready_order"]


async def waiting_room(router: Router, call: Call) -> AsyncIterator[StreamEvent]:
    """Candidates that could not answer now, tried in the order they become ready: one left
    after a transient failure once its backoff has passed (time spent on the others counts), one
    resting after a rate limit once its short cooldown ends; an open circuit only when nothing
    else is left, the one that opened earliest first. A call is never refused just because
    every candidate rests."""
    while True:
        waiting = ready_order(router, call)
        if not waiting:
            return
        (rank, ready), cand, resting = waiting[0]
        # Racing, the next one in line goes along when it is ready by then.
        pair = waiting[1:2] if call.racing and not call.streaming and rank == 0 and waiting[1:2] and \
            waiting[1][0] <= (0, max(ready, router.policy.clock())) else []
        for _, taken, was_resting in [waiting[0], *pair]:
            if was_resting:
                call.resting = tuple(c for c in call.resting if c.model_id != taken.model_id)
            else:
                call.later = tuple(c for c in call.later if c.model_id != taken.model_id)
        wait = ready - router.policy.clock() if rank == 0 else 0.0
        if wait > 0:
            if call.streaming:
                yield status_event(f"{cand.model_id}: no other model can serve now; trying it in {wait:.1f}s")
            await router.policy.sleep(wait)
        if pair:
            await race(router, [(cand, resting), (pair[0][1], pair[0][2])], call, ())
        elif call.streaming:
            async for event in router._candidate(cand, call, (), last_resort=resting):
                yield event
        else:
            await router._attempt(cand, call, (), last_resort=resting)
        if call.response is not None:
            return


def partner_for(router: Router, cand: Candidate, ahead: list[Candidate], call: Call) -> Candidate | None:
    """The candidate to race ``cand`` with: the first one ahead that can serve now, when this
    plain call already lost a whole answer to a failure and ``cand`` itself can serve."""
    if not call.racing or call.streaming or router._screen(cand, call.state, probe=False) is not None:
        return None
    return next((c for c in ahead if c.model_id != cand.model_id and router._screen(c, call.state, probe=False) is None), None)


async def race(router: Router, pair: Sequence[tuple[Candidate, bool]], call: Call, rest: Sequence[Candidate]) -> None:
    """Send to both of ``pair`` (candidate, last resort) at once: the first whole answer is the
    call's, the other request is cancelled; what fails is handled as in a call of its own (left for
    later, cooled down, ...)."""
    failures: list[tuple[str, LLMError, float]] = []

    (first, first_last), (second, second_last) = pair
    pending = {asyncio.create_task(router._attempt(first, call, [second, *rest], last_resort=first_last, race=failures)),
               asyncio.create_task(router._attempt(second, call, [first, *rest], last_resort=second_last, race=failures))}
    try:
        while pending and call.response is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a bug or a usage error surfaces as it would without the race
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    if call.response is None:
        for circuit, err, sent in failures:
            await count_failure(router, circuit, err, sent)
        return
    # The failures of a race that was won feed no breaker: the request it cancelled, which would
    # most often have answered, cannot count, so the failures that came back first would weigh alone.
    # The answer stays the last hop on the record, after the request it beat.
    answered = call.response.attempts[-1]
    call.attempts.remove(answered)
    call.attempts.append(answered)
    call.response.attempts = list(call.attempts)


def can_serve(router: Router, rest: Sequence[Candidate], call: Call) -> bool:
    """Another candidate can answer now, or soon: one still ahead that only rests (its rest is
    weighed when it is reached), or one in the waiting room."""
    return any(router._screen(c, call.state, probe=False, resting=False) is None for c in rest) or bool(ready_order(router, call))


def ready_order(router: Router, call: Call) -> list[tuple[tuple[int, float], Candidate, bool]]:
    """``((rank, ready time or opened_at), candidate, resting)`` in the order to try them."""
    policy, now = router.policy, router.policy.clock()
    out = [((0, call.tries[c.model_id].ready_at), c, False) for c in call.later]
    queued = {c.model_id for c in call.later}
    for cand in {c.model_id: c for c in call.resting}.values():
        tries = call.tries.get(cand.model_id)
        if cand.model_id in queued or (tries is not None and (
                policy.retry(RetryState(tries=tries.tries)) or policy.rate_retry(RetryState(tries=tries.rate_tries)))):
            continue
        until = max((c.until for key in (cand.provider, cand.model_id) if (c := router.health.cooldown(key, now))),
                    default=now)
        if until - now > policy.hint_cap_s:
            continue  # a long rest is slept out by nobody: the provider said so
        circuit = router._circuit(cand.provider)
        if until <= now and router.health.breaker_state(circuit, now) == "open":
            out.append(((1, router.health.opened_at(circuit) or 0.0), cand, True))
        else:
            out.append(((0, until), cand, True))
    return sorted(out, key=lambda row: row[0])
