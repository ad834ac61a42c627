"""Fitting a conversation that has outgrown a model's window, instead of dead-ending.

``compact`` applies these rules in order and stops as soon as the prompt fits ``budget_tokens``:

1. ``shorten_tool_results``: a tool result over a quarter of the budget keeps its head and tail, with
   a marker saying what was cut.
2. ``summarize``: the oldest turns become one note in the system prompt, written by ``summarize`` (the
   ``summary`` model role through the router when a ``Compactor`` wraps one); it aims below 75% of the
   budget so the next steps do not compact again at once. A note from an earlier compaction is folded
   into the new one.
3. ``drop_oldest``: the oldest turns go (the note says how many).
4. Still too big: the tool results that must stay are cut harder, then the note goes.

Never touched: the system prompt, the latest user message and the latest step. Older turns go whole
(a user message and all that answered it), steps of the current turn go as an assistant tool call with
its results: a call is never separated from its result. When even the untouchable part does not fit,
``ContextOverflowError`` states the sizes and what to change. Every rule that fired is a
``CompactionStep`` so the router and agent can show it.

    result = await compact(messages, budget_tokens=3000, model_id="small/smollm2", summarize=my_fn)
    router.compactor = Compactor(router)       # summaries by the "summary" model role
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..errors import ContextOverflowError
from ..messages import Message, ToolSpec
from ._recovery import (
    CONTINUE_INSTRUCTION,
    build_continuation,
    continue_if_cut,
    join_parts,
    num_ctx_for,
    ollama_truncated,
)
from ._summarize import (
    NOTE_HEADER,
    Summarize,
    first_sentences,
    render_transcript,
    router_summarizer,
    shorten_text,
    split_note,
    with_note,
)
from .tokens import REPLY_OVERHEAD, estimate_text, estimate_tokens

__all__ = [
    "CompactionStep",
    "CompactionResult",
    "Compacted",
    "Compactor",
    "compact",
    "Summarize",
    "router_summarizer",
    "shorten_text",
    "split_note",
    "with_note",
    "NOTE_HEADER",
    "continue_if_cut",
    "build_continuation",
    "CONTINUE_INSTRUCTION",
    "join_parts",
    "ollama_truncated",
    "num_ctx_for",
]

log = logging.getLogger(__name__)

StepKind = Literal["shorten_tool_results", "summarize", "summary_failed", "drop_oldest", "drop_note"]

MIN_TOOL_RESULT_TOKENS = 200
_FLOOR_TOOL_RESULT_TOKENS = 48


class CompactionStep(BaseModel):
    """One rule that fired: what it did, to how many messages, and the prompt size before and after."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    kind: StepKind
    detail: str
    messages: int = 0
    tokens_before: int = 0
    tokens_after: int = 0

    def describe(self) -> str:
        """One line for a status event or log."""
        return f"context compacted ({self.kind}): {self.detail} ({self.tokens_before} -> {self.tokens_after} tokens)"


class CompactionResult(BaseModel):
    """The compacted messages, the steps taken and the estimated prompt size before and after."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    messages: list[Message]
    steps: list[CompactionStep]
    tokens_before: int
    tokens_after: int
    # The condensed-history note now in the system prompt, when there is one.
    summary: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.steps)


class Compacted(list):  # type: ignore[type-arg]
    """A ``list[Message]`` (what the router sends next) that also carries the ``CompactionResult``."""

    def __init__(self, result: CompactionResult) -> None:
        super().__init__(result.messages)
        self.result = result

    @property
    def steps(self) -> list[CompactionStep]:
        return self.result.steps


class _Work:
    """The conversation being compacted: system messages, the note, and the body in units."""

    def __init__(self, messages: Sequence[Message], tools: Sequence[ToolSpec], model_id: str | None) -> None:
        start = 0
        while start < len(messages) and messages[start].role == "system":
            start += 1
        self.head = list(messages[:start])
        self.note: str | None = None
        self.dropped = 0
        if self.head:
            base, self.note = split_note(self.head[0].content)
            if self.note is not None:
                self.head[0] = self.head[0].model_copy(update={"content": base})
        self.units = _units(messages[start:])
        last_user = max((i for i, u in enumerate(self.units) if u[0].role == "user"), default=None)
        keep = {len(self.units) - 1, last_user} - {None}
        self.protected = {id(self.units[i]) for i in keep}
        self.tools = tools
        self.model_id = model_id

    def messages(self) -> list[Message]:
        note = self.note
        if self.dropped:
            line = f"({self.dropped} older message(s) were dropped without a summary to fit the context window.)"
            note = f"{note}\n{line}" if note else line
        system = with_note(self.head[0] if self.head else None, note)
        out = [system] if system is not None else []
        out += self.head[1:]
        for unit in self.units:
            out += unit
        return out

    def tokens(self) -> int:
        return estimate_tokens(self.messages(), self.tools, model_id=self.model_id)

    def free_units(self) -> list[list[Message]]:
        """Units that may be summarised or dropped, oldest first."""
        return [unit for unit in self.units if id(unit) not in self.protected]

    def shorten_tool_results(self, cap: int) -> int:
        changed = 0
        for unit in self.units:
            for k, message in enumerate(unit):
                if message.role == "tool" and estimate_text(message.content, model_id=self.model_id) > cap:
                    short = shorten_text(message.content, cap, model_id=self.model_id)
                    if short != message.content:
                        unit[k] = message.model_copy(update={"content": short})
                        changed += 1
        return changed


def _units(body: Sequence[Message]) -> list[list[Message]]:
    """Split into what is summarised or dropped as a whole. Before the latest user message: turns (a
    user message and everything up to the next one), so what remains still starts with a user turn
    (Anthropic and Gemini require that). After it: steps (an assistant turn with tool calls and the
    tool results right after it; any other message alone)."""
    last_user = max((i for i, m in enumerate(body) if m.role == "user"), default=-1)
    units: list[list[Message]] = []
    for i, message in enumerate(body[: max(last_user, 0)]):
        if not units or message.role == "user":
            units.append([])
        units[-1].append(message)
    if last_user >= 0:
        units.append([body[last_user]])
    i = last_user + 1
    while i < len(body):
        j = i + 1
        if body[i].role == "assistant" and body[i].tool_calls:
            while j < len(body) and body[j].role == "tool":
                j += 1
        units.append(list(body[i:j]))
        i = j
    return units


async def compact(
    messages: Sequence[Message],
    *,
    budget_tokens: int,
    model_id: str | None = None,
    summarize: Summarize | None = None,
    tools: Sequence[ToolSpec] = (),
    target_ratio: float = 0.75,
    summary_chunk_tokens: int = 3000,
    max_summary_calls: int = 3,
    on_step: Callable[[CompactionStep], Any] | None = None,
) -> CompactionResult:
    """Fit ``messages`` (+ ``tools``) into ``budget_tokens`` of prompt (window minus the reply's
    ``max_tokens``) by the rules in the module docstring. ``summarize`` is ``async fn(text) -> str``;
    without one, rule 2 is skipped. Raises ``ContextOverflowError`` when nothing can make it fit.

        result = await compact(history, budget_tokens=3500, model_id="llama/smollm2", summarize=fake)
    """
    work = _Work(messages, tools, model_id)
    before = current = work.tokens()
    steps: list[CompactionStep] = []

    def record(kind: StepKind, detail: str, count: int, old: int) -> int:
        new = work.tokens()
        step = CompactionStep(kind=kind, detail=detail, messages=count, tokens_before=old, tokens_after=new)
        steps.append(step)
        log.info("%s", step.describe())
        if on_step is not None:
            on_step(step)
        return new

    cap = max(MIN_TOOL_RESULT_TOKENS, budget_tokens // 4)
    if current > budget_tokens:
        current = _shorten_tool_results(work, cap, current, record, "")
    if current > budget_tokens and summarize is not None:
        target = int(budget_tokens * target_ratio)
        current = await _summarize_oldest(work, summarize, target, summary_chunk_tokens, max_summary_calls, current, record)
    if current > budget_tokens:
        current = _drop_oldest(work, budget_tokens, current, record)
    while current > budget_tokens and (cap := cap // 2) >= _FLOOR_TOOL_RESULT_TOKENS:
        current = _shorten_tool_results(work, cap, current, record, "kept ")
    if current > budget_tokens and (work.note or work.dropped):
        work.note, work.dropped = None, 0
        current = record("drop_note", "removed the condensed-history note", 0, current)
    if current > budget_tokens:
        raise _overflow(work, current, budget_tokens)
    return CompactionResult(messages=work.messages(), steps=steps, tokens_before=before, tokens_after=current, summary=work.note)


_Recorder = Callable[[StepKind, str, int, int], int]


def _shorten_tool_results(work: _Work, cap: int, current: int, record: _Recorder, which: str) -> int:
    count = work.shorten_tool_results(cap)
    if not count:
        return current
    return record("shorten_tool_results", f"cut {count} {which}tool result(s) to about {cap} tokens each", count, current)


def _drop_oldest(work: _Work, budget: int, current: int, record: _Recorder) -> int:
    old = current
    dropped = 0
    while current > budget and (free := work.free_units()):
        work.units = [unit for unit in work.units if unit is not free[0]]
        dropped += len(free[0])
        work.dropped += len(free[0])
        current = work.tokens()
    return record("drop_oldest", f"dropped the {dropped} oldest message(s)", dropped, old) if dropped else current


async def _summarize_oldest(
    work: _Work,
    summarize: Summarize,
    target: int,
    chunk_tokens: int,
    max_calls: int,
    current: int,
    record: _Recorder,
) -> int:
    old = current
    summarised = calls = 0
    while current > target and calls < max_calls:
        chunk: list[list[Message]] = []
        size = 0
        for unit in work.free_units():
            if chunk and (size >= current - target or size >= chunk_tokens):
                break
            chunk.append(unit)
            size += estimate_tokens(unit, model_id=work.model_id) - REPLY_OVERHEAD
        if not chunk:
            break
        flat = [m for unit in chunk for m in unit]
        try:
            note = (await summarize(render_transcript(flat, work.note, max_chars=chunk_tokens * 4))).strip()
        except Exception as exc:  # a failing summary model must not sink the conversation: drop instead
            detail = f"summary model failed ({type(exc).__name__}: {exc}); dropping turns instead"
            current = record("summary_failed", detail, 0, current)
            break
        calls += 1
        work.units = [unit for unit in work.units if all(unit is not taken for taken in chunk)]
        note = note or f"({len(flat)} earlier messages were removed; the summary model returned nothing.)"
        work.note = first_sentences(note, max(32, target // 4), model_id=work.model_id) or note[:200]
        summarised += len(flat)
        current = work.tokens()
    if summarised:
        detail = f"condensed the {summarised} oldest message(s) into a note ({calls} summary call(s))"
        current = record("summarize", detail, summarised, old)
    return current


def _overflow(work: _Work, current: int, budget: int) -> ContextOverflowError:
    def size(messages: list[Message]) -> int:
        return estimate_tokens(messages, model_id=work.model_id) - REPLY_OVERHEAD

    system = size(work.head)
    kept = [unit for unit in work.units if id(unit) in work.protected]
    user = size(next((u for u in kept if u[0].role == "user"), []))
    step = size(kept[-1]) if kept and kept[-1][0].role != "user" else 0
    tools = estimate_tokens([], work.tools, model_id=work.model_id) - REPLY_OVERHEAD if work.tools else 0
    parts = [f"system prompt ~{system}", f"latest user message ~{user}"]
    if step:
        parts.append(f"latest step ~{step}")
    if tools:
        parts.append(f"{len(work.tools)} tool spec(s) ~{tools}")
    where = f" on {work.model_id}" if work.model_id else ""
    message = (
        f"the conversation cannot be compacted to fit{where}: what must stay ({', '.join(parts)}) needs ~{current} "
        f"prompt tokens but only {budget} are available. Shorten the latest message or the system prompt, offer "
        "fewer tools, lower max_tokens, or use a model with a bigger context window."
    )
    provider, _, model = (work.model_id or "").partition("/")
    return ContextOverflowError(message, prompt_tokens=current, provider=provider, model=model)


class Compactor:
    """The router's compaction hook: ``await compactor(messages, budget_tokens, model_id)`` returns a
    ``Compacted`` list (its ``.steps`` say what happened). ``summarizer`` is a router (summaries come
    from the ``summary`` model role, sized to the budget so a small model can write them), an
    ``async fn(text) -> str``, or None (drop old turns, never summarise).

        router.compactor = Compactor(router)
    """

    def __init__(
        self,
        summarizer: Any = None,
        *,
        on_step: Callable[[CompactionStep], Any] | None = None,
        target_ratio: float = 0.75,
        summary_chunk_tokens: int = 3000,
        summary_max_tokens: int = 400,
        max_summary_calls: int = 3,
    ) -> None:
        self._router = summarizer if summarizer is not None and hasattr(summarizer, "chat") else None
        self._summarize: Summarize | None = None if self._router is not None else summarizer
        self._on_step = on_step
        self._target_ratio = target_ratio
        self._chunk = summary_chunk_tokens
        self._summary_max = summary_max_tokens
        self._max_calls = max_summary_calls

    def __repr__(self) -> str:
        return f"Compactor(router={self._router is not None}, summarize={self._summarize is not None})"

    async def __call__(
        self,
        messages: Sequence[Message],
        budget_tokens: int,
        model_id: str | None = None,
        *,
        tools: Sequence[ToolSpec] = (),
    ) -> Compacted:
        summarize = self._summarize
        if self._router is not None:
            # The summary model may be the small model that overflowed: its request must fit there too.
            summarize = router_summarizer(self._router, max_tokens=min(self._summary_max, max(64, budget_tokens // 4)),
                                          fallback=model_id)
        result = await compact(
            messages,
            budget_tokens=budget_tokens,
            model_id=model_id,
            summarize=summarize,
            tools=tools,
            target_ratio=self._target_ratio,
            summary_chunk_tokens=min(self._chunk, max(100, budget_tokens // 2)),
            max_summary_calls=self._max_calls,
            on_step=self._on_step,
        )
        return Compacted(result)
