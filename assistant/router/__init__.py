"""The one place where every "no" from a provider turns into the right next action.

A call walks a chain of ``provider/model`` candidates (one id, an explicit list, or ``"auto"``: the
free-model chain). A candidate that cannot help is skipped (``_candidates.screen``); one that fails
goes through ``policies.decide``: retry with backoff, honour a rate-limit hint, rotate the key, cool
the provider down, disable it, drop ``tool_choice``, describe the tools in the prompt, or move on.
While another candidate can serve, a transient failure or a rate limit moves on at once; what could
not answer now waits in the call's waiting room (``_waiting_room``) and is tried again in the order it
becomes ready, so a call is never refused only because every candidate rests.
Context limits (``_fitting``): a prompt too big for every window left is compacted (by
``context.Compactor(router)`` unless told otherwise) and sent to the biggest; Ollama runs with an
explicit ``num_ctx`` and a silently cut prompt counts as an overflow; a plain answer cut by the model's
own output limit is continued. Every hop is an ``Attempt`` on the response and a ``status`` event when
streaming; keys appear nowhere.

    router = Router()
    resp = await router.chat("auto", [Message.user("hi")])
    [(a.provider, a.model, a.kind, a.detail) for a in resp.attempts]

Part: routing. The router loop (here), candidate planning (``_candidates``), one call and its hops
(``_call``, ``_hops``), fitting the prompt into a window (``_fitting``), prompt-guided tools
(``_prompt_mode``), policies, shared health state and rate limits. May import every part below it:
messages, errors, files, providers, local, registry, catalog, free_models, context, toolcall_text.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import Any

from .. import telemetry
from ..errors import AllModelsFailedError, LLMError, RateLimitError, TransientError, UsageError
from ..messages import Attempt, ChatRequest, ChatResponse, Message, ModelInfo, StreamEvent, ToolSpec, Usage, trusted
from ..registry import LLMRegistry
from . import _fitting as ctx
from . import _prompt_mode
from ._call import Call, Tries, build_request, hop, template
from ._candidates import Candidate, RunState, plan, screen
from ._fitting import CompactFn
from ._hops import Partial, aclose, describe, is_empty, status_event, summary
from ._media import MediaHelper
from ._roles import Expansions, policy_from_config
from .health import HealthStore, circuit_key, key_hash
from .policies import Action, RetryState, RouterPolicy, Situation, decide
from .ratelimit import RateLimiter, limit_rules
from .shared import open_state

__all__ = ["Router", "CompactFn"]

_COUNTED = frozenset({"transient", "rate_limit"})
EMPTY = "empty_completion"


class Router:
    """Chat with fallback over candidates; the same shape as an ``LLMClient`` plus a model argument.

        router = Router(policy=RouterPolicy(allow_prompt_tools=False))
        async for event in router.stream(["groq/llama-3.3-70b-versatile", "llama/smollm2"], msgs): ...
    """

    def __init__(
        self,
        registry: LLMRegistry | None = None,
        *,
        free_models: Any = None,
        catalog: Any = None,
        policy: RouterPolicy | None = None,
        health: HealthStore | None = None,
        compactor: CompactFn | bool | None = None,
    ) -> None:
        self.registry = registry if registry is not None else LLMRegistry.from_env()
        self.catalog = catalog if catalog is not None else ctx.shared_catalog()
        self.policy = policy or policy_from_config(self.registry.config)
        if health is None:
            health, self.limiter = open_state(clock=self.policy.clock, breaker=self.policy.breaker, catalog=self.catalog)
        else:
            self.limiter = RateLimiter(health)
        self.health = health
        # None: ``Compactor(self)`` made on first need; False: never compact.
        self._compactor: Any = compactor
        self._free_models = free_models
        # Shared with the other hosts when the state lives in Redis.
        positions = getattr(health, "key_positions", None)
        self._key_index: dict[str, int] = positions if positions is not None else {}
        self._key_hashes: dict[str, str] = {}
        # Models that answered 400 to native tools and then worked with prompt-guided tools: later
        # steps start there instead of paying another 400 each.
        self._prompt_tools: set[str] = set()
        self._prices: Any = None
        self._call_cost: Any = None
        self.media = MediaHelper(self._facts, self.registry)
        self._circuits: dict[str, str] = {}
        self._expand = Expansions(self.registry)
        self._planned: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Router(registry={self.registry!r})"

    @property
    def compactor(self) -> CompactFn | None:
        """What shrinks a history no window can hold: ``context.Compactor(self)`` unless the router was
        given another (``compactor=fn``) or none (``compactor=False``)."""
        if self._compactor is None or self._compactor is True:
            self._compactor = ctx.default_compactor(self)
        return self._compactor or None

    @compactor.setter
    def compactor(self, value: CompactFn | bool | None) -> None:
        self._compactor = value

    @property
    def free_models(self) -> Any:
        """The free-models store behind ``"auto"`` (made on first use; None if not installed)."""
        if self._free_models is None:
            try:
                from ..free_models import FreeModelsStore
            except ImportError:  # pragma: no cover - ships with the engine
                return None
            self._free_models = FreeModelsStore()
        return self._free_models

    def describe_model(self, model_id: str) -> tuple[str, str | None]:
        """``(canonical id, wire kind)`` for a model id (``gemini/x`` -> ``("google/x", "gemini")``);
        the id as given and None when no provider by that name is known."""
        try:
            provider, model = self.registry.parse(model_id)
            return f"{provider}/{model}", self.registry.spec(provider).wire_kind
        except UsageError:
            return model_id, None

    def candidate_ids(self, model: str | Sequence[str], *, needs_tools: bool = False) -> list[str]:
        """The model ids a call to ``model`` would try, in order, before any is screened out."""
        return [c.model_id for c in plan(model, needs_tools=needs_tools, registry=self.registry,
                                         free_models=self.free_models, catalog=self.catalog)]

    async def chat(
        self,
        model: str | Sequence[str],
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        **options: Any,
    ) -> ChatResponse:
        """Answer from the first candidate that can; ``options``: tool_choice, max_tokens,
        temperature, reasoning, response_schema, stop, extra. Raises ``AllModelsFailedError``.

            resp = await router.chat("auto", [Message.user("2+2?")], max_tokens=50)
        """
        call = Call(template(messages, tools, self._defaults(options), stream=False), streaming=False)
        async for _ in self._run(model, call):  # a plain call yields no events; it only records
            pass
        assert call.response is not None
        return call.response

    def stream(
        self,
        model: str | Sequence[str],
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        **options: Any,
    ) -> AsyncIterator[StreamEvent]:
        """Stream from the first candidate that can: ``status`` events for each hop, then the content
        and ``done``. A failure after content raises ``StreamInterruptedError`` with the partial answer.

            async for event in router.stream("auto", msgs): print(event.type, event.text)
        """
        return self._run(model, Call(template(messages, tools, self._defaults(options), stream=True), streaming=True))

    def _defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        # The config's default_temperature (zeroclaw) when the caller gave none.
        temperature = self.registry.config.default_temperature
        return options if temperature is None or "temperature" in options else {**options, "temperature": temperature}

    async def list_models(self) -> list[ModelInfo]:
        """Models of every configured provider that answers (the others are left out)."""
        clients = [self.registry.client(name) for name in self.registry.providers()]
        found = await asyncio.gather(*(c.list_models() for c in clients), return_exceptions=True)
        return [m for result in found if isinstance(result, list) for m in result]

    async def aclose(self) -> None:
        """Write pending health news and close every client."""
        await self.health.aclose()
        close_limiter = getattr(self.limiter, "aclose", None)
        if close_limiter is not None:
            await close_limiter()
        await self.registry.aclose()

    # --- one call ---------------------------------------------------------------------------------

    async def _run(self, model: str | Sequence[str], call: Call) -> AsyncIterator[StreamEvent]:
        with telemetry.chat_span(model, call.request) as call.trace:
            async with aclosing(self._run_candidates(model, call)) as events:
                async for event in events:
                    yield event
            call.trace.answered(call.response)

    async def _run_candidates(self, model: str | Sequence[str], call: Call) -> AsyncIterator[StreamEvent]:
        await self.health.refresh()
        model, then_auto = self._expand(model)
        needs_tools = bool(call.request.tools)
        free = self.free_models if model == "auto" or then_auto else None
        candidates = plan(model, needs_tools=needs_tools, registry=self.registry, free_models=free, catalog=self.catalog,
                          memo=self._planned)
        if then_auto and model != "auto":
            candidates += plan("auto", needs_tools=needs_tools, registry=self.registry, free_models=free, catalog=self.catalog)
        call.state.catalog = self.catalog
        recovery = ctx.Recovery(self, call)
        while candidates:
            ahead = list(candidates)
            while ahead:
                cand = ahead.pop(0)
                partner = self._partner(cand, ahead, call)
                if partner is not None:
                    ahead.remove(partner)
                    await self._race([(cand, False), (partner, False)], call, ahead)
                else:
                    async for event in self._candidate(cand, call, ahead):
                        yield event
                if call.response is not None:
                    return
            async for event in self._waiting_room(call):
                yield event
            if call.response is not None:
                return
            async for event in recovery.after(candidates):
                yield event
            candidates = recovery.next
        raise AllModelsFailedError(summary(call.attempts), attempts=call.attempts)

    async def _waiting_room(self, call: Call) -> AsyncIterator[StreamEvent]:
        """Candidates that could not answer now, tried in the order they become ready: one left
        after a transient failure once its backoff has passed (time spent on the others counts), one
        resting after a rate limit once its short cooldown ends; an open circuit only when nothing
        else is left, the one that opened earliest first. A call is never refused just because
        every candidate rests."""
        while True:
            waiting = self._waiting(call)
            if not waiting:
                return
            (rank, ready), cand, resting = waiting[0]
            # Racing, the next one in line goes along when it is ready by then.
            pair = waiting[1:2] if call.racing and not call.streaming and rank == 0 and waiting[1:2] and \
                waiting[1][0] <= (0, max(ready, self.policy.clock())) else []
            for _, taken, was_resting in [waiting[0], *pair]:
                if was_resting:
                    call.resting = [c for c in call.resting if c.model_id != taken.model_id]
                else:
                    call.later = [c for c in call.later if c.model_id != taken.model_id]
            wait = ready - self.policy.clock() if rank == 0 else 0.0
            if wait > 0:
                if call.streaming:
                    yield status_event(f"{cand.model_id}: no other model can serve now; trying it in {wait:.1f}s")
                await self.policy.sleep(wait)
            if pair:
                await self._race([(cand, resting), (pair[0][1], pair[0][2])], call, ())
            else:
                async for event in self._candidate(cand, call, (), last_resort=resting):
                    yield event
            if call.response is not None:
                return

    def _partner(self, cand: Candidate, ahead: list[Candidate], call: Call) -> Candidate | None:
        """The candidate to race ``cand`` with: the first one ahead that can serve now, when this
        plain call already lost a whole answer to a failure and ``cand`` itself can serve."""
        if not call.racing or call.streaming or self._screen(cand, call.state, probe=False) is not None:
            return None
        return next((c for c in ahead if c.model_id != cand.model_id and self._screen(c, call.state, probe=False) is None), None)

    async def _race(self, pair: Sequence[tuple[Candidate, bool]], call: Call, rest: Sequence[Candidate]) -> None:
        """Send to both of ``pair`` (candidate, last resort) at once: the first whole answer is the
        call's, the other request is cancelled; what fails is handled as in a call of its own (left for
        later, cooled down, ...)."""
        failures: list[tuple[str, LLMError, float]] = []

        async def run(cand: Candidate, last_resort: bool, partner: Candidate) -> None:
            async for _ in self._candidate(cand, call, [partner, *rest], last_resort=last_resort, race=failures):
                pass  # a plain call's candidates yield nothing

        (first, first_last), (second, second_last) = pair
        pending = {asyncio.create_task(run(first, first_last, second)), asyncio.create_task(run(second, second_last, first))}
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
                await self._count(circuit, err, sent)
            return
        # The failures of a race that was won feed no breaker: the request it cancelled, which would
        # most often have answered, cannot count, so the failures that came back first would weigh alone.
        # The answer stays the last hop on the record, after the request it beat.
        answered = call.response.attempts[-1]
        call.attempts.remove(answered)
        call.attempts.append(answered)
        call.response.attempts = list(call.attempts)

    def _can_serve(self, rest: Sequence[Candidate], call: Call) -> bool:
        """Another candidate can answer now, or soon: one still ahead that only rests (its rest is
        weighed when it is reached), or one in the waiting room."""
        return any(self._screen(c, call.state, probe=False, resting=False) is None for c in rest) or bool(self._waiting(call))

    def _waiting(self, call: Call) -> list[tuple[tuple[int, float], Candidate, bool]]:
        """``((rank, ready time or opened_at), candidate, resting)`` in the order to try them."""
        policy, now = self.policy, self.policy.clock()
        out = [((0, call.tries[c.model_id].ready_at), c, False) for c in call.later]
        queued = {c.model_id for c in call.later}
        for cand in {c.model_id: c for c in call.resting}.values():
            tries = call.tries.get(cand.model_id)
            if cand.model_id in queued or (tries is not None and (
                    policy.retry(RetryState(tries=tries.tries)) or policy.rate_retry(RetryState(tries=tries.rate_tries)))):
                continue
            until = max((c.until for key in (cand.provider, cand.model_id) if (c := self.health.cooldown(key, now))),
                        default=now)
            if until - now > policy.hint_cap_s:
                continue  # a long rest is slept out by nobody: the provider said so
            circuit = self._circuit(cand.provider)
            if until <= now and self.health.breaker_state(circuit, now) == "open":
                out.append(((1, self.health.opened_at(circuit) or 0.0), cand, True))
            else:
                out.append(((0, until), cand, True))
        return sorted(out, key=lambda row: row[0])

    async def _candidate(
        self, cand: Candidate, call: Call, rest: Sequence[Candidate], *, last_resort: bool = False,
        race: list[tuple[str, LLMError, float]] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        policy, state = self.policy, call.state
        circuit = self._circuit(cand.provider)
        if self.health.doc.providers:
            await self._forget_stale_disable(cand.provider)
        await ctx.know_window(self.registry, self.catalog, cand, state)
        ollama = None
        if self.registry.spec(cand.provider).family == "ollama":
            if cand.free_entry and ctx.unpulled(cand, self.catalog):
                detail = f"skipped: not pulled on this server; run `ollama pull {cand.model}`"
                note = hop(call, cand, "not_found", None, 0.0, detail)
                if call.streaming:
                    yield note
                return
            # Screened against the num_ctx it will run with: Ollama cuts a longer prompt silently.
            ollama = ctx.ollama_window(cand, call.request, self.catalog, state)
            if ollama.record and ollama.num_ctx:
                await ctx.remember_window(self.catalog, cand.model_id, ollama.num_ctx, source="the num_ctx sent to Ollama")
        skipped = self._screen(cand, state, probe=True, resting=not last_resort)
        if skipped is not None:
            if skipped[0] == "context_overflow" and state.window(cand):
                state.too_small.append(cand)
            if self._screen(cand, state, probe=False, resting=False) is None:
                call.resting.append(cand)
            note = hop(call, cand, skipped[0], None, 0.0, "skipped: " + skipped[1])
            if call.streaming:
                yield note
            return
        settings = self.registry.settings(cand.provider)
        spec = settings.spec
        keys = self.registry.keys(cand.provider)
        tries = call.tries.get(cand.model_id)
        if tries is None:
            native = cand.supports_tools is not False and spec.supports_tools and cand.model_id not in self._prompt_tools
            tries = call.tries[cand.model_id] = Tries(
                keys, self._key_index.get(cand.provider, 0) % len(keys) if keys else 0,
                prompt_mode=bool(state.tools) and not native)
            if (state.tools and call.streaming and spec.free_suffix and cand.model.endswith(spec.free_suffix)
                    and not (cand.free_entry and cand.supports_tools is True)):
                # The Go seed's isFreeModel warning: free variants often lack (or flake on) tool calling; an
                # entry the free-models list marks as tool-capable is not warned about.
                yield status_event(f"warning: {cand.model_id} is a free model; free models often do not support "
                                   "tool calling reliably (tools fall back to prompt-guided calls if it refuses them)")
        rules = limit_rules(cand.provider, cand.model, local=spec.local, rpm=settings.rpm, rpd=settings.rpd,
                            free_suffix=spec.free_suffix, credits=settings.credits)
        while True:
            waited = 0.0
            if rules:
                wait = await self.limiter.reserve_async(rules, policy.clock(), policy.limit_wait_cap_s)
                if wait > policy.limit_wait_cap_s:
                    self.health.release(circuit)
                    note = hop(call, cand, "rate_limit", None, 0.0, f"skipped: client-side request limit full for {wait:.0f}s")
                    if call.streaming:
                        yield note
                    return
                if wait > 0:
                    if call.streaming:
                        yield status_event(f"{cand.model_id}: waiting {wait:.1f}s for the client-side request limit")
                    await policy.sleep(wait)
                    waited += wait
            if spec.jitter[1] > 0:
                # OpenRouter asks clients to spread requests; 100-400 ms before each one.
                pause = policy.random.uniform(*spec.jitter)
                await policy.sleep(pause)
                waited += pause
            request = build_request(call, cand, tries, ollama.num_ctx if ollama and ollama.send else None, local=spec.local)
            unreadable = self.media.unreadable(cand.model_id, request.messages)
            if unreadable:
                try:
                    stand_in = await self.media.replace(request.messages, unreadable, self._describe)
                except (LLMError, UsageError) as exc:
                    note = hop(call, cand, "bad_request", None, 0.0, f"skipped: it cannot read the {' and '.join(sorted(unreadable))}s "
                               f"and no text stand-in could be made: {exc}")
                    if call.streaming:
                        yield note
                    return
                request = request.model_copy(update={"messages": stand_in})
            request, lowered = ctx.fit_reply(request, cand, state)
            if lowered and call.streaming:
                yield status_event(f"{cand.model_id}: {lowered}")
            client = self.registry.client(cand.provider, tries.key)
            # A success only closes a circuit when it was sent after the circuit opened.
            sent = policy.clock()
            partial = Partial()
            # A stream that Ollama may have fed a cut prompt is held back until its token count is in.
            held: list[StreamEvent] | None = [] if call.streaming and ollama and ctx.may_truncate(cand, state, ollama) else None
            try:
                if call.streaming:
                    response = None
                    events = self._stream(client, request, tries.prompt_mode, state)
                    try:
                        async for event in events:
                            if event.type == "done":
                                response = event.response
                            elif held is not None:
                                held.append(event)
                            else:
                                partial.add(event)
                                yield event
                    finally:
                        await aclose(events)
                    if response is None:
                        raise TransientError("stream ended without a done event", provider=cand.provider, model=cand.model)
                else:
                    response = await client.chat(request)
                    if tries.prompt_mode:
                        response = _prompt_mode.parse_reply(response, state.tools)
                if not partial.started and is_empty(response):
                    # A content problem, not the endpoint failing: the breaker does not count it.
                    raise TransientError("empty completion", provider=cand.provider, model=cand.model, code=EMPTY)
                if ollama is not None and (cut := ctx.truncation(cand, state, ollama, response)) is not None:
                    raise cut
            except asyncio.CancelledError:
                # The other request of a race answered first (or the caller gave up): a probe slot
                # this request held is free again, and the request sent is on the record.
                self.health.release(circuit, sent)
                if call.response is not None:
                    hop(call, cand, "raced", None, waited, "cancelled: another candidate answered first")
                raise
            except LLMError as err:
                if race is None:
                    opened = await self._count(circuit, err, sent)
                else:
                    # Weighed when the race is over (``_race``).
                    self.health.release(circuit, sent)
                    race.append((circuit, err, sent))
                    opened = False
                if (policy.race_after_failed_answer and not call.streaming and (err.status is None or err.status < 300)
                        and policy.clock() - sent >= policy.race_after_s):
                    call.racing = True
                if partial.started:
                    hop(call, cand, err.kind, err.status, waited, describe(err, "stream broke off after output"))
                    raise partial.interrupted(err, cand.provider, cand.model, call.attempts) from None
                action = self._decide(err, cand, tries, request, rest, call, opened, last_resort)
                if action.kind == "cool_down" or (action.kind == "next" and action.detail.startswith("circuit open")):
                    call.resting.append(cand)
                wait = action.wait_s if action.kind == "retry" else 0.0
                note = hop(call, cand, err.kind, err.status, waited + wait, describe(err, action.detail))
                if call.streaming:
                    yield note
                if not await self._apply(action, err, cand, tries, call):
                    return
            else:
                for event in held or ():
                    yield event
                await self.health.succeeded(circuit, sent, provider=cand.provider)
                await self._answered(call, cand, tries, request, response, waited,
                                    lambda more: self._send_more(cand, client, request, rules, more))
                if call.streaming:
                    yield StreamEvent(type="done", response=call.response)
                return

    async def _answered(
        self, call: Call, cand: Candidate, tries: Tries, request: ChatRequest, response: ChatResponse, waited: float,
        send: Callable[[list[Message]], Awaitable[ChatResponse]],
    ) -> None:
        """Record the answer (continued first when the model's own output limit cut it mid-answer);
        in a race only the first answer counts."""
        if call.response is not None:
            hop(call, cand, "raced", None, waited, "discarded: another candidate answered first")
            return
        notes = ["tools described in the prompt" if tries.prompt_mode else "without tool_choice" if tries.drop_choice else ""]
        notes += call.state.notes
        policy = self.policy
        # Only a cut the caller did not ask for (no max_tokens), and only in a plain call: a stream's
        # text is already out.
        cut = response.finish_reason == "length" and call.request.max_tokens is None
        if cut and not call.streaming and policy.continue_on_length:
            budget = ctx.continuation_budget(cand, call.state, response)
            response, note = await ctx.continue_cut(send, request.messages, response, rounds=policy.continue_rounds,
                                                    budget=budget, model_id=cand.model_id)
            notes.append(note)
        if call.response is not None:
            hop(call, cand, "raced", None, waited, "discarded: another candidate answered while this answer was continued")
            return
        usage = response.usage
        cost = self._cost(cand, usage)
        if cost is not None and usage.cost is None:
            response.usage = usage = usage.model_copy(update={"cost": cost})
        call.attempts.append(trusted(Attempt, {
            "provider": cand.provider, "model": cand.model, "kind": None, "status": None, "wait_s": round(waited, 3),
            "detail": "; ".join(n for n in notes if n), "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens, "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens, "cost": cost,
        }))
        telemetry.attempt(call.trace, call.attempts[-1])
        response.attempts = list(call.attempts)
        call.response = response

    def _facts(self) -> Any:
        if self._prices is None:
            from ..catalog import ModelCatalog

            # The seed and the saved snapshot know prices and vision without a network call.
            self._prices = self.catalog or ModelCatalog()
        return self._prices

    def _cost(self, cand: Candidate, usage: Usage) -> float | None:
        if usage.cost is not None:
            return usage.cost
        spec = self.registry.spec(cand.provider)
        if spec.local:
            return 0.0
        if self._call_cost is None:
            from ..catalog.pricing import call_cost

            self._call_cost = call_cost
        return self._call_cost(self._facts().get(cand.model_id), usage, family=spec.family)

    async def _describe(self, chain: list[str], messages: list[Message]) -> ChatResponse:
        return await self.chat(chain, messages, max_tokens=1024)

    async def _send_more(
        self, cand: Candidate, client: Any, request: ChatRequest, rules: Any, messages: list[Message],
    ) -> ChatResponse:
        """One more request to the model that just answered (a continuation), within its request limits,
        retried like any request on a transient failure. An empty continuation is no ending: the
        answer then stays marked as cut."""
        policy = self.policy
        tries = 0
        while True:
            if rules:
                wait = await self.limiter.reserve_async(rules, policy.clock(), policy.limit_wait_cap_s)
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
                if err.kind not in _COUNTED or err.code == EMPTY or policy.retry(state):
                    raise
                await policy.sleep(err.retry_after if err.retry_after is not None and err.retry_after <= policy.hint_cap_s
                                   else policy.backoff(state, policy.random))

    def _decide(
        self, err: LLMError, cand: Candidate, tries: Tries, request: ChatRequest, rest: Sequence[Candidate],
        call: Call, opened: bool, last_resort: bool = False,
    ) -> Action:
        now = self.policy.clock()
        tries.first_failure = now if tries.first_failure is None else tries.first_failure
        tries.tries += err.kind == "transient"
        tries.rate_tries += err.kind == "rate_limit"
        situation = Situation(
            tries=tries.tries, rate_tries=tries.rate_tries, elapsed_s=now - tries.first_failure,
            keys_left=tries.fresh_keys,
            has_next=self._can_serve(rest, call),
            tool_choice_sent=request.tool_choice is not None, tools_sent=bool(request.tools),
            prompt_mode=tries.prompt_mode, slow_unhinted=self.registry.spec(cand.provider).jitter[1] > 0,
            local=self.registry.spec(cand.provider).local, greedy=request.temperature == 0,
        )
        action = decide(err, situation, self.policy)
        if action.kind in ("retry", "later") and not last_resort and situation.has_next and (
                opened or self.health.breaker_state(self._circuit(cand.provider), now) == "open"):
            return Action("next", detail="circuit opened" if opened else "circuit open")
        return action

    async def _apply(self, action: Action, err: LLMError, cand: Candidate, tries: Tries, call: Call) -> bool:
        """Carry out ``action``; True to send to this candidate again, False to leave it."""
        state = call.state
        if action.kind == "retry":
            await self.policy.sleep(action.wait_s)
        elif action.kind == "later":
            tries.ready_at = self.policy.clock() + action.wait_s
            call.later.append(cand)
            return False
        elif action.kind == "drop_tool_choice":
            tries.drop_choice = True
        elif action.kind == "prompt_tools" and _prompt_mode.available():
            tries.prompt_mode = True
            self._prompt_tools.add(cand.model_id)
        elif action.kind == "rotate_key":
            tries.key_i = self._key_index[cand.provider] = (tries.key_i + 1) % len(tries.keys)
            tries.fresh_keys -= 1
        else:
            return await self._give_up(action, err, cand, state)
        return True

    # --- pieces -----------------------------------------------------------------------------------

    def _screen(self, cand: Candidate, state: RunState, *, probe: bool, resting: bool = True) -> tuple[str, str] | None:
        return screen(cand, state, registry=self.registry, health=self.health,
                      allow_prompt_tools=self.policy.allow_prompt_tools, now=self.policy.clock(), probe=probe,
                      circuit=self._circuit(cand.provider), resting=resting)

    def _circuit(self, provider: str) -> str:
        """The breaker key of ``provider``'s endpoint: two servers behind one name are two circuits."""
        found = self._circuits.get(provider)
        if found is None:
            settings = self.registry.settings(provider)
            try:
                url: str | None = settings.spec.resolve_base_url(settings.base_url)
            except UsageError:
                url = None
            found = self._circuits[provider] = circuit_key(provider, url)
        return found

    def _stream(self, client: Any, request: ChatRequest, prompt_mode: bool, state: RunState) -> AsyncIterator[StreamEvent]:
        events = client.stream(request)
        return _prompt_mode.stream_reply(events, state.tools) if prompt_mode else events

    async def _count(self, circuit: str, err: LLMError, sent: float) -> bool:
        """Feed the breaker: only transient and rate-limit failures of the endpoint count (not an
        empty answer, which is the model's content). True when it opened."""
        if err.kind in _COUNTED and not getattr(err, "never_passes", False) and err.code != EMPTY:
            return await self.health.failed(circuit, sent)
        self.health.release(circuit, sent)
        return False

    async def _give_up(self, action: Action, err: LLMError, cand: Candidate, state: RunState) -> bool:
        """Leave this candidate, first recording what the next calls should know (True: a request
        that only asked too much room for the answer goes to it again, with a lower max_tokens)."""
        if action.kind == "cool_down":
            key = cand.provider if action.scope == "provider" else cand.model_id
            await self.health.cool_down(key, action.wait_s, f"{err.kind}: {err.message[:120]}")
        elif action.kind == "disable":
            await self.health.disable(cand.provider, kind=err.kind, detail=err.message, key_hash=self._key_hash(cand.provider))
        elif action.kind == "bigger_window":
            return await self._learn_window(cand, err, state)
        elif err.kind == "tools_unsupported":
            state.no_tools.add(cand.model_id)
        return False

    async def _learn_window(self, cand: Candidate, err: LLMError, state: RunState) -> bool:
        window = getattr(err, "context_window", None)
        again = state.overflow(cand, window, getattr(err, "prompt_tokens", None))
        if window:
            await ctx.remember_window(self.catalog, cand.model_id, window)
        return again

    async def _forget_stale_disable(self, provider: str) -> None:
        entry = self.health.doc.providers.get(provider)
        if entry is not None and entry.disabled is not None and entry.disabled.key_hash != self._key_hash(provider):
            await self.health.enable(provider)

    def _key_hash(self, provider: str) -> str:
        found = self._key_hashes.get(provider)
        if found is None:
            found = self._key_hashes[provider] = key_hash(self.registry.keys(provider))
        return found
