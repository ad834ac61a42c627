"""One router call's records: the request template, what the call learned and every hop it made
(``Call``), how one candidate is being tried (``Tries``), and the request each try sends.

    call = Call(template(messages, tools, {"max_tokens": 50}, stream=False), streaming=False)
    event = hop(call, cand, "rate_limit", 429, 1.0, "HTTP 429 slow down; retrying in 1.0s")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .. import telemetry
from ..errors import UsageError
from ..messages import Attempt, ChatRequest, ChatResponse, Message, StreamEvent, ToolSpec, trusted
from . import _prompt_mode
from ._candidates import Candidate, RunState

__all__ = ["OPTIONS", "Call", "Tries", "template", "hop", "build_request"]

OPTIONS = frozenset({"tool_choice", "max_tokens", "temperature", "reasoning", "response_schema", "stop", "extra"})
_MESSAGE, _TOOL_SPEC = {Message}, {ToolSpec}


@dataclass(slots=True, init=False)
class Call:
    """One router call: the request (the first candidate fills in its model), what was learned, every hop."""

    request: ChatRequest
    streaming: bool
    state: RunState
    attempts: list[Attempt]
    response: ChatResponse | None
    trace: Any  # the call's telemetry span: each hop becomes a span below it
    # Candidates left only because they rest (a cooldown, an open circuit): the call's last resort.
    resting: tuple[Candidate, ...]
    # Candidates left after a transient failure while others could serve: retried after them.
    later: tuple[Candidate, ...]
    # How each candidate is being tried, kept across the rounds of the call.
    tries: dict[str, Tries]
    # A failure already cost a whole answer: the next candidates are raced two at a time.
    racing: bool

    def __init__(self, request: ChatRequest, streaming: bool) -> None:
        self.request, self.streaming = request, streaming
        self.state = RunState(request.messages, request.tools, request.max_tokens)
        self.attempts, self.response, self.trace = [], None, None
        self.resting = self.later = ()  # (replaced when a candidate joins: most calls add none)
        self.tries, self.racing = {}, False


@dataclass(slots=True, init=False)
class Tries:
    """How one candidate is being tried: its keys, failure counts, and what earlier failures switched."""

    keys: Sequence[str]
    key_i: int
    prompt_mode: bool
    drop_choice: bool
    tries: int
    rate_tries: int
    first_failure: float | None
    # When a candidate left for later may be sent to again (its backoff after a transient failure).
    ready_at: float
    fresh_keys: int

    def __init__(self, keys: Sequence[str], key_i: int, *, prompt_mode: bool = False) -> None:
        self.keys, self.key_i, self.prompt_mode, self.drop_choice = keys, key_i, prompt_mode, False
        self.tries = self.rate_tries = 0
        self.first_failure, self.ready_at = None, 0.0
        self.fresh_keys = max(len(keys) - 1, 0)


def template(messages: Sequence[Message], tools: Sequence[ToolSpec], options: dict[str, Any], *, stream: bool) -> ChatRequest:
    """The request every candidate gets (with its own model name); bad options are the caller's mistake."""
    if options and (unknown := options.keys() - OPTIONS):
        raise UsageError(f"unknown router option(s) {sorted(unknown)}; use {', '.join(sorted(OPTIONS))}")
    if (set(map(type, messages)) == _MESSAGE and (not tools or set(map(type, tools)) == _TOOL_SPEC)
            and (not options or ("extra" not in options and all(v is None for v in options.values())))):
        # Nothing to check (our own records, every option unset): what validation would build.
        return trusted(ChatRequest, {
            "model": "", "messages": list(messages), "tools": list(tools), "tool_choice": None, "max_tokens": None,
            "temperature": None, "stream": stream, "reasoning": None, "stop": None, "response_schema": None, "extra": {},
        })
    try:
        return ChatRequest(model="", messages=list(messages), tools=list(tools), stream=stream, **options)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"bad router call: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def hop(call: Call, cand: Candidate, kind: str, status: int | None, wait: float, detail: str) -> StreamEvent:
    """Record a hop that did not answer; returns its ``status`` event (streams yield it)."""
    attempt = Attempt(provider=cand.provider, model=cand.model, kind=kind, status=status, wait_s=round(wait, 3), detail=detail)
    call.attempts.append(attempt)
    telemetry.attempt(call.trace, attempt)
    return StreamEvent(type="status", text=f"{cand.model_id}: {kind} - {detail}", attempt=attempt)


# A local server given no output cap generates until its window is full: one step of a small model
# wrote 1,606 tokens of repetition. Cloud providers apply their own default.
LOCAL_MAX_TOKENS = 1024


def build_request(call: Call, cand: Candidate, tries: Tries, num_ctx: int | None = None, *,
                  local: bool = False) -> ChatRequest:
    """What this try sends: the template with ``cand``'s model name, tools in the prompt or without
    ``tool_choice`` when earlier failures asked for it, Ollama's ``num_ctx`` when given, and an output
    cap for a local server when the caller set none."""
    request = call.request
    if not request.model:
        # The first candidate takes the template itself: no copy, and no trip through pydantic's
        # __setattr__ (the template was made with every field set, so ``model`` is among them).
        request.__dict__["model"] = cand.model
    cap = local and request.max_tokens is None
    if request.model == cand.model and not tries.prompt_mode and not tries.drop_choice and num_ctx is None and not cap:
        return request
    if tries.prompt_mode:
        request = _prompt_mode.prompt_request(request)
    changes: dict[str, Any] = {"model": cand.model}
    if tries.drop_choice:
        changes["tool_choice"] = None
    if num_ctx is not None:
        changes["extra"] = {**request.extra, "num_ctx": num_ctx}
    if cap:
        changes["max_tokens"] = LOCAL_MAX_TOKENS
    return request.model_copy(update=changes)
