"""What a failed hop leads to: the policy's verdict in the call's situation (``judge``), carrying it
out (``apply``: retry, later, drop tool_choice, prompt tools, rotate the key, or give up after recording
a cooldown, a disable or a learned window), and what feeds the breaker (``count_failure``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import LLMError
from ..messages import ChatRequest
from . import _fitting as ctx
from . import _prompt_mode
from ._call import Call, Tries
from ._candidates import Candidate, RunState
from .health import key_hash
from .policies import Action, Situation, decide

if TYPE_CHECKING:
    from . import Router

__all__ = ["COUNTED", "EMPTY", "judge", "apply", "count_failure", "give_up", "learn_window", "forget_stale_disable",
           "provider_key_hash"]

# What feeds a breaker: the endpoint failing, not the model's content.
COUNTED = frozenset({"transient", "rate_limit"})
# The error code of a completion with nothing in it.
EMPTY = "empty_completion"


def judge(
    router: Router, err: LLMError, cand: Candidate, tries: Tries, request: ChatRequest, *, has_next: bool, opened: bool,
    last_resort: bool = False,
) -> Action:
    """The next move after ``err``: the policy's verdict, except that a candidate whose circuit is (or just
    went) open is left while another can serve."""
    now = router.policy.clock()
    tries.first_failure = now if tries.first_failure is None else tries.first_failure
    tries.tries += err.kind == "transient"
    tries.rate_tries += err.kind == "rate_limit"
    situation = Situation(
        tries=tries.tries, rate_tries=tries.rate_tries, elapsed_s=now - tries.first_failure,
        keys_left=tries.fresh_keys,
        has_next=has_next,
        tool_choice_sent=request.tool_choice is not None, tools_sent=bool(request.tools),
        prompt_mode=tries.prompt_mode, slow_unhinted=router.registry.spec(cand.provider).jitter[1] > 0,
        local=router.registry.spec(cand.provider).local, greedy=request.temperature == 0,
    )
    action = decide(err, situation, router.policy)
    if action.kind in ("retry", "later") and not last_resort and situation.has_next and (
            opened or router.health.breaker_state(router._circuit(cand.provider), now) == "open"):
        return Action("next", detail="circuit opened" if opened else "circuit open")
    return action


async def apply(router: Router, action: Action, err: LLMError, cand: Candidate, tries: Tries, call: Call) -> bool:
    """Carry out ``action``; True to send to this candidate again, False to leave it."""
    state = call.state
    if action.kind == "retry":
        await router.policy.sleep(action.wait_s)
    elif action.kind == "later":
        tries.ready_at = router.policy.clock() + action.wait_s
        call.later = (*call.later, cand)
        return False
    elif action.kind == "drop_tool_choice":
        tries.drop_choice = True
    elif action.kind == "prompt_tools" and _prompt_mode.available():
        tries.prompt_mode = True
        router._prompt_tools.add(cand.model_id)
    elif action.kind == "rotate_key":
        tries.key_i = router._key_index[cand.provider] = (tries.key_i + 1) % len(tries.keys)
        tries.fresh_keys -= 1
    else:
        return await give_up(router, action, err, cand, state)
    return True


async def count_failure(router: Router, circuit: str, err: LLMError, sent: float) -> bool:
    """Feed the breaker: only transient and rate-limit failures of the endpoint count (not an
    empty answer, which is the model's content). True when it opened."""
    if err.kind in COUNTED and not getattr(err, "never_passes", False) and err.code != EMPTY:
        return await router.health.failed(circuit, sent)
    router.health.release(circuit, sent)
    return False


async def give_up(router: Router, action: Action, err: LLMError, cand: Candidate, state: RunState) -> bool:
    """Leave this candidate, first recording what the next calls should know (True: a request
    that only asked too much room for the answer goes to it again, with a lower max_tokens)."""
    if action.kind == "cool_down":
        key = cand.provider if action.scope == "provider" else cand.model_id
        await router.health.cool_down(key, action.wait_s, f"{err.kind}: {err.message[:120]}")
    elif action.kind == "disable":
        await router.health.disable(cand.provider, kind=err.kind, detail=err.message, key_hash=provider_key_hash(router, cand.provider))
    elif action.kind == "bigger_window":
        return await learn_window(router, cand, err, state)
    elif err.kind == "tools_unsupported":
        state.no_tools |= {cand.model_id}
    return False


async def learn_window(router: Router, cand: Candidate, err: LLMError, state: RunState) -> bool:
    window = getattr(err, "context_window", None)
    again = state.overflow(cand, window, getattr(err, "prompt_tokens", None))
    if window:
        await ctx.remember_window(router.catalog, cand.model_id, window)
    return again


async def forget_stale_disable(router: Router, provider: str) -> None:
    entry = router.health.doc.providers.get(provider)
    if entry is not None and entry.disabled is not None and entry.disabled.key_hash != provider_key_hash(router, provider):
        await router.health.enable(provider)


def provider_key_hash(router: Router, provider: str) -> str:
    found = router._key_hashes.get(provider)
    if found is None:
        found = router._key_hashes[provider] = key_hash(router.registry.keys(provider))
    return found
