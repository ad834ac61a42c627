"""Which models a router call may use, and why one is passed over.

``plan`` turns the caller's ``model`` (an id, a list of ids, or ``"auto"``) into ``Candidate`` rows
with what is known about each (window, tool support) from the free-model entry or the catalog cache.
``screen`` says why a candidate cannot help right now, as an error kind and a detail for the
``Attempt``; it only reads memory (registry, cached health), never the network or the disk.

    for cand in plan("auto", needs_tools=True, registry=reg, free_models=store, catalog=None): ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import orjson

from ..messages import Message, ToolSpec
from ..registry import LLMRegistry, split_model_id
from .health import HealthStore

if TYPE_CHECKING:
    from ._route import Route

__all__ = ["UNASKED", "Candidate", "RunState", "plan", "screen", "reply_room", "DEFAULT_CHAIN", "LEARNED_SOURCE", "REPLY_SHARE"]

# ``Candidate.info`` of a candidate whose catalog entry was not looked up.
UNASKED: Any = object()
# "auto" before the free-models store exists: the embedded local model.
DEFAULT_CHAIN = ("llama/smollm2",)
# How ``ModelCatalog.sources`` marks a window learned at run time ("learned from a context overflow error").
LEARNED_SOURCE = "learned"
# The room kept for the answer is at most this share of the window, so a small window keeps most of
# itself for the prompt (a max_tokens above it is lowered to what the prompt leaves, not fatal).
REPLY_SHARE = 0.25
# Without max_tokens, the room kept for the answer on a big window.
DEFAULT_REPLY_ROOM = 4096
# Token-count ratios (real / estimated) outside these bounds are bad samples and are ignored.
_RATIO_BOUNDS = (0.4, 2.5)


def reply_room(window: int, max_tokens: int | None) -> int:
    """Tokens of ``window`` kept for the answer: ``max_tokens`` (or ``DEFAULT_REPLY_ROOM``), at most a
    quarter of the window.

        reply_room(512, 1024) == 128; reply_room(128_000, None) == 4096; reply_room(4096, 16) == 16
    """
    share = max(int(window * REPLY_SHARE), 1)
    return min(max_tokens, share) if max_tokens else min(DEFAULT_REPLY_ROOM, share)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model the call may use: ``provider/model`` and what is known about it (None: unknown)."""

    model_id: str
    provider: str
    model: str
    window: int | None = None
    supports_tools: bool | None = None
    # From the free-models list (``"auto"``): passing it over costs nothing but a step down the chain.
    free_entry: bool = False
    # The catalog's ``ModelInfo`` (or None) when the candidate was planned; ``UNASKED`` when not looked up.
    info: Any = field(default=UNASKED, compare=False, repr=False)


# What a call has learned starts empty and is replaced, never changed in place, when it learns more
# (rarely: an overflow, a refusal): a call that learns nothing allocates nothing for it.
_NOTHING: Mapping[str, Any] = MappingProxyType({})


@dataclass(slots=True, init=False)
class RunState:
    """What one router call has learned so far (shared by every candidate it tries). The collections
    of what it learned are immutable values, replaced by the methods that add to them (``learn``,
    ``note``, ...)."""

    messages: list[Message]
    tools: list[ToolSpec]
    max_tokens: int | None
    estimate: int | None
    bound: int | None
    # After a context overflow only windows of at least this size are worth a try.
    min_window: int
    overflowed: tuple[Candidate, ...]
    # Skipped because the prompt would not fit: what a compacted history could still use.
    too_small: tuple[Candidate, ...]
    no_tools: frozenset[str]
    learned: Mapping[str, int]
    # model name (the part after the provider) -> real / estimated prompt tokens, from a server's
    # /tokenize or the size an overflow error stated; a model's tokenizer is the same on every server.
    ratios: Mapping[str, float]
    # Where ratios learned in earlier calls live (``ModelCatalog.token_ratio``), when the router has one.
    catalog: Any
    # What the call changed on the way (a lowered max_tokens), for the answer's attempt.
    notes: tuple[str, ...]
    # Model ids whose server was asked for the prompt's exact size in this call.
    measured: frozenset[str]
    # Some message carries an image or a document (None: not looked yet).
    attached: bool | None

    def __init__(self, messages: list[Message], tools: list[ToolSpec], max_tokens: int | None, catalog: Any = None) -> None:
        # One router call makes one of these: plain assignments, not a dataclass __init__ of defaults.
        self.messages, self.tools, self.max_tokens, self.catalog = messages, tools, max_tokens, catalog
        self.estimate = self.bound = self.attached = None
        self.min_window = 0
        self.overflowed = self.too_small = self.notes = ()
        self.no_tools = self.measured = frozenset()
        self.learned = self.ratios = _NOTHING

    def learn(self, model_id: str, window: int) -> None:
        """``model_id``'s window as this call learned it (from an overflow, its server, a cut prompt)."""
        self.learned = {**self.learned, model_id: window}

    def note(self, text: str) -> None:
        """A change made on the way, for the answer's attempt (once)."""
        if text not in self.notes:
            self.notes = (*self.notes, text)

    @property
    def attachments(self) -> bool:
        """True when some message of the prompt carries an attachment (looked at once per history)."""
        if self.attached is None:
            self.attached = False
            for message in self.messages:  # (a loop: ``any`` over a generator costs four times as much)
                if message.attachments:
                    self.attached = True
                    break
        return self.attached

    def raw_tokens(self, model_id: str) -> int:
        """The prompt's size by ``context.estimate_tokens`` (computed once per call)."""
        if self.estimate is None:
            self.estimate = _estimate(self.messages, self.tools, model_id)
        return self.estimate

    def tokens(self, model_id: str) -> int:
        """The prompt's size on ``model_id``: the estimate, calibrated when its real size was measured."""
        raw = self.raw_tokens(model_id)
        return max(int(raw * self.ratio(model_id) + 0.999), 1)

    def ratio(self, model_id: str) -> float:
        """Real / estimated tokens for ``model_id`` (1.0 until measured)."""
        name = _model_name(model_id)
        found = self.ratios.get(name)
        if found is None:
            lookup = getattr(self.catalog, "token_ratio", None)
            found = (lookup(model_id) if lookup is not None else None) or 1.0
            self.ratios = {**self.ratios, name: found}
        return found

    def calibrate(self, model_id: str, real: int) -> float | None:
        """Remember that this call's prompt is ``real`` tokens on ``model_id``; returns the ratio kept."""
        raw = self.raw_tokens(model_id)
        if real <= 0 or raw <= 0:
            return None
        ratio = real / raw
        if not _RATIO_BOUNDS[0] <= ratio <= _RATIO_BOUNDS[1]:
            return None  # not this prompt's size (another prompt, a proxy's own count): ignored
        self.ratios = {**self.ratios, _model_name(model_id): ratio}
        remember = getattr(self.catalog, "calibrate", None)
        if remember is not None:
            remember(model_id, ratio)
        return ratio

    def upper_bound(self) -> int:
        """A cheap ceiling on the prompt's tokens (a token is at least one character, plus framing),
        so a roomy window needs no real estimate."""
        if self.bound is None:
            chars = sum(len(m.content) + 16 + sum(len(c.name) + 64 for c in m.tool_calls) for m in self.messages)
            chars += sum(len(orjson.dumps(t.parameters)) + len(t.name) + len(t.description) + 16 for t in self.tools)
            self.bound = chars + 16
        return self.bound

    def reset_messages(self, messages: list[Message]) -> None:
        self.messages = list(messages)
        self.estimate = self.bound = self.attached = None
        self.min_window = 0
        self.overflowed = self.too_small = ()

    def window(self, cand: Candidate) -> int | None:
        """The best known window of ``cand``: learned during this call, else listed."""
        return self.learned.get(cand.model_id) or cand.window

    def overflow(self, cand: Candidate, window: int | None, prompt_tokens: int | None) -> bool:
        """``cand`` said the request does not fit (stating its window and the prompt's size, if it did).
        True when the prompt itself fits that window and only the room asked for the answer did not:
        the same candidate is then worth another try with a lower max_tokens."""
        if window:
            self.learn(cand.model_id, window)
        if prompt_tokens:
            self.calibrate(cand.model_id, prompt_tokens)
        window = window or self.window(cand) or 0
        prompt = prompt_tokens or self.tokens(cand.model_id)
        if window and self.max_tokens and prompt + reply_room(window, self.max_tokens) <= window < prompt + self.max_tokens:
            if not any(c.model_id == cand.model_id for c in self.overflowed):
                self.overflowed = (*self.overflowed, cand)
                return True
        # Never resend this prompt to the same or a smaller window.
        self.min_window = max(self.min_window, prompt + 1, window + 1)
        self.overflowed = (*self.overflowed, cand)
        return False

    def reply_limit(self, cand: Candidate) -> int | None:
        """A max_tokens that fits ``cand``'s known window with this prompt, when the one asked for
        does not: the room kept for the answer (``reply_room``). None: keep what was asked."""
        window = self.window(cand)
        if not window or not self.max_tokens or self.upper_bound() + self.max_tokens <= window:
            return None  # (a prompt far below the window needs no estimate)
        room = window - self.tokens(cand.model_id)
        if self.max_tokens <= room:
            return None
        # The room kept for answers, not all that is left: an answer that fills a small window
        # leaves the next turn nothing but compaction.
        return max(min(room, reply_room(window, self.max_tokens)), 1)

    def budget(self, cand: Candidate) -> int:
        """How many tokens (as ``context.estimate_tokens`` counts them) a compacted history may take to
        fit ``cand``: its window less room for the answer and 10% headroom."""
        window = self.window(cand)
        if not window:
            return max(self.raw_tokens(cand.model_id) // 2, 1)
        real = max(int(window * 0.9) - reply_room(window, self.max_tokens), window // 4)
        return max(int(real / self.ratio(cand.model_id)), 1)


def plan(
    model: str | Sequence[str],
    *,
    needs_tools: bool,
    registry: LLMRegistry,
    free_models: Any,
    catalog: Any,
) -> list[Candidate]:
    """The candidates for ``model``: one id, an explicit chain, or ``"auto"`` (free-model chain)."""
    if isinstance(model, str) and model.strip().lower() == "auto":
        entries = _auto_chain(free_models, needs_tools, registry)
        return [_candidate(e, registry, catalog) for e in entries]
    ids = (model,) if isinstance(model, str) else model
    return [_candidate(i, registry, catalog) for i in ids]


def _auto_chain(free_models: Any, needs_tools: bool, registry: LLMRegistry) -> list[Any]:
    if free_models is None:
        return [_embedded_id()]
    chain = _usable(free_models.fallback_chain(tools=needs_tools), registry)
    if not chain and needs_tools:
        # No tool-capable free model: the plain chain still works through prompt-guided tools.
        chain = _usable(free_models.fallback_chain(tools=False), registry)
    return chain or [_embedded_id()]


def _embedded_id() -> str:
    # The model the embedded server serves (or would): Qwen2.5-Coder by default, SmolLM2 as fallback.
    from ..local import model_id

    return model_id()


def _usable(entries: Sequence[Any], registry: LLMRegistry) -> list[Any]:
    # Entries of providers without a key are left out quietly: "auto" should not list every
    # provider the user never signed up for as a failed attempt.
    return [e for e in entries if registry.configured(split_model_id(e.id)[0])]


def _candidate(entry: Any, registry: LLMRegistry, catalog: Any) -> Candidate:
    raw_id = entry if isinstance(entry, str) else entry.id
    provider, model = registry.parse(raw_id)
    model_id = raw_id if raw_id.startswith(provider + "/") else f"{provider}/{model}"
    window = None if isinstance(entry, str) else entry.context_window
    tools = None if isinstance(entry, str) else entry.supports_tools
    get = getattr(catalog, "get", None)
    info = get(model_id) if get is not None else None
    if info is not None:
        if not window or (info.context_window and info.context_window != window and _learned(catalog, model_id)):
            window = info.context_window or window
        tools = tools if tools is not None else info.supports_tools
    return Candidate(model_id, provider, model, window, tools, free_entry=not isinstance(entry, str),
                     info=info if get is not None else UNASKED)


def _learned(catalog: Any, model_id: str) -> bool:
    # A window a provider stated in an overflow error (or the num_ctx the router runs Ollama with)
    # is what the server really has; a free-models entry only says what the model was trained for.
    sources = getattr(catalog, "sources", None)
    return sources is not None and sources(model_id).get("context_window", "").startswith(LEARNED_SOURCE)


def screen(
    cand: Candidate,
    state: RunState,
    *,
    route: Route,
    health: HealthStore,
    allow_prompt_tools: bool,
    now: float,
    probe: bool = True,
    resting: bool = True,
) -> tuple[str, str] | None:
    """Why ``cand`` is passed over now, as ``(error kind, detail)``; None when it may be tried.
    ``route`` is what the registry says of it (``_route.Routes``). Checked last, the circuit breaker
    (``route.circuit``) reserves the half-open probe for this caller (``probe``; without it a half-open
    circuit just counts as usable). ``resting=False`` ignores cooldowns and open circuits (the last
    resort of a call)."""
    if route.unusable is not None:
        return route.unusable
    doc = health.doc
    if doc.providers:
        entry = doc.providers.get(cand.provider)
        if entry is not None and entry.disabled is not None:
            return entry.disabled.kind, f"{cand.provider} auto-disabled: {entry.disabled.detail}"
    if resting and doc.cooldowns:
        for key in (cand.provider, cand.model_id):
            cooling = health.cooldown(key, now)
            if cooling is not None:
                return "rate_limit", f"{key} cooling down for {cooling.until - now:.0f}s more ({cooling.detail})"
    if state.tools and (cand.model_id in state.no_tools or (cand.supports_tools is False and not allow_prompt_tools)):
        return "tools_unsupported", "model cannot call tools"
    if state.min_window or (state.learned.get(cand.model_id) or cand.window) is not None:  # (state.window inline)
        reason = _window_reason(cand, state)
        if reason is not None:
            return "context_overflow", reason
    if resting and doc.circuits:
        entry = doc.circuits.get(route.circuit)
        # A circuit that never opened is closed: nothing to ask the breaker.
        if entry is not None and entry.opened_at is not None and (
                not health.admit(route.circuit, now) if probe else health.breaker_state(route.circuit, now) == "open"):
            return "transient", f"{cand.provider} circuit open after repeated failures"
    return None


def _window_reason(cand: Candidate, state: RunState) -> str | None:
    # A window nobody knows is tried: the provider says when the prompt does not fit. Only a window
    # known too small is passed over, and a prompt never goes back to a window that refused it.
    if state.min_window and any(c.model_id == cand.model_id for c in state.overflowed):
        return "the prompt already overflowed this model"
    window = state.window(cand)
    if window is None:
        return None
    if window < state.min_window:
        return f"window {window} < {state.min_window} tokens needed"
    reply = reply_room(window, state.max_tokens)
    if window >= state.upper_bound() + reply:
        return None
    need = state.tokens(cand.model_id) + reply
    if window < need:
        return f"window {window} < ~{need} tokens (prompt + {reply} for the answer)"
    return None


def _model_name(model_id: str) -> str:
    return model_id.partition("/")[2] or model_id


def _estimate(messages: Sequence[Message], tools: Sequence[ToolSpec], model_id: str) -> int:
    try:
        from ..context.tokens import estimate_tokens
    except ImportError:  # pragma: no cover - tokens ships with the engine
        return sum(len(m.content) for m in messages) // 3
    return estimate_tokens(messages, tools, model_id=model_id)
