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

Part: routing. The router loops (here: a stream's, which yields, and a plain call's, coroutines only)
over the steps of one candidate's hop (``_steps``), candidate planning (``_candidates``),
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
    from ..files.paths import ConfigWatch
    from ..messages import ChatResponse, Message, ModelInfo, StreamEvent, ToolSpec
    from ..registry import LLMRegistry
    from . import _fitting as ctx
    from . import _answers, _failures, _prompt_mode, _schedule, _steps
    from ._call import Call, template
    from ._candidates import Candidate, RunState, plan, screen
    from ._fitting import CompactFn
    from ._hops import Partial, aclose, status_event, summary
    from ._media import MediaHelper
    from ._roles import expand_model, policy_from_config, stamp_names
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
    global LLMRegistry, ctx, _answers, _failures, _prompt_mode, _schedule, _steps, Call, template
    global plan, screen, Partial, aclose, status_event, summary, MediaHelper, expand_model, stamp_names
    global policy_from_config, ConfigWatch, Routes, RateLimiter, limit_rules, open_state
    import asyncio

    from .. import telemetry
    from ..errors import AllModelsFailedError, LLMError, TransientError, UsageError
    from ..files.paths import ConfigWatch
    from ..messages import StreamEvent
    from ..registry import LLMRegistry
    from . import _fitting as ctx
    from . import _answers, _failures, _prompt_mode, _schedule, _steps
    from ._call import Call, template
    from ._candidates import plan, screen
    from ._hops import Partial, aclose, status_event, summary
    from ._media import MediaHelper
    from ._roles import expand_model, policy_from_config, stamp_names
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
        # (model (a str or a tuple of them), tools asked) -> (registry generation, catalog version, a
        # watch on the config and variables its expansion read, the free-models store it read and its
        # changes then, the candidates): see ``_plan``.
        self._plans: dict[Any, tuple[int, int, ConfigWatch, Any, int | None, tuple[Candidate, ...]]] = {}
        self._versioned = isinstance(getattr(type(self.catalog), "version", None), property)

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

    async def chat(self, model: str | Sequence[str], messages: Sequence[Message], tools: Sequence[ToolSpec] = (),
                   **options: Any) -> ChatResponse:
        """Answer from the first candidate that can; ``options``: tool_choice, max_tokens,
        temperature, reasoning, response_schema, stop, extra. Raises ``AllModelsFailedError``.

            resp = await router.chat("auto", [Message.user("2+2?")], max_tokens=50)
        """
        if self.registry.config.default_temperature is not None:
            options = self._defaults(options)
        call = Call(template(messages, tools, options, stream=False), streaming=False)
        if telemetry.quiet():
            call.trace = telemetry.NOOP
            return await self._chat(model, call)
        with telemetry.chat_span(model, call.request) as call.trace:
            return await self._chat(model, call)

    async def _chat(self, model: str | Sequence[str], call: Call) -> ChatResponse:
        # The loop of ``_run`` with coroutines only (a plain call yields no events; it only records),
        # and after a failed answer its candidates raced two at a time.
        await self.health.refresh()
        candidates, recovery = self._plan(model, call), None
        while candidates and call.response is None:
            ahead = list(candidates)
            while ahead and call.response is None:
                cand = ahead.pop(0)
                partner = _schedule.partner_for(self, cand, ahead, call) if call.racing else None
                if partner is not None:
                    ahead.remove(partner)
                    await _schedule.race(self, [(cand, False), (partner, False)], call, ahead)
                else:
                    await self._attempt(cand, call, ahead)
            if call.response is None:
                async for _ in _schedule.waiting_room(self, call):
                    pass
            if call.response is None:
                recovery = recovery or ctx.Recovery(self, call)
                async for _ in recovery.after(candidates):
                    pass
                candidates = recovery.next
        return self._answer(call)

    def stream(self, model: str | Sequence[str], messages: Sequence[Message], tools: Sequence[ToolSpec] = (),
               **options: Any) -> AsyncIterator[StreamEvent]:
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
            candidates, recovery = self._plan(model, call), None
            while candidates and call.response is None:
                ahead = list(candidates)
                while ahead and call.response is None:
                    async for event in self._candidate(ahead.pop(0), call, ahead):
                        yield event
                if call.response is None:
                    async for event in _schedule.waiting_room(self, call):
                        yield event
                if call.response is None:
                    recovery = recovery or ctx.Recovery(self, call)
                    async for event in recovery.after(candidates):
                        yield event
                    candidates = recovery.next
            self._answer(call)

    def _plan(self, model: str | Sequence[str], call: Call) -> Sequence[Candidate]:
        """The candidates of ``model``, remembered while nothing they came from changed: the registry
        (its ``generation``), the catalog's answers (its ``version``), the variables the roles read and
        the config file (``files.paths.ConfigWatch``: an edit is seen within a second). A plan with the
        free chain (``"auto"``) also rests on the free-models list (its store's ``changes``: this
        process's edits are seen at once) and on files no stamp covers (another process's edits of the
        list, the local model installed or served): it is made again every second."""
        catalog = call.state.catalog = self.catalog
        needs_tools = bool(call.request.tools)
        key = model if isinstance(model, str) else tuple(model), needs_tools
        hit = self._plans.get(key)
        if (hit is not None and hit[0] == self.registry.generation and hit[1] == catalog.version
                and (hit[3] is None or hit[3].changes == hit[4]) and hit[2].unchanged()):
            return hit[5]
        generation, watch = self.registry.generation, ConfigWatch(stamp_names(key[0]))
        ids, then_auto = expand_model(model, self.registry)
        auto = ids == "auto" or then_auto
        free = self.free_models if auto else None
        candidates = plan(ids, needs_tools=needs_tools, registry=self.registry, free_models=free, catalog=catalog)
        if then_auto and ids != "auto":
            candidates += plan("auto", needs_tools=needs_tools, registry=self.registry, free_models=free, catalog=catalog)
        if self._versioned and (free is None or hasattr(free, "changes")):
            if len(self._plans) >= 256:
                self._plans.clear()
            watch.expires = auto
            # The versions after planning: the first answers may have loaded the catalog's snapshot
            # (and the store its file).
            self._plans[key] = (generation, catalog.version, watch, free, getattr(free, "changes", None),
                                tuple(candidates))
        return candidates

    def _answer(self, call: Call) -> ChatResponse:
        if call.response is None:
            raise AllModelsFailedError(summary(call.attempts), attempts=call.attempts)
        if call.trace.recording:
            call.trace.answered(call.response)
        return call.response

    async def _candidate(
        self, cand: Candidate, call: Call, rest: Sequence[Candidate], *, last_resort: bool = False,
    ) -> AsyncIterator[StreamEvent]:
        """One candidate's hop in a stream: ``_steps`` one after the other, each status event yielded."""
        sending = await _steps.ready(self, cand, call, last_resort)
        if isinstance(sending, StreamEvent):
            yield sending
            return
        if sending.warning:
            yield status_event(sending.warning)
        state, ollama = call.state, sending.ollama
        while True:
            wait = await _steps.reserve(self, sending, call) if sending.route.rules else 0.0
            if isinstance(wait, StreamEvent):
                yield wait
                return
            if wait > 0:
                yield _steps.waiting(sending, wait)
            if wait > 0 or sending.route.jitter:
                await _steps.pause(self, sending, wait)
            unreadable = _steps.build(self, sending, call)
            if unreadable and (skipped := await _steps.stand_in(self, sending, call, unreadable)):
                yield skipped
                return
            if sending.lowered:
                yield status_event(f"{cand.model_id}: {sending.lowered}")
            partial = Partial()
            # A stream that Ollama may have fed a cut prompt is held back until its token count is in.
            held: list[StreamEvent] | None = [] if ollama and ctx.may_truncate(cand, state, ollama) else None
            try:
                response = None
                events = sending.client.stream(sending.request)
                if sending.tries.prompt_mode:
                    events = _prompt_mode.stream_reply(events, state.tools)
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
                _steps.check(sending, call, response, partial.started)
            except asyncio.CancelledError:
                _steps.cancelled(self, sending, call)
                raise
            except LLMError as err:
                action, note = await _steps.failed(self, sending, call, err, rest, last_resort=last_resort, race=None,
                                                   partial=partial)
                yield note
                if not await _failures.apply(self, action, err, cand, sending.tries, call):
                    return
            else:
                for event in held or ():
                    yield event
                await _answers.answered(self, call, sending, response)
                yield StreamEvent(type="done", response=call.response)
                return

    async def _attempt(
        self, cand: Candidate, call: Call, rest: Sequence[Candidate], *, last_resort: bool = False,
        race: list[tuple[str, LLMError, float]] | None = None,
    ) -> None:
        """One candidate's hop in a plain call: the steps of ``_candidate``, awaited, nothing yielded;
        ``race`` keeps the failures of a race for when it is over."""
        sending = await _steps.ready(self, cand, call, last_resort)
        if isinstance(sending, StreamEvent):
            return
        route = sending.route
        while True:
            wait = await _steps.reserve(self, sending, call) if route.rules else 0.0
            if isinstance(wait, StreamEvent):
                return
            if wait > 0 or route.jitter:
                await _steps.pause(self, sending, wait)
            unreadable = _steps.build(self, sending, call)
            if unreadable and await _steps.stand_in(self, sending, call, unreadable):
                return
            try:
                response = await sending.client.chat(sending.request)
                if sending.tries.prompt_mode:
                    response = _prompt_mode.parse_reply(response, call.state.tools)
                _steps.check(sending, call, response)
            except asyncio.CancelledError:
                _steps.cancelled(self, sending, call)
                raise
            except LLMError as err:
                action, _ = await _steps.failed(self, sending, call, err, rest, last_resort=last_resort, race=race)
                if not await _failures.apply(self, action, err, cand, sending.tries, call):
                    return
            else:
                await _answers.answered(self, call, sending, response)
                return

    def _facts(self) -> Any:
        if self._prices is None:
            from ..catalog import ModelCatalog

            # The seed and the saved snapshot know prices and vision without a network call.
            self._prices = self.catalog or ModelCatalog()
        return self._prices

    async def _describe(self, chain: list[str], messages: list[Message]) -> ChatResponse:
        return await self.chat(chain, messages, max_tokens=1024)

    def _screen(self, cand: Candidate, state: RunState, *, probe: bool, resting: bool = True) -> tuple[str, str] | None:
        return screen(cand, state, route=self._routes.of(cand), health=self.health,
                      allow_prompt_tools=self.policy.allow_prompt_tools, now=self.policy.clock(), probe=probe,
                      resting=resting)

    def _circuit(self, provider: str) -> str:
        """The breaker key of ``provider``'s endpoint: two servers behind one name are two circuits."""
        return self._routes.circuit(provider)
