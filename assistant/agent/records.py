"""What an agent run leaves behind: one ``Step`` per model call, the ``RunResult``, and the
``AgentEvent`` stream a CLI or a bot renders. Re-exported by ``assistant.agent``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..messages import Attempt, Message, ToolCall, Usage, trusted

__all__ = ["ToolMode", "StopReason", "ToolOutcome", "ToolResult", "Step", "RunResult", "AgentEvent", "AgentEventType", "event",
           "fill"]

# How tools reach the model on a step: the provider's own tool calling, the <tool_call> text
# protocol in the system prompt, or JSON actions under a grammar (llama.cpp).
ToolMode = Literal["native", "prompt", "grammar"]
# "length": the final answer was cut by the output limit (never reported as "final").
StopReason = Literal["final", "max_steps", "length"]
ToolOutcome = Literal["ok", "error", "invalid_arguments", "unknown_tool", "timeout", "repeated"]
AgentEventType = Literal[
    "step_start", "text", "reasoning", "status", "tool_call", "tool_result", "step_discarded", "step_end", "done"
]


class _Record(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")


class ToolResult(_Record):
    """One tool call's observation; ``outcome`` says whether the tool ran and how it went."""

    call_id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    output: str = ""
    outcome: ToolOutcome = "ok"
    duration_s: float = 0.0


class Step(_Record):
    """One model call and the tool calls it asked for. Corrections of invalid calls keep the step's
    ``number`` and count up ``correction``; ``reruns`` counts answers discarded and re-run (a stream that
    broke off, a tool call cut by the output limit; ``discarded`` says why for the latter)."""

    number: int
    correction: int = 0
    tools_offered: bool = True
    mode: ToolMode = "native"
    model: str = ""
    text: str = ""
    reasoning: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_results: list[ToolResult] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    reruns: int = 0
    # Why each discarded answer of this step was not used (a tool call cut off, and by whom).
    discarded: list[str] = Field(default_factory=list)
    started_at: float = 0.0
    llm_s: float = 0.0
    tools_s: float = 0.0
    duration_s: float = 0.0

    @classmethod
    def begin(cls, number: int, correction: int, tools_offered: bool, started_at: float) -> Step:
        """A fresh step, built without re-validation (the agent loop makes one per model call)."""
        usage = trusted(Usage, {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0, "reasoning_tokens": 0,
                                "cache_write_tokens": 0, "cost": None})
        return trusted(cls, {
            "number": number, "correction": correction, "tools_offered": tools_offered, "mode": "native", "model": "",
            "text": "", "reasoning": None, "tool_calls": [], "tool_results": [], "attempts": [], "usage": usage,
            "finish_reason": None, "reruns": 0, "discarded": [], "started_at": started_at, "llm_s": 0.0, "tools_s": 0.0,
            "duration_s": 0.0,
        })

    @property
    def needs_correction(self) -> bool:
        return any(r.outcome in ("invalid_arguments", "unknown_tool") for r in self.tool_results)


class RunResult(_Record):
    """The answer and how it was reached. ``messages`` is the conversation without the system
    prompt, ready to pass back as ``history`` for the next turn."""

    output: str
    steps: list[Step] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    attempts: list[Attempt] = Field(default_factory=list)
    stop_reason: StopReason = "final"
    messages: list[Message] = Field(default_factory=list)
    duration_s: float = 0.0

    @property
    def cost(self) -> float | None:
        """USD for the whole run (every answered call); None when no price was known."""
        return self.usage.cost


class AgentEvent(_Record):
    """One thing that happened during a run, in order. ``done`` is last and carries the ``RunResult``.

    - ``step_start`` / ``step_end`` (``record`` holds the finished ``Step``)
    - ``text`` / ``reasoning``: streamed model output (tool-call markup never appears in ``text``)
    - ``status``: the router's notes (a wait, a model switch) with ``attempt`` when it reports a hop
    - ``tool_call`` / ``tool_result``: a call the model made and its observation
    - ``step_discarded``: the stream died mid-answer; what was shown for this step is void and the
      step runs again on the next candidate (``attempt`` says which model failed and why)
    """

    type: AgentEventType
    step: int = 0
    text: str | None = None
    tool_call: ToolCall | None = None
    tool_result: ToolResult | None = None
    attempt: Attempt | None = None
    record: Step | None = None
    result: RunResult | None = None


def fill(record: Step, **values: Any) -> None:
    """Set several fields of a step begun with ``Step.begin`` (every field already counts as set): what
    one assignment each does, without pydantic's per-assignment hook (no validation happens either way)."""
    record.__dict__.update(values)


def event(type: AgentEventType, step: int, *, text: str | None = None, tool_call: ToolCall | None = None,
          tool_result: ToolResult | None = None, attempt: Attempt | None = None, record: Step | None = None,
          result: RunResult | None = None) -> AgentEvent:
    """An event built without re-validation (the engine made every field itself)."""
    return trusted(AgentEvent, {"type": type, "step": step, "text": text, "tool_call": tool_call,
                                "tool_result": tool_result, "attempt": attempt, "record": record, "result": result})
