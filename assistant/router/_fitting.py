"""How a router call lives within context windows, on top of the rules in ``assistant.context``.

- Compaction: when every window that could hold the prompt is too small, the router's compactor
  (``Compactor(router)`` unless the caller gave another or ``False``) shrinks the history to the budget
  of the biggest such window, tool specs counted. Each rule that fired becomes a status line and the
  detail of an ``Attempt``; a history that cannot fit ends the call with the compactor's account of
  the sizes and what to change.
- Ollama: a prompt longer than ``num_ctx`` is cut, not refused, so every request carries ``num_ctx``
  and the candidate is screened against it; an answer whose ``prompt_eval_count`` shows the prompt was
  cut is turned into a ``ContextOverflowError`` instead of being returned.
- Length continuation: a plain answer cut by the model's default output limit is continued.
- Knowing the window: a local server is asked for its own window on first use (``know_window``, via
  ``ModelCatalog.probe``); a llama.cpp server near its window counts the prompt exactly (``/tokenize``),
  and so does an overflow error that states the prompt's size: the estimate is calibrated by both. A
  max_tokens the window cannot hold next to the prompt is lowered (``fit_reply``), with a status line.
- The overflow role: a conversation that fits no window tried moves, whole, to the ``overflow`` role's
  model (``ASSISTANT_MODEL_OVERFLOW`` or ``[models] overflow``) when one is set, before any compaction.

    window = ollama_window(cand, request, catalog, state)       # before screening an Ollama candidate
    if (err := truncation(cand, state, window, response)) is not None: raise err
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..context._recovery import OLLAMA_NUM_CTX_CAP, continue_if_cut, num_ctx_for, ollama_truncated
from ..errors import AllModelsFailedError, ContextOverflowError, LLMError
from ..messages import ChatRequest, ChatResponse, Message, StreamEvent, Usage
from ._call import Call, hop
from ._candidates import Candidate, RunState, plan
from ._hops import describe, status_event, summary

__all__ = [
    "shared_catalog",
    "Recovery",
    "know_window",
    "fit_reply",
    "overflow_candidates",
    "move_to_overflow",
    "EXACT_COUNT_TIMEOUT",
    "CompactFn",
    "Compaction",
    "default_compactor",
    "squeezed_best",
    "compact_for",
    "compact_history",
    "OllamaWindow",
    "OLLAMA_DEFAULT_NUM_CTX",
    "ollama_window",
    "unpulled",
    "may_truncate",
    "truncation",
    "remember_window",
    "continuation_budget",
    "continue_cut",
]

# async compactor(messages, budget_tokens, model_id, *, tools) -> shorter messages; a
# ``context.Compacted`` list also says what it did (``.steps``).
CompactFn = Callable[..., Awaitable[Sequence[Message]]]
# Ollama's window when a request names none: 2048 tokens on the releases that cut prompts silently
# ('msg="truncating input prompt" limit=2048 prompt=3940 keep=5 new=2048'); newer servers pick 4096
# or more from free memory, so this is the floor below which a low count is the prompt cache.
OLLAMA_DEFAULT_NUM_CTX = 2048
# A llama.cpp server counts a prompt in milliseconds; one that takes longer is busy generating.
EXACT_COUNT_TIMEOUT = 5.0


# --- knowing the window -------------------------------------------------------------------------

def shared_catalog() -> Any:
    """The process's ``ModelCatalog`` for the current ``ASSISTANT_HOME`` (what ``Router()`` uses)."""
    from ..catalog import default_catalog

    return default_catalog()


async def know_window(registry: Any, catalog: Any, cand: Candidate, state: RunState) -> None:
    """Before ``cand`` is screened: its local server's own window (asked once a minute at most), and
    the prompt's exact size from a llama.cpp server when the estimate alone would decide the skip."""
    spec = registry.spec(cand.provider)
    if not spec.local:
        return
    probe = getattr(catalog, "probe", None)
    if probe is not None and cand.model_id not in state.learned:
        window = await probe(registry, cand.model_id)
        if window:
            state.learn(cand.model_id, window)
    window = state.window(cand)
    if not window or cand.model_id in state.measured or spec.wire_kind != "llama":
        return
    from ._candidates import reply_room

    if state.upper_bound() + reply_room(window, state.max_tokens) <= window:
        return
    state.measured |= {cand.model_id}
    from ..context.tokens import count_tokens_exact
    from ..providers._http import HTTPClient

    client = registry.client(cand.provider)
    if not isinstance(client, HTTPClient):
        return
    try:
        exact = await asyncio.wait_for(count_tokens_exact(client, state.messages, state.tools), EXACT_COUNT_TIMEOUT)
    except (LLMError, OSError, ValueError, asyncio.TimeoutError):
        return  # an older server without /apply-template: the estimate stands
    state.calibrate(cand.model_id, exact)


def fit_reply(request: ChatRequest, cand: Candidate, state: RunState) -> tuple[ChatRequest, str | None]:
    """``request`` with a max_tokens the known window can hold next to the prompt, and a line saying
    so when it had to be lowered (None when it already fit or the window is unknown)."""
    limit = state.reply_limit(cand)
    if limit is None or request.max_tokens is None or request.max_tokens <= limit:
        return request, None
    note = f"max_tokens lowered from {request.max_tokens} to {limit} to fit the {state.window(cand)}-token window"
    state.note(note)
    return request.model_copy(update={"max_tokens": limit}), note


class Recovery:
    """What a router call does when no candidate could take the prompt for its window: first the
    history compacted for the biggest window that refused it; when even that cannot fit (compaction
    fails, finds nothing to cut, or the compacted prompt overflows again), the ``overflow`` role's
    model (a big window the user named for this) with the whole conversation. ``after`` yields the
    status events; ``next`` is then the candidates to try (empty: give up)."""

    def __init__(self, router: Any, call: Call) -> None:
        self.router, self.call = router, call
        self.compacted = self.overflow_tried = False
        self.whole: tuple[list[Message], ChatRequest] | None = None
        self.next: list[Candidate] = []

    async def after(self, tried: Sequence[Candidate]) -> AsyncIterator[StreamEvent]:
        self.next = []
        call = self.call
        best = squeezed_best(call.state)
        if best is None:
            return
        failure: AllModelsFailedError | None = None
        compactor = self.router.compactor
        if not self.compacted and compactor is not None:
            self.compacted = True
            self.whole = (call.state.messages, call.request)
            before = call.state.messages
            try:
                async for event in compact_history(compactor, best, call):
                    yield event
            except AllModelsFailedError as err:
                failure = err
            if failure is None and call.state.messages is not before:
                self.next = [best]
                return
        if not self.overflow_tried:
            self.overflow_tried = True
            extra = overflow_candidates(self.router, tried, call)
            if extra:
                if self.whole is not None and call.state.messages is not self.whole[0]:
                    # The big window gets the conversation as it was, not the compacted one.
                    call.state.reset_messages(self.whole[0])
                    call.request = self.whole[1]
                note = move_to_overflow(call, best, extra)
                if call.streaming:
                    yield note
                self.next = extra
                return
        if failure is not None:
            raise failure


def overflow_candidates(router: Any, tried: Sequence[Candidate], call: Call) -> list[Candidate]:
    """The ``overflow`` role's candidates not tried yet in this call (none when the role is not set)."""
    from ._roles import overflow_model

    ids = overflow_model(router.registry)
    if not ids:
        return []
    seen = {c.model_id for c in tried} | {c.model_id for c in call.state.overflowed + call.state.too_small}
    found = plan(ids, needs_tools=bool(call.state.tools), registry=router.registry, free_models=None, catalog=router.catalog)
    return [c for c in found if c.model_id not in seen and router.registry.configured(c.provider)]


def move_to_overflow(call: Call, best: Candidate, extra: Sequence[Candidate]) -> StreamEvent:
    """The hop that says the conversation moves, whole, to the overflow role's model."""
    names = ", ".join(c.model_id for c in extra)
    return hop(call, best, "context_overflow", None, 0.0,
               f"the conversation does not fit {best.model_id}; moving to the overflow model {names}")


# --- compaction ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Compaction:
    """What the compactor made of the history: the messages, one line per rule that fired."""

    messages: list[Message]
    lines: list[str]
    changed: bool


def default_compactor(router: Any) -> CompactFn:
    """``Compactor(router)``: summaries by the ``summary`` model role through ``router``."""
    from ..context import Compactor  # tiktoken and the summariser load only when a history overflows

    return Compactor(router)


def squeezed_best(state: RunState) -> Candidate | None:
    """The candidate a compacted history should go to: the biggest window that overflowed or was
    skipped as too small (None when no candidate failed for its window)."""
    squeezed = state.overflowed + state.too_small
    return max(squeezed, key=lambda c: state.window(c) or 0) if squeezed else None


async def compact_for(compactor: CompactFn, state: RunState, cand: Candidate, budget: int) -> Compaction:
    """Run ``compactor`` over the call's history for ``cand``'s ``budget`` (tool specs counted).
    Raises ``ContextOverflowError`` when even the system prompt and the latest turn cannot fit."""
    result = await compactor(list(state.messages), budget, cand.model_id, tools=list(state.tools))
    messages = list(result)
    steps = getattr(result, "steps", None)
    if steps is not None:
        lines = [step.describe() for step in steps]
        return Compaction(messages, lines, bool(lines))
    changed = messages != state.messages
    lines = [f"history compacted from {len(state.messages)} to {len(messages)} message(s)"] if changed else []
    return Compaction(messages, lines, changed)


async def compact_history(compactor: CompactFn, best: Candidate, call: Call) -> AsyncIterator[StreamEvent]:
    """Shrink ``call``'s history for ``best``: a status event per rule that fired (when streaming) and
    one ``Attempt`` with them all. A history that cannot fit ends the call: ``AllModelsFailedError``
    whose message is the compactor's account of the sizes. Leaves the history as it was when there
    was nothing to cut (the same prompt must not go to the same window again)."""
    state = call.state
    budget = state.budget(best)
    if call.streaming:
        yield status_event(f"{best.model_id}: compacting the history to about {budget} tokens")
    try:
        done = await compact_for(compactor, state, best, budget)
    except ContextOverflowError as err:
        event = hop(call, best, "context_overflow", None, 0.0, "compaction failed: " + err.message)
        if call.streaming:
            yield event
        raise AllModelsFailedError(f"{err.message} ({summary(call.attempts)})", attempts=call.attempts,
                                   provider=best.provider, model=best.model) from err
    if not done.changed:
        event = hop(call, best, "context_overflow", None, 0.0, f"compaction found nothing to cut for {budget} tokens")
        if call.streaming:
            yield event
        return
    event = hop(call, best, "context_overflow", None, 0.0, "; ".join(done.lines))
    if call.streaming:
        for line in done.lines[:-1]:
            yield status_event(f"{best.model_id}: {line}")
        yield event.model_copy(update={"text": f"{best.model_id}: {done.lines[-1]}"})
    state.reset_messages(done.messages)
    call.request = call.request.model_copy(update={"messages": done.messages})


# --- Ollama -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OllamaWindow:
    """The window an Ollama request runs with: ``num_ctx`` (None: the server's default) and whether
    the router adds it to the request (``send``) or the caller already did."""

    num_ctx: int | None
    send: bool
    # ``num_ctx`` is the catalog's window capped: the runtime window, worth recording in the catalog.
    record: bool = False


def ollama_window(cand: Candidate, request: ChatRequest, catalog: Any, state: RunState) -> OllamaWindow:
    """The ``num_ctx`` for ``cand``: the caller's own, else the smallest of the catalog's window (capped,
    ``num_ctx_for``) and the candidate's listed window. It becomes the window ``cand`` is screened by."""
    own = request.extra.get("num_ctx")
    if isinstance(own, int) and not isinstance(own, bool) and own > 0:
        window = OllamaWindow(own, send=False)
    else:
        from_catalog = num_ctx_for(cand.model_id, catalog)
        listed = state.window(cand)
        known = [n for n in (from_catalog, min(listed, OLLAMA_NUM_CTX_CAP) if listed else None) if n]
        num_ctx = min(known) if known else None
        catalog_window = getattr(catalog.get(cand.model_id), "context_window", None) if from_catalog else None
        record = bool(num_ctx and num_ctx == from_catalog and catalog_window and num_ctx < catalog_window)
        window = OllamaWindow(num_ctx, send=num_ctx is not None, record=record)
    if window.num_ctx:
        state.learn(cand.model_id, min(state.learned.get(cand.model_id, window.num_ctx), window.num_ctx))
    return window


def unpulled(cand: Candidate, catalog: Any) -> bool:
    """True when the catalog has a fresh listing of ``cand``'s Ollama server without ``cand``'s model
    (Ollama would answer 404 "model 'x' not found, try pulling it first")."""
    models = getattr(catalog, "models", None)
    if models is None:
        return False
    from ..catalog import DEFAULT_TTL

    # fetched_at is the wall-clock time the listing was read; seed rows carry 0.
    since = time.time() - DEFAULT_TTL
    listed = {m.id for m in models(provider=cand.provider) if m.fetched_at > since}
    # /api/tags names every model with its tag; "llama3.2" is "llama3.2:latest".
    name = cand.model if ":" in cand.model else f"{cand.model}:latest"
    return bool(listed) and cand.model not in listed and name not in listed


def may_truncate(cand: Candidate, state: RunState, window: OllamaWindow) -> bool:
    """True when the prompt may be longer than the window Ollama runs with (a stream is then held
    back until its token count shows the prompt was not cut)."""
    limit = window.num_ctx or OLLAMA_DEFAULT_NUM_CTX
    return state.upper_bound() > limit and state.tokens(cand.model_id) > limit


def truncation(cand: Candidate, state: RunState, window: OllamaWindow, response: ChatResponse) -> ContextOverflowError | None:
    """The overflow Ollama did not report: it evaluated far fewer tokens than the prompt has."""
    count = response.usage.input_tokens
    limit = window.num_ctx or OLLAMA_DEFAULT_NUM_CTX
    if not may_truncate(cand, state, window) or not ollama_truncated(state.tokens(cand.model_id), count, limit):
        return None
    if window.num_ctx is None:
        # An over-long prompt keeps num_ctx/2 + 2 tokens (ollama/ollama#17427: "prompt eval count:
        # 32770" with a 65536 context): the server's default window, for this call only.
        state.learn(cand.model_id, max(2 * (count - 2), 1))
    where = f"num_ctx {window.num_ctx}" if window.num_ctx else "the server's default num_ctx"
    return ContextOverflowError(
        f"Ollama evaluated only {count} of the prompt's ~{state.tokens(cand.model_id)} tokens: it cut the prompt "
        f"to fit {where} and answered anyway",
        provider=cand.provider, model=cand.model, prompt_tokens=state.tokens(cand.model_id),
    )


async def remember_window(catalog: Any, model_id: str, window: int, *, source: str | None = None) -> None:
    """Tell the catalog (sync ``ModelCatalog`` or an async double) the window ``model_id`` really has
    (``source``: where it was seen; a context overflow error when None)."""
    learn = getattr(catalog, "learn", None)
    if learn is not None:
        result = learn(model_id, context_window=window, **({"source": source} if source else {}))
        if inspect.isawaitable(result):
            await result


# --- length continuation ------------------------------------------------------------------------

def continuation_budget(cand: Candidate, state: RunState, response: ChatResponse) -> int | None:
    """Prompt tokens a continuation may use: the window less room for another reply as long as the
    cut one and the tool specs (None when the window is unknown: the provider will say)."""
    window = state.window(cand)
    if not window:
        return None
    reply = response.usage.output_tokens or window // 4
    tools = 0
    if state.tools:
        from ..context.tokens import estimate_tokens

        tools = estimate_tokens([], state.tools, model_id=cand.model_id)
    return int(window * 0.9) - reply - tools


async def continue_cut(
    send: Callable[[list[Message]], Awaitable[ChatResponse]],
    messages: Sequence[Message],
    response: ChatResponse,
    *,
    rounds: int,
    budget: int | None,
    model_id: str,
) -> tuple[ChatResponse, str]:
    """``response`` to ``messages`` continued (``context.continue_if_cut``) while it was cut mid-answer,
    each round ``await send(messages)`` to the same model; returns it with a note for the attempt. A
    failed round ends the continuation with what was joined so far."""
    if response.finish_reason != "length" or response.tool_calls or not response.text.strip():
        return response, ""
    calls = 0
    stopped = ""

    async def one_round(messages: list[Message]) -> ChatResponse:
        nonlocal calls, stopped
        calls += 1
        try:
            return await send(messages)
        except LLMError as err:
            stopped = f"; continuing stopped: {describe(err, '')}"
            # Empty and still "length": continue_if_cut stops and the answer stays marked as cut.
            return response.model_copy(update={"text": "", "tool_calls": [], "usage": Usage(), "attempts": []})

    joined = await continue_if_cut(one_round, messages, response, rounds, budget_tokens=budget, model_id=model_id)
    if not calls:
        return response, "cut by the output limit; no room left in the window to continue"
    return joined, f"continued after the output limit ({calls} more call(s)){stopped}"
