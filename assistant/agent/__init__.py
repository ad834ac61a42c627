"""The ReAct agent: ask a model, run the tools it asks for, feed back what they said, until it answers.

    agent = Agent(tools=[calculator, current_time])
    result = await agent.run("What is 17 * 23, and what day is it in Tokyo?")
    result.output, result.stop_reason, [s.model for s in result.steps]

    async for event in agent.stream("task"):      # what a CLI or a bot renders
        if event.type == "text": print(event.text, end="")

Model and tool mistakes become observations the model can act on (unknown tool, invalid arguments,
an exception, a timeout, a call repeated three times); engine bugs propagate. The loop never prints.

Part: the ReAct loop (here), one step (``_steps``), its records (``records``), tools made from
functions (``tools``), tool sources (``sources``: functions, MCP servers in ``mcp``) and
grammar-constrained actions for llama.cpp (``_grammar``). Reaches models only
through the router. May import: messages, errors, toolcall_text, router (and what the router exposes).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal

from ..files.lazy import late_names

if TYPE_CHECKING:  # bound at run time by _bind()
    import asyncio

    from .. import telemetry
    from ..errors import UsageError
    from ..messages import Attachment, Message, ReasoningEffort
    from ._grammar import action_schema
    from ._steps import RunContext, act, think
    from .records import AgentEvent, RunResult, Step, StopReason, ToolResult, event, fill
    from .sources import ToolSource
    from .tools import Tool, as_tools

__all__ = ["Agent", "RunResult", "Step", "ToolResult", "AgentEvent", "ToolSource", "DEFAULT_SYSTEM_PROMPT", "MAX_CORRECTIONS"]

DEFAULT_SYSTEM_PROMPT = (
    "You are a capable assistant. Use the tools when they help with the task; answer directly when "
    "they do not. Be accurate and concise."
)
# An invalid call is sent back with the validation error this many times before the step counts.
MAX_CORRECTIONS = 3
# Seconds a tool may run unless it says otherwise: ``tools.DEFAULT_TIMEOUT`` (a test keeps them equal),
# stated here so the signature needs no import.
DEFAULT_TIMEOUT = 60.0

# Importing the agent loads neither pydantic nor asyncio: the first ``Agent()`` binds what its methods
# use (``_bind``), and these names load when first looked up here.
_LATE = {"RunResult": ".records", "Step": ".records", "ToolResult": ".records", "AgentEvent": ".records",
         "StopReason": ".records", "ToolSource": ".sources", "Tool": ".tools"}
_bound = False


def _bind() -> None:
    """Bind the loop's collaborators as globals of this module: once, by the first ``Agent()``, so
    ``from assistant import Agent`` stays cheap (issue 14) and no step pays an import statement."""
    global _bound, asyncio, telemetry, UsageError, Message, action_schema, RunContext, act, think
    global Step, event, fill, ToolSource, as_tools
    import asyncio

    from .. import telemetry
    from ..errors import UsageError
    from ..messages import Message
    from ._grammar import action_schema
    from ._steps import RunContext, act, think
    from .records import Step, event, fill
    from .sources import ToolSource
    from .tools import as_tools
    _bound = True


__getattr__ = late_names(__name__, _LATE)


class Agent:
    """A reusable agent; runs share nothing but the router, so one agent serves many at once.

        agent = Agent("groq/llama-3.3-70b-versatile", tools=[search], max_steps=8)
        result = agent.run_sync("Who won the 2022 World Cup?")

    ``model`` is an id, a list of ids (a fallback chain), ``"auto"`` (the free-model chain) or a model
    role (``"high_end"``); None means the ``default`` role (``"auto"`` unless configured).
    ``tools`` takes functions, ``Tool`` objects and tool sources (``MCPToolSource``: connected when a
    run starts, closed with the agent); ``allow`` / ``deny`` pick among them by name.
    ``tool_mode`` is ``"auto"`` (native tools; JSON actions under a grammar on llama.cpp; the router
    describes tools in the prompt for models without tool calling) or forces one of
    ``"native"``, ``"prompt"``, ``"grammar"``.
    """

    def __init__(
        self,
        model: str | Sequence[str] | None = None,
        tools: Iterable[Tool | Callable[..., Any] | ToolSource] = (),
        *,
        system_prompt: str | None = None,
        max_steps: int = 12,
        registry: Any = None,
        free_models: Any = None,
        router: Any = None,
        catalog: Any = None,
        allow: Iterable[str] | None = None,
        deny: Iterable[str] | None = None,
        tool_timeout: float = DEFAULT_TIMEOUT,
        tool_mode: Literal["auto", "native", "prompt", "grammar"] = "auto",
        max_tokens: int | None = None,
        temperature: float | None = None,
        reasoning: ReasoningEffort | None = None,
    ) -> None:
        if not _bound:
            _bind()
        if max_steps < 0:
            raise UsageError(f"max_steps must be 0 or more, got {max_steps}")
        if model is None:
            # The "default" model role: ASSISTANT_MODEL_DEFAULT, [models] default, the config's
            # default_provider/default_model, else "auto".
            from ..free_models.roles import model_for_role

            model = model_for_role("default")
        if not isinstance(model, str) and not list(model):
            raise UsageError("model is an empty list: give an id like 'groq/llama-3.3-70b-versatile', a list of ids, or 'auto'")
        if tool_mode not in ("auto", "native", "prompt", "grammar"):
            raise UsageError(f"tool_mode must be 'auto', 'native', 'prompt' or 'grammar', got {tool_mode!r}")
        self.model = model if isinstance(model, str) else list(model)
        self.system_prompt = DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt
        self.max_steps = max_steps
        self.tool_timeout = tool_timeout
        self.tool_mode = tool_mode
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.reasoning = reasoning
        items = list(tools)
        self._sources: list[ToolSource] = [t for t in items if isinstance(t, ToolSource)]
        self._sources_lock: asyncio.Lock | None = None
        self._sources_loaded = False
        self._allow = None if allow is None else list(allow)
        self._deny = list(deny or ())
        self._own_tools = as_tools(t for t in items if not isinstance(t, ToolSource))
        # Names a source brings are known only once it is loaded; they are checked then.
        self._set_tools(_select(self._own_tools, self._allow, self._deny, strict=not self._sources))
        self._registry = registry
        self._free_models = free_models
        self._catalog = catalog
        self._router = router
        self._owns_router = router is None

    def __repr__(self) -> str:
        return f"Agent(model={self.model!r}, tools={self.tool_names!r}, max_steps={self.max_steps})"

    def _set_tools(self, tools: dict[str, Tool]) -> None:
        self.tools = tools
        self.tool_names = list(self.tools)
        self.tool_specs = [t.spec() for t in self.tools.values()]
        self.action_schema = action_schema(self.tool_specs) if self.tool_specs else None

    async def _load_sources(self) -> None:
        """Connect every tool source once and offer its tools next to the agent's own."""
        if self._sources_lock is None:
            self._sources_lock = asyncio.Lock()
        async with self._sources_lock:
            if self._sources_loaded:
                return
            loaded = await asyncio.gather(*(s.load_tools() for s in self._sources), return_exceptions=True)
            failed = next((r for r in loaded if isinstance(r, BaseException)), None)
            if failed is not None:
                await self._close_sources()
                raise failed
            merged = dict(self._own_tools)
            for source, found in zip(self._sources, loaded):
                for t in found:
                    if t.name in merged:
                        await self._close_sources()
                        raise UsageError(f"tool {t.name!r} from {source.name!r} clashes with another tool of that name; "
                                         f"give the source a prefix (prefix = \"{source.name}_\" in [mcp.servers.{source.name}])")
                    merged[t.name] = t
            self._set_tools(_select(merged, self._allow, self._deny))
            self._sources_loaded = True

    async def _close_sources(self) -> None:
        for source in self._sources:
            await source.aclose()
        if self._sources_loaded:
            self._sources_loaded = False
            self._set_tools(_select(self._own_tools, self._allow, self._deny, strict=False))

    @property
    def router(self) -> Any:
        """The router every step goes through (built on first use from the registry and free models)."""
        if self._router is None:
            from ..router import Router

            self._router = Router(self._registry, free_models=self._free_models, catalog=self._catalog)
        return self._router

    async def aclose(self) -> None:
        """Close the router the agent built itself (a router passed in belongs to the caller).

            async with Agent(tools=[calculator]) as agent: await agent.run("2+2?")
        """
        if self._sources:
            await self._close_sources()
        if self._owns_router and self._router is not None:
            router, self._router = self._router, None
            await router.aclose()

    async def __aenter__(self) -> Agent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def run(self, task: str, *, history: Sequence[Message] = (), attachments: Sequence[Attachment] = ()) -> RunResult:
        """Run ``task`` to the end. Raises ``AllModelsFailedError`` when no model answers a step.
        ``attachments`` (images, PDFs) go with the task.

            result = await agent.run("What is 2**20?")
            result = await agent.run("What does it say?", attachments=[ImagePart.from_file("sign.jpg")])
        """
        async with aclosing(self.stream(task, history=history, attachments=attachments)) as events:
            async for ev in events:
                if ev.type == "done":
                    assert ev.result is not None
                    return ev.result
        raise AssertionError("agent stream ended without a done event")

    def run_sync(self, task: str, *, history: Sequence[Message] = ()) -> RunResult:
        """``run`` for code without an event loop.

            print(Agent(tools=[calculator]).run_sync("12 * 7?").output)
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._run_once(task, history))
        raise UsageError("run_sync was called inside a running event loop; use `await agent.run(task)` there")

    async def _run_once(self, task: str, history: Sequence[Message]) -> RunResult:
        # The router's HTTP sessions belong to this event loop, which ends with the call.
        try:
            return await self.run(task, history=history)
        finally:
            await self.aclose()

    async def stream(self, task: str, *, history: Sequence[Message] = (),
                     attachments: Sequence[Attachment] = ()) -> AsyncIterator[AgentEvent]:
        """Run ``task``, yielding what happens; the last event is ``done`` with the ``RunResult``.
        ``history`` is an earlier conversation (``RunResult.messages``) to continue.

            async for ev in agent.stream("task"): ...
        """
        if self._sources and not self._sources_loaded:
            await self._load_sources()
        with telemetry.agent_span(self.model, self.tool_names) as run_span:
            async with aclosing(self._loop(task, history, attachments)) as events:
                async for ev in events:
                    if ev.type == "done" and ev.result is not None:
                        run_span.set(gen_ai__usage__input_tokens=ev.result.usage.input_tokens,
                                     gen_ai__usage__output_tokens=ev.result.usage.output_tokens,
                                     assistant__stop_reason=ev.result.stop_reason)
                    yield ev

    async def _loop(self, task: str, history: Sequence[Message], attachments: Sequence[Attachment]) -> AsyncIterator[AgentEvent]:
        ask = Message.user(task, attachments=list(attachments)) if attachments else Message.user(task)
        ctx = RunContext(self, [*_with_system_prompt(self.system_prompt, history), ask])
        number, correction = 1, 0
        while True:
            # Past the step budget: one last call without tools for the best answer so far.
            final = number > self.max_steps or ctx.looping
            offer_tools = bool(self.tools) and not final
            step = Step.begin(number, correction, offer_tools, time.time())
            yield event("step_start", number)
            with telemetry.step_span(number) as step_span:
                async for ev in think(ctx, step, tools=offer_tools, final=final):
                    yield ev
                if step.tool_calls:
                    async for ev in act(ctx, step):
                        yield ev
                if step_span.recording:
                    step_span.set(gen_ai__response__model=step.model, assistant__tool_calls=[c.name for c in step.tool_calls])
            fill(step, duration_s=step.llm_s + step.tools_s)
            ctx.steps.append(step)
            yield event("step_end", number, record=step)
            if not step.tool_calls:
                break
            if step.needs_correction and correction < MAX_CORRECTIONS:
                correction += 1
            else:
                number, correction = number + 1, 0
        stop_reason: StopReason = (
            "max_steps" if final and self.tools and number > self.max_steps
            else "length" if step.finish_reason == "length" else "final"
        )
        yield event("done", number, result=ctx.result(step.text, stop_reason))


def _select(tools: dict[str, Tool], allow: Iterable[str] | None, deny: Iterable[str] | None, *,
            strict: bool = True) -> dict[str, Tool]:
    allowed = None if allow is None else set(allow)
    denied = set(deny or ())
    for label, names in (("allow", allowed or set()), ("deny", denied)):
        unknown = sorted(names - set(tools))
        if unknown and strict:
            raise UsageError(f"{label} names tools the agent does not have: {unknown}; its tools: {sorted(tools)}")
    return {k: v for k, v in tools.items() if (allowed is None or k in allowed) and k not in denied}


def _with_system_prompt(system_prompt: str, history: Sequence[Message]) -> list[Message]:
    """One system message first: leading system turns of ``history`` (a session's rolling summary)
    are merged into the agent's prompt, joined by a blank line. Chat templates such as Qwen's reject
    a second system message ("System message must be at the beginning.")."""
    lead = 0
    while lead < len(history) and history[lead].role == "system":
        lead += 1
    parts = [system_prompt, *(m.content for m in history[:lead])]
    merged = "\n\n".join(p for p in parts if p)
    return [Message.system(merged), *history[lead:]]
