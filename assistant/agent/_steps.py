"""The two halves of an agent step, kept out of the loop so ``Agent.stream`` reads top to bottom:
``think`` asks a model (re-running a step whose stream broke off) and ``act`` runs the tools it asked for.
``RunContext`` is the state of one run; nothing here is shared between runs.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import AllModelsFailedError, LLMError, StreamInterruptedError, UsageError
from ..messages import Attempt, ChatResponse, Message, StreamEvent, ToolCall, Usage, new_call_id, trusted
from ..toolcall_text import TextGuard, extract_tool_calls, render_text_history, tool_prompt
from ._arguments import safe_call
from ._grammar import action_prompt, action_schema, parse_action, render_action_history
from .records import AgentEvent, RunResult, Step, StopReason, ToolMode, ToolResult, event, fill
from .tools import Tool, ToolArgumentsError, ToolFailedError, ToolTimeoutError

if TYPE_CHECKING:
    from . import Agent

__all__ = ["RunContext", "Segment", "think", "act", "plan_segments", "FINAL_NUDGE"]

MAX_RERUNS = 2
REPEAT_LIMIT = 3
REPEAT_WINDOW = 8
# A 135M model inside a grammar can fill a string forever (and ramble past its answer without one).
GRAMMAR_MAX_TOKENS = 512
LOCAL_ANSWER_MAX_TOKENS = 1024
FINAL_NUDGE = (
    "Do not call any more tools. Using what you found so far, give your best final answer to the task now."
)


# --- which models, and how tools reach them -----------------------------------------------------

@dataclass(frozen=True, slots=True)
class Segment:
    """Consecutive candidates that take tools the same way; ``models`` None means the router's "auto"."""

    mode: ToolMode
    models: tuple[str, ...] | None

    @property
    def target(self) -> str | list[str]:
        return "auto" if self.models is None else list(self.models)

    def without(self, failed: set[str]) -> Segment | None:
        """This segment less the ``failed`` model ids (canonical ``provider/model``)."""
        if self.models is None or not failed:
            return self
        left = tuple(m for m in self.models if m not in failed)
        return Segment(self.mode, left) if left else None

    @property
    def provider(self) -> str | None:
        """The one provider every candidate belongs to, if there is one (models are canonical ids)."""
        if not self.models:
            return None
        providers = {m.split("/", 1)[0] for m in self.models}
        return providers.pop() if len(providers) == 1 else None


def _describe(router: Any, model_id: str) -> tuple[str, str | None]:
    """(canonical id, wire kind) as the router's registry knows them; a router without one keeps the id."""
    describe = getattr(router, "describe_model", None)
    return describe(model_id) if describe is not None else (model_id, None)


def plan_segments(router: Any, model: str | Sequence[str], *, tools: bool, tool_mode: str) -> list[Segment]:
    """The router calls one step makes, in order. Tool steps on a llama.cpp server go alone with a
    grammar; everything else goes to the router together, which describes tools in the prompt for
    a model the catalog says cannot call them."""
    if isinstance(model, str) and model.strip().lower() == "auto":
        ids = _auto_ids(router, tools) if tool_mode == "auto" else None
        if ids is None:
            return [Segment(_fixed_mode(tool_mode), None)]
    else:
        ids = [model] if isinstance(model, str) else list(model)
    segments: list[Segment] = []
    for given in ids:
        model_id, wire_kind = _describe(router, given)
        mode = _fixed_mode(tool_mode) if tool_mode != "auto" else "grammar" if wire_kind == "llama" else "native"
        if segments and segments[-1].mode == mode and segments[-1].models is not None:
            segments[-1] = Segment(mode, (*segments[-1].models, model_id))
        else:
            segments.append(Segment(mode, (model_id,)))
    return segments


def _fixed_mode(tool_mode: str) -> ToolMode:
    return "native" if tool_mode == "auto" else tool_mode  # type: ignore[return-value]


def _auto_ids(router: Any, tools: bool) -> list[str] | None:
    """The ids "auto" stands for, as the router itself would pick them (None when it cannot say)."""
    candidate_ids = getattr(router, "candidate_ids", None)
    return (candidate_ids("auto", needs_tools=tools) or None) if candidate_ids is not None else None


# --- the run's state ---------------------------------------------------------------------------------

class RunContext:
    """One run: the history, the records so far, and what the repeat check remembers."""

    def __init__(self, agent: Agent, messages: list[Message]) -> None:
        self.agent = agent
        self.messages = messages
        self.steps: list[Step] = []
        self.started = time.perf_counter()
        # index in messages -> provider that wrote that assistant turn (owner of its opaque state)
        self._origins: dict[int, str] = {}
        self._state_owner: str | None = None
        self._ids: set[str] = {c.id for m in messages for c in m.tool_calls}
        self._plans: dict[bool, list[Segment]] = {}
        self._recent: deque[bytes] = deque(maxlen=REPEAT_WINDOW)
        self._outputs: dict[bytes, str] = {}
        self._repeats = 0
        # Output room multiplier: doubled each time our own max_tokens cut a tool call.
        self.room = 1

    def plan(self, tools: bool) -> list[Segment]:
        found = self._plans.get(tools)
        if found is None:
            found = self._plans[tools] = plan_segments(self.agent.router, self.agent.model, tools=tools,
                                                       tool_mode=self.agent.tool_mode)
        return found

    def result(self, output: str, stop_reason: StopReason) -> RunResult:
        usage = Usage()
        for step in self.steps:
            usage = usage + step.usage
        return trusted(RunResult, {
            "output": output, "steps": self.steps, "usage": usage, "attempts": [a for s in self.steps for a in s.attempts],
            "stop_reason": stop_reason, "messages": self.messages[1:], "duration_s": time.perf_counter() - self.started,
        })

    def all_attempts(self, step: Step) -> list[Attempt]:
        return [a for s in self.steps for a in s.attempts] + step.attempts

    # -- requests

    def request(self, segment: Segment, tools: bool, final: bool) -> dict[str, Any]:
        """The router call for ``segment``: messages, tools and options, in the segment's tool mode."""
        agent = self.agent
        provider = segment.provider
        if provider is not None:
            self.drop_foreign_state(provider)
        messages = self.messages + [Message.user(FINAL_NUDGE)] if final and agent.tools else self.messages
        options: dict[str, Any] = {"max_tokens": agent.max_tokens, "temperature": agent.temperature,
                                   "reasoning": agent.reasoning}
        specs = agent.tool_specs if tools else []
        if segment.mode == "native":
            return {"messages": messages, "tools": specs, **self._roomier(options)}
        if segment.mode == "grammar":
            messages = render_action_history(messages)
            options["max_tokens"] = agent.max_tokens or LOCAL_ANSWER_MAX_TOKENS
            if json_actions(self, segment, tools, final):
                # Past the step limit only the final-answer branch is offered.
                messages = _with_system(messages, action_prompt(specs))
                options["response_schema"] = agent.action_schema if tools else action_schema([])
                options["max_tokens"] = agent.max_tokens or GRAMMAR_MAX_TOKENS
                if agent.temperature is None:
                    # Greedy decoding: measured on SmolLM2-135M, sampling at the server's default 0.8
                    # picked a stray "," as the final answer; at 0 it answered "391" every time.
                    options["temperature"] = 0.0
        else:
            messages = render_text_history(messages)
            if tools:
                messages = _with_system(messages, tool_prompt(specs))
        return {"messages": messages, "tools": [], **self._roomier(options)}

    def _roomier(self, options: dict[str, Any]) -> dict[str, Any]:
        if self.room > 1 and options.get("max_tokens"):
            options["max_tokens"] *= self.room
        return options

    def limited(self, segment: Segment, tools: bool, final: bool) -> bool:
        """True when this call's output limit is one the agent set (so it can give more room)."""
        return self.request(segment, tools, final).get("max_tokens") is not None

    def drop_foreign_state(self, provider: str) -> None:
        """Forget reasoning state other providers left on earlier turns (Anthropic thinking blocks,
        Gemini thought signatures): another provider cannot verify it, and some reject it."""
        if provider == self._state_owner:
            return
        self._state_owner = provider
        for index, message in enumerate(self.messages):
            if message.role != "assistant":
                continue
            origin = self._origins.get(index)
            opaque = {k: v for k, v in message.opaque.items() if k == provider}
            foreign_calls = origin is not None and origin != provider and any(c.signature for c in message.tool_calls)
            if len(opaque) == len(message.opaque) and not foreign_calls:
                continue
            calls = [c.model_copy(update={"signature": None}) for c in message.tool_calls] if foreign_calls else message.tool_calls
            self.messages[index] = message.model_copy(update={"opaque": opaque, "tool_calls": calls})

    def add_assistant(self, step: Step, response: ChatResponse) -> None:
        self.drop_foreign_state(response.provider)
        self._origins[len(self.messages)] = response.provider
        self.messages.append(trusted(Message, {
            "role": "assistant", "content": step.text, "attachments": [], "tool_calls": step.tool_calls,
            "tool_call_id": None, "name": None, "reasoning": step.reasoning, "opaque": dict(response.opaque),
        }))

    def unique(self, calls: list[ToolCall]) -> list[ToolCall]:
        """Calls with ids no earlier call used (some servers number every reply's calls from 0)."""
        out = []
        for call in map(safe_call, calls):
            if not call.id or call.id in self._ids:
                call = call.model_copy(update={"id": new_call_id("call")})
            self._ids.add(call.id)
            out.append(call)
        return out

    # -- tool checks

    def repeated(self, call: ToolCall) -> str | None:
        """The nudge for a call made ``REPEAT_LIMIT`` times among the last ``REPEAT_WINDOW`` calls
        (a loop, straight or alternating: list_dir, fetch_url, list_dir, ...), else None."""
        key = _call_key(call.name, call.arguments)
        self._recent.append(key)
        self._repeats = self._recent.count(key)
        if self._repeats < REPEAT_LIMIT:
            return None
        earlier = self._outputs.get(key, "")
        return (
            f"Stopped: you already called {call.name} with these same arguments {self._repeats} times. "
            f"The result was:\n{earlier}\nDo not call it again: use this result, try something else, "
            "or give your answer."
        )

    @property
    def looping(self) -> bool:
        """The model made the same call again even after the nudge: only an answer ends that."""
        return self._repeats > REPEAT_LIMIT

    def remember(self, result: ToolResult) -> None:
        if result.outcome != "repeated":
            self._outputs[_call_key(result.name, result.arguments)] = result.output


def _call_key(name: str, arguments: Any) -> bytes:
    return name.encode() + b"\0" + orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS, default=str)


def _with_system(messages: list[Message], addition: str) -> list[Message]:
    if messages and messages[0].role == "system":
        first = messages[0]
        return [Message.system(f"{first.content}\n\n{addition}" if first.content else addition), *messages[1:]]
    return [Message.system(addition), *messages]


# --- think: one model call -----------------------------------------------------------------------------

async def think(ctx: RunContext, step: Step, *, tools: bool, final: bool) -> AsyncIterator[AgentEvent]:
    """Ask the model(s) for this step. Fills ``step``, appends the assistant turn, yields events.
    A stream that breaks off after output is discarded and the step runs again without that model."""
    started = time.perf_counter()
    failed: set[str] = set()
    last_error = ""
    while True:
        segments = [s for s in (seg.without(failed) for seg in ctx.plan(tools)) if s is not None]
        if not segments and failed:
            # Every candidate broke off mid-stream once: give the whole chain one more go.
            failed.clear()
            continue
        for segment in segments:
            fill(step, mode=segment.mode)
            guard = TextGuard()
            # JSON actions are read whole, never streamed as text.
            buffered = json_actions(ctx, segment, tools, final)
            response: ChatResponse | None = None
            try:
                stream = ctx.agent.router.stream(segment.target, **ctx.request(segment, tools, final))
                async with aclosing(stream) as events:
                    async for ev in events:
                        if ev.type == "done":
                            response = ev.response
                        elif (out := _relay(ev, step.number, guard, buffered)) is not None:
                            yield out
            except StreamInterruptedError as err:
                attempt = _interrupted_attempt(err)
                step.attempts.extend(err.partial.attempts if err.partial is not None else [attempt])
                step.reruns += 1
                if step.reruns > MAX_RERUNS:
                    raise AllModelsFailedError(f"step {step.number}: streams kept breaking off ({err.message})",
                                               attempts=ctx.all_attempts(step)) from err
                failed.add(f"{attempt.provider}/{attempt.model}")
                yield event("step_discarded", step.number, attempt=attempt,
                            text=f"{attempt.provider}/{attempt.model} broke off mid-answer ({err.kind}); running the step again")
                break
            except AllModelsFailedError as err:
                step.attempts.extend(err.attempts)
                last_error = err.message
                continue
            except LLMError as err:
                step.attempts.append(Attempt(provider=err.provider, model=err.model, kind=err.kind, status=err.status,
                                             detail=err.message[:200]))
                last_error = err.message
                continue
            assert response is not None, "router stream ended without a done event"
            step.attempts.extend(response.attempts)
            text, calls = _parse(ctx, response, tools, buffered)
            why = _cut_calls(response, text, calls)
            limited = response.finish_reason == "length" and ctx.limited(segment, tools, final)
            if why is None and response.finish_reason == "length" and step.reruns < MAX_RERUNS and (
                    limited or _has_other(ctx, tools, failed, response)):
                # A final answer the limit cut is answered again with more room or by the next model
                # while there is one; otherwise it stands, and the run says it was cut ("length").
                why = "answer cut by the output limit"
            if why is not None:
                # A call the model did not finish never runs: the step runs again with more room
                # for output (when the limit was ours) or on the next candidate.
                last = response.attempts[-1] if response.attempts else None
                model_id = f"{last.provider}/{last.model}" if last else f"{response.provider}/{response.model}"
                step.reruns += 1
                step.discarded.append(f"{model_id}: {why}")
                if step.reruns > MAX_RERUNS:
                    raise AllModelsFailedError(f"step {step.number}: tool calls kept being cut off ({why})",
                                               attempts=ctx.all_attempts(step))
                if limited:
                    ctx.room *= 2
                else:
                    failed.add(model_id)
                yield event("step_discarded", step.number, attempt=last,
                            text=f"{model_id}: {why}; running the step again")
                break
            rest = _fill(ctx, step, response, text, calls, tools)
            shown = rest if buffered else guard.finish(step.text)
            if shown:
                yield event("text", step.number, text=shown)
            fill(step, llm_s=time.perf_counter() - started)
            return
        else:
            # The router's own message says why (e.g. the compactor's sizes and what to change).
            why = f": {last_error}" if last_error else ""
            raise AllModelsFailedError(f"step {step.number}: no model could answer{why}", attempts=ctx.all_attempts(step))


def _relay(ev: StreamEvent, number: int, guard: TextGuard, buffered: bool) -> AgentEvent | None:
    if ev.type == "text":
        if buffered:
            return None
        shown = guard.feed(ev.text or "")
        return event("text", number, text=shown) if shown else None
    if ev.type == "reasoning":
        return event("reasoning", number, text=ev.text)
    if ev.type == "status":
        return event("status", number, text=ev.text, attempt=ev.attempt)
    return None


def _interrupted_attempt(err: StreamInterruptedError) -> Attempt:
    partial = err.partial
    return Attempt(provider=err.provider or (partial.provider if partial else ""),
                   model=err.model or (partial.model if partial else ""), kind=err.kind, status=err.status,
                   detail=f"stream broke off: {err.message[:160]}")


def json_actions(ctx: RunContext, segment: Segment, tools: bool, final: bool) -> bool:
    """True when this call's answer is a grammar-constrained JSON action (a tool call or the final
    answer); the last call past the step limit keeps the final-answer branch, so it stays clean."""
    return segment.mode == "grammar" and (tools or (final and bool(ctx.agent.tools)))


def _has_other(ctx: RunContext, tools: bool, failed: set[str], response: ChatResponse) -> bool:
    """True when a model other than the one that answered is left to try for this step."""
    last = response.attempts[-1] if response.attempts else None
    answered = f"{last.provider}/{last.model}" if last else f"{response.provider}/{response.model}"
    return any(seg.models is not None and any(m not in failed and m != answered for m in seg.models)
               for seg in ctx.plan(tools))


def _parse(ctx: RunContext, response: ChatResponse, tools: bool, actions: bool) -> tuple[str, list[ToolCall]]:
    """The answer text and the tool calls a response holds (native, JSON action or written as text)."""
    names = ctx.agent.tool_names
    if actions:
        return parse_action(response.text, names)
    parsed = extract_tool_calls(response.text, names, specs=ctx.agent.tool_specs)
    calls = list(response.tool_calls)
    if tools and not calls:
        # Calls written as text even though tools went natively (or to a tool the agent lacks).
        calls = parsed.calls + [ToolCall(id="", name=name) for name in parsed.unknown]
    return parsed.text, calls


def _cut_calls(response: ChatResponse, text: str, calls: list[ToolCall]) -> str | None:
    """Why the response's tool calls must not run (None when they may): the output limit ended the
    answer, or a call's arguments were left unfinished. An answer the limit cut before it said
    anything at all is re-run too: there is nothing in it to keep."""
    if not calls:
        if response.finish_reason == "length" and not text.strip():
            return "answer cut by the output limit before any text or tool call"
        return None
    if response.finish_reason == "length":
        return f"tool call cut by the output limit (finish_reason {response.raw_finish_reason or 'length'})"
    if any(c.incomplete for c in calls):
        return "tool call arguments left unfinished"
    return None


def _fill(ctx: RunContext, step: Step, response: ChatResponse, text: str, calls: list[ToolCall], tools: bool) -> str:
    """Fill the step from the answer; returns the answer text still to show (grammar mode)."""
    fill(step, model=f"{response.provider}/{response.model}" if response.provider else response.model, text=text,
         reasoning=response.reasoning, tool_calls=ctx.unique(calls) if tools else [], usage=response.usage,
         finish_reason=response.finish_reason)
    ctx.add_assistant(step, response)
    return text if not step.tool_calls else ""


# --- act: run the tools ----------------------------------------------------------------------------------

async def act(ctx: RunContext, step: Step) -> AsyncIterator[AgentEvent]:
    """Run the step's tool calls concurrently; every call gets exactly one observation."""
    started = time.perf_counter()
    jobs = [_prepare(ctx, call) for call in step.tool_calls]
    for call in step.tool_calls:
        yield event("tool_call", step.number, tool_call=call)
    if len(jobs) == 1:
        # One call runs in this task: a task of its own costs two trips through the event loop.
        results = [await _execute(ctx, step.tool_calls[0], jobs[0])]
    else:
        results = await asyncio.gather(*(_execute(ctx, call, job) for call, job in zip(step.tool_calls, jobs)))
    fill(step, tool_results=list(results), tools_s=time.perf_counter() - started)
    for result in results:
        ctx.messages.append(Message.tool(result.output, tool_call_id=result.call_id, name=result.name))
        yield event("tool_result", step.number, tool_result=result)
    for result in results:
        ctx.remember(result)


def _prepare(ctx: RunContext, call: ToolCall) -> tuple[Tool, dict[str, Any]] | ToolResult:
    """The tool and its validated arguments, or the observation that replaces running it."""
    nudge = ctx.repeated(call)
    if nudge is not None:
        return _result(call, nudge, "repeated")
    found = ctx.agent.tools.get(call.name)
    if found is None:
        available = ", ".join(ctx.agent.tool_names) or "(none)"
        return _result(call, f"Error: there is no tool named {call.name!r}. Available tools: {available}.", "unknown_tool")
    try:
        return found, found.validate(call.arguments)
    except ToolArgumentsError as exc:
        return _result(call, f"Error: {exc}\nFix the arguments and call the tool again.", "invalid_arguments")


async def _execute(ctx: RunContext, call: ToolCall, job: tuple[Tool, dict[str, Any]] | ToolResult) -> ToolResult:
    if isinstance(job, ToolResult):
        return job
    found, kwargs = job
    started = time.perf_counter()
    try:
        output, outcome = await found.call(kwargs, timeout=ctx.agent.tool_timeout), "ok"
    except ToolTimeoutError as exc:
        output, outcome = f"Error: {exc}. Try a smaller request or another way.", "timeout"
    except ToolFailedError as exc:
        output, outcome = f"Error: {call.name} failed: {exc}", "error"
    return _result(call, output, outcome, time.perf_counter() - started)


def _result(call: ToolCall, output: str, outcome: str, duration: float = 0.0) -> ToolResult:
    return trusted(ToolResult, {"call_id": call.id, "name": call.name, "arguments": call.arguments, "output": output,
                                "outcome": outcome, "duration_s": duration})
