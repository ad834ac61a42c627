"""The one place where every "no" from a provider turns into the right next action.

A call walks a chain of ``provider/model`` candidates (one id, an explicit list, or ``"auto"``: the
free-model chain). A candidate that cannot help is skipped (``_candidates.screen``); one that fails
goes through ``policies.decide``: retry with backoff, honour a rate-limit hint, rotate the key, cool
the provider down, disable it, drop ``tool_choice``, describe the tools in the prompt, or move on.
While another candidate can serve, a transient failure or a rate limit moves on at once; what could
not answer now waits in the call's waiting room (``_schedule``) and is tried again in the order it
becomes ready, so a call is never refused only because every candidate rests.
Context limits (``_fitting``): a prompt too big for every window left is compacted (by
``context.Compactor(router)`` unless told otherwise) and sent to the biggest; Ollama runs with an
explicit ``num_ctx`` and a silently cut prompt counts as an overflow; a plain answer cut by the model's
own output limit is continued. Every hop is an ``Attempt`` on the response and a ``status`` event when
streaming; keys appear nowhere.

    router = Router()
    resp = await router.chat("auto", [Message.user("hi")])
    [(a.provider, a.model, a.kind, a.detail) for a in resp.attempts]

Part: routing. The router loop and one candidate's hop (here), candidate planning (``_candidates``),
the waiting room and races (``_schedule``), what a failure leads to (``_failures``), what an answer
becomes (``_answers``), one call and its records (``_call``, ``_hops``), fitting the prompt into a window
(``_fitting``), prompt-guided tools (``_prompt_mode``), policies, shared health state and rate limits
(file or Redis: ``health``, ``ratelimit``, ``shared``, ``redis_*``). May import every part below it:
messages, errors, files, providers, local, registry, catalog, free_models, context, toolcall_text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from ..files.lazy import late_names

if TYPE_CHECKING:  # bound at run time by _bind()
    import asyncio

    from .. import telemetry
    from ..errors import AllModelsFailedError, LLMError, TransientError, UsageError
    from ..messages import ChatRequest, ChatResponse, Message, ModelInfo, StreamEvent, ToolSpec
    from ..registry import LLMRegistry
    from . import _fitting as ctx
    from . import _answers, _failures, _prompt_mode, _schedule
    from ._call import Call, Tries, build_request, hop, template
    from ._failures import EMPTY
    from ._candidates import Candidate, RunState, plan, screen
    from ._fitting import CompactFn
    from ._hops import Partial, aclose, describe, is_empty, status_event, summary
    from ._media import MediaHelper
    from ._roles import Expansions, policy_from_config
    from ._route import Routes
    from .health import HealthStore
    from .policies import RouterPolicy
    from .ratelimit import RateLimiter, limit_rules
    from .shared import open_state

__all__ = ["Router", "CompactFn"]

# Importing the router loads none of its collaborators: the first ``Router()`` binds what its methods
# use (``_bind``), and these names load when first looked up here.
_LATE = {"CompactFn": "._fitting", "RouterPolicy": ".policies", "HealthStore": ".health", "LLMRegistry": "..registry",
         "AllModelsFailedError": "..errors"}
_bound = False


def _bind() -> None:
    """Bind what the router's methods use as globals of this module: once, by the first ``Router()``,
    so ``from assistant import Router`` loads no pydantic, aiohttp or asyncio (issue 14's cold start)
    and no call pays an import statement."""
    global _bound, asyncio, telemetry, AllModelsFailedError, LLMError, TransientError, UsageError, StreamEvent
    global LLMRegistry, ctx, _answers, _failures, _prompt_mode, _schedule, Call, Tries, build_request, hop, template
    global EMPTY, plan, screen, Partial, aclose, describe, is_empty, status_event, summary, MediaHelper, Expansions
    global policy_from_config, Routes, RateLimiter, limit_rules, open_state
    import asyncio

    from .. import telemetry
    from ..errors import AllModelsFailedError, LLMError, TransientError, UsageError
    from ..messages import StreamEvent
    from ..registry import LLMRegistry
    from . import _fitting as ctx
    from . import _answers, _failures, _prompt_mode, _schedule
    from ._call import Call, Tries, build_request, hop, template
    from ._failures import EMPTY
    from ._candidates import plan, screen
    from ._hops import Partial, aclose, describe, is_empty, status_event, summary
    from ._media import MediaHelper
    from ._roles import Expansions, policy_from_config
    from ._route import Routes
    from .ratelimit import RateLimiter, limit_rules
    from .shared import open_state
    _bound = True


__getattr__ = late_names(__name__, _LATE)


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
        if not _bound:
            _bind()
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
        self._routes = Routes(self.registry)
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
        if self.registry.config.default_temperature is not None:
            options = self._defaults(options)
        call = Call(template(messages, tools, options, stream=False), streaming=False)
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
            await self.health.refresh()
            model, then_auto = self._expand(model)
            needs_tools = bool(call.request.tools)
            free = self.free_models if model == "auto" or then_auto else None
            candidates = plan(model, needs_tools=needs_tools, registry=self.registry, free_models=free,
                              catalog=self.catalog, memo=self._planned)
            if then_auto and model != "auto":
                candidates += plan("auto", needs_tools=needs_tools, registry=self.registry, free_models=free,
                                   catalog=self.catalog)
            call.state.catalog = self.catalog
            recovery = None
            while candidates and call.response is None:
                ahead = list(candidates)
                while ahead and call.response is None:
                    cand = ahead.pop(0)
                    partner = _schedule.partner_for(self, cand, ahead, call) if call.racing else None
                    if partner is not None:
                        ahead.remove(partner)
                        await _schedule.race(self, [(cand, False), (partner, False)], call, ahead)
                    else:
                        async for event in self._candidate(cand, call, ahead):
                            yield event
                if call.response is None:
                    async for event in _schedule.waiting_room(self, call):
                        yield event
                if call.response is None:
                    recovery = recovery or ctx.Recovery(self, call)
                    async for event in recovery.after(candidates):
                        yield event
                    candidates = recovery.next
            if call.response is None:
                raise AllModelsFailedError(summary(call.attempts), attempts=call.attempts)
            if call.trace.recording:
                call.trace.answered(call.response)

    async def _candidate(
        self, cand: Candidate, call: Call, rest: Sequence[Candidate], *, last_resort: bool = False,
        race: list[tuple[str, LLMError, float]] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        policy, state = self.policy, call.state
        route = self._routes.of(cand)
        circuit = route.circuit
        if self.health.doc.providers:
            await _failures.forget_stale_disable(self, cand.provider)
        ollama = None
        if route.local:
            await ctx.know_window(self.registry, self.catalog, cand, state)
        if route.ollama:
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
        skipped = screen(cand, state, route=route, health=self.health, allow_prompt_tools=policy.allow_prompt_tools,
                         now=policy.clock(), probe=True, resting=not last_resort)
        if skipped is not None:
            if skipped[0] == "context_overflow" and state.window(cand):
                state.too_small.append(cand)
            if self._screen(cand, state, probe=False, resting=False) is None:
                call.resting.append(cand)
            note = hop(call, cand, skipped[0], None, 0.0, "skipped: " + skipped[1])
            if call.streaming:
                yield note
            return
        spec = route.spec
        tries = call.tries.get(cand.model_id)
        if tries is None:
            native = cand.supports_tools is not False and spec.supports_tools and cand.model_id not in self._prompt_tools
            keys = list(route.keys)
            tries = call.tries[cand.model_id] = Tries(
                keys, self._key_index.get(cand.provider, 0) % len(keys) if keys else 0,
                prompt_mode=bool(state.tools) and not native)
            if (state.tools and call.streaming and spec.free_suffix and cand.model.endswith(spec.free_suffix)
                    and not (cand.free_entry and cand.supports_tools is True)):
                # The Go seed's isFreeModel warning: free variants often lack (or flake on) tool calling; an
                # entry the free-models list marks as tool-capable is not warned about.
                yield status_event(f"warning: {cand.model_id} is a free model; free models often do not support "
                                   "tool calling reliably (tools fall back to prompt-guided calls if it refuses them)")
        rules = route.rules
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
            if route.jitter:
                # OpenRouter asks clients to spread requests; 100-400 ms before each one.
                pause = policy.random.uniform(*spec.jitter)
                await policy.sleep(pause)
                waited += pause
            request = build_request(call, cand, tries, ollama.num_ctx if ollama and ollama.send else None, local=spec.local)
            unreadable = self.media.unreadable(cand.model_id, request.messages) if state.attachments else None
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
            if state.max_tokens:  # (without one there is nothing to lower)
                request, lowered = ctx.fit_reply(request, cand, state)
                if lowered and call.streaming:
                    yield status_event(f"{cand.model_id}: {lowered}")
            client = self.registry.client(cand.provider, tries.key)
            # A success only closes a circuit when it was sent after the circuit opened.
            sent = policy.clock()
            partial = Partial() if call.streaming else None
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
                                partial.add(event)  # type: ignore[union-attr]
                                yield event
                    finally:
                        await aclose(events)
                    if response is None:
                        raise TransientError("stream ended without a done event", provider=cand.provider, model=cand.model)
                else:
                    response = await client.chat(request)
                    if tries.prompt_mode:
                        response = _prompt_mode.parse_reply(response, state.tools)
                if (partial is None or not partial.started) and is_empty(response):
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
                    opened = await _failures.count_failure(self, circuit, err, sent)
                else:
                    # Weighed when the race is over (``_race``).
                    self.health.release(circuit, sent)
                    race.append((circuit, err, sent))
                    opened = False
                if (policy.race_after_failed_answer and not call.streaming and (err.status is None or err.status < 300)
                        and policy.clock() - sent >= policy.race_after_s):
                    call.racing = True
                if partial is not None and partial.started:
                    hop(call, cand, err.kind, err.status, waited, describe(err, "stream broke off after output"))
                    raise partial.interrupted(err, cand.provider, cand.model, call.attempts) from None
                action = _failures.judge(self, err, cand, tries, request, has_next=_schedule.can_serve(self, rest, call),
                                         opened=opened, last_resort=last_resort)
                if action.kind == "cool_down" or (action.kind == "next" and action.detail.startswith("circuit open")):
                    call.resting.append(cand)
                wait = action.wait_s if action.kind == "retry" else 0.0
                note = hop(call, cand, err.kind, err.status, waited + wait, describe(err, action.detail))
                if call.streaming:
                    yield note
                if not await _failures.apply(self, action, err, cand, tries, call):
                    return
            else:
                for event in held or ():
                    yield event
                await self.health.succeeded(circuit, sent, provider=cand.provider)
                await _answers.answered(self, call, cand, route, tries, request, response, waited, client)
                if call.streaming:
                    yield StreamEvent(type="done", response=call.response)
                return

    def _facts(self) -> Any:
        if self._prices is None:
            from ..catalog import ModelCatalog

            # The seed and the saved snapshot know prices and vision without a network call.
            self._prices = self.catalog or ModelCatalog()
        return self._prices

    async def _describe(self, chain: list[str], messages: list[Message]) -> ChatResponse:
        return await self.chat(chain, messages, max_tokens=1024)

    # --- pieces -----------------------------------------------------------------------------------

    def _screen(self, cand: Candidate, state: RunState, *, probe: bool, resting: bool = True) -> tuple[str, str] | None:
        return screen(cand, state, route=self._routes.of(cand), health=self.health,
                      allow_prompt_tools=self.policy.allow_prompt_tools, now=self.policy.clock(), probe=probe,
                      resting=resting)

    def _circuit(self, provider: str) -> str:
        """The breaker key of ``provider``'s endpoint: two servers behind one name are two circuits."""
        return self._routes.circuit(provider)

    def _stream(self, client: Any, request: ChatRequest, prompt_mode: bool, state: RunState) -> AsyncIterator[StreamEvent]:
        events = client.stream(request)
        return _prompt_mode.stream_reply(events, state.tools) if prompt_mode else events
