"""Chat sessions for bots: one conversation per id, persisted, many at once, never outgrowing a window.

``ChatSession`` wraps an agent. Each ``send``/``stream`` call is one user turn:

- the user's message is on disk (append-only JSONL, fsynced; see ``assistant.chat.history``) before the
  model is asked, the answer's messages right after; a restart picks the conversation up again;
- turns of one conversation run one after another (a per-conversation lock); different
  conversations never wait for each other, and file writes run on the engine's own threads
  (``assistant.files.blocking``), which stuck tools cannot fill;
- a rolling summary stays ahead of the active model's window: when the history would pass its share
  of it (``HISTORY_SHARE``, less the agent's reply, system prompt and tools), the oldest turns are
  condensed (``assistant.context.Compactor``) and the summary is stored, so the agent gets the
  summary plus the recent turns;
- on first contact a greeting comes from the greeting model (``FreeModelsStore.greeting_model()``),
  and when the answer takes longer than ``interim_after`` seconds an interim reply comes from the
  interim model. Both are events (and ``on_event`` callbacks) and are stored as asides, outside the
  model's history.

    session = ChatSession(Agent(tools=[search]), "telegram:42", interim_after=5.0)
    result = await session.send("What's the weather in Lisbon?")
    async for event in session.stream("And tomorrow?"): ...

Part: chat sessions on top of an agent: the events a turn yields (``events``), persisted histories
(``history``), interim and greeting asides (``_asides``), summaries of old turns. May import every part
below it.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files.lazy import late_names

if TYPE_CHECKING:  # bound at run time by _bind()
    import asyncio
    import inspect
    import logging
    import uuid

    from ..context import Compactor
    from ..context._summarize import Summarize, split_note, with_note
    from ..context.tokens import estimate_tokens
    from ..errors import ContextOverflowError
    from ..files.blocking import run_blocking
    from ..messages import Message
    from ._asides import AsideKind, Asides
    from .events import ChatEvent, EventCallback
    from .history import AnyRecord, AsideRecord, HistoryStore, JsonlHistoryStore, Loaded, MessageRecord, SummaryRecord, TurnRecord

__all__ = ["ChatSession", "ChatEvent", "HISTORY_SHARE", "DEFAULT_WINDOW"]

DEFAULT_WINDOW = 8192
# The history (with the new message) may fill this share of the active model's window, less the
# agent's reply, system prompt and tool specs; the rest is headroom for the agent's own steps.
HISTORY_SHARE = 0.75

_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

# Importing the session loads neither pydantic nor asyncio: the first ``ChatSession()`` binds what its
# methods use (``_bind``), and these names load when first looked up here.
_LATE = {"ChatEvent": ".events", "EventCallback": ".events", "HistoryStore": ".history",
         "JsonlHistoryStore": ".history"}
_bound = False


def _bind() -> None:
    """Bind the session's collaborators as globals of this module: once, by the first ``ChatSession()``,
    so ``from assistant import ChatSession`` stays cheap (issue 14) and no turn pays an import statement."""
    global _bound, asyncio, inspect, log, uuid, Compactor, split_note, with_note, estimate_tokens
    global ContextOverflowError, run_blocking, Message, Asides, ChatEvent, JsonlHistoryStore, MessageRecord
    global SummaryRecord, TurnRecord
    import asyncio
    import inspect
    import logging
    import uuid

    from ..context import Compactor
    from ..context._summarize import split_note, with_note
    from ..context.tokens import estimate_tokens
    from ..errors import ContextOverflowError
    from ..files.blocking import run_blocking
    from ..messages import Message
    from ._asides import Asides
    from .events import ChatEvent
    from .history import JsonlHistoryStore, MessageRecord, SummaryRecord, TurnRecord
    log = logging.getLogger(__name__)
    _bound = True


__getattr__ = late_names(__name__, _LATE)


class ChatSession:
    """A persisted conversation over ``agent`` (see the module docstring). ``store`` is any
    ``HistoryStore`` (default: a ``JsonlHistoryStore`` under ``store_dir`` or ``ASSISTANT_HOME``).

        session = ChatSession(agent, "user-42", greeting=False)
        print((await session.send("hi")).output, len(session.history))
    """

    def __init__(
        self,
        agent: Any,
        conversation_id: str | None = None,
        *,
        store_dir: str | Path | None = None,
        greeting: bool = True,
        interim_after: float | None = None,
        on_event: EventCallback | None = None,
        router: Any = None,
        free_models: Any = None,
        summarize: Summarize | None = None,
        window_tokens: int | None = None,
        store: HistoryStore | None = None,
    ) -> None:
        if not _bound:
            _bind()
        self.agent = agent
        self.conversation_id = conversation_id or uuid.uuid4().hex
        self.greeting = greeting
        self.interim_after = interim_after
        self.on_event = on_event
        self.window_tokens = window_tokens
        self._router = router if router is not None else getattr(agent, "router", None)
        self._free_models = free_models if free_models is not None else getattr(self._router, "free_models", None)
        self._asides = Asides(self._router, self._free_models)
        # Summaries come from ``summarize``, else the router's "summary" model role, sized to the window.
        self._compactor = Compactor(summarize if summarize is not None else self._router)
        self._store: HistoryStore = store if store is not None else _open_store(self.conversation_id, store_dir)
        self._state: Loaded | None = None
        self._active_model: str | None = None
        self._conversation_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"ChatSession({self.conversation_id!r}, messages={len(self._state.messages) if self._state else '?'})"

    # -- what is stored

    @property
    def history(self) -> list[Message]:
        """Every message of the conversation so far (the full record, not the condensed context)."""
        return list(self._state.messages) if self._state else []

    @property
    def summary(self) -> str | None:
        """The rolling summary that stands in for the oldest turns, when one was written."""
        return self._state.summary.text if self._state and self._state.summary else None

    @property
    def asides(self) -> list[AsideRecord]:
        """Greetings and interim replies sent in this conversation."""
        return list(self._state.asides) if self._state else []

    @property
    def path(self) -> Path | str | None:
        """Where the conversation lives (a file, a Redis key), when its store says."""
        return getattr(self._store, "path", None)

    async def load(self) -> None:
        """Read the conversation from disk (done by the first ``send``/``stream``)."""
        if self._state is None:
            self._state = await run_blocking(self._store.load)

    # -- a turn

    async def send(self, text: str) -> Any:
        """One user turn; returns the agent's ``RunResult``. Greetings and interim replies go to ``on_event``.

            result = await session.send("hello")
        """
        result = None
        async for event in self.stream(text):
            if event.type == "reply":
                result = event.result
        return result

    async def stream(self, text: str) -> AsyncIterator[ChatEvent]:
        """One user turn as events (greeting, interim, summary, the agent's, then ``reply``).

            async for event in session.stream("hello"):
                if event.type in ("greeting", "interim", "reply"): await bot.say(event.text)
        """
        async with self._lock(), self._turn():
            await self.load()
            assert self._state is not None
            first_contact = not self._state.messages and not self._state.asides
            user = Message.user(text)
            context, summary_event = await self._context(user)
            if summary_event is not None:
                yield await self._emit(summary_event)
            await self._append([MessageRecord(message=user)])
            self._state.messages.append(user)
            queue: asyncio.Queue[ChatEvent | BaseException] = asyncio.Queue()
            main = asyncio.create_task(self._run(text, context, queue))
            greeting = asyncio.create_task(self._side("greeting", text, queue)) if first_contact and self.greeting else None
            interim = asyncio.create_task(self._interim(text, main, queue)) if self.interim_after is not None else None
            tasks = [t for t in (main, greeting, interim) if t is not None]
            try:
                async for event in _drain(queue, greeting, interim):
                    yield await self._emit(event)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def _lock(self) -> asyncio.Lock:
        """One lock per conversation file, shared by every session object for it in this process."""
        if self._conversation_lock is None:
            key = str(self.path or f"{type(self._store).__name__}:{self.conversation_id}")
            lock = _locks.get(key)
            if lock is None:
                lock = _locks[key] = asyncio.Lock()
            self._conversation_lock = lock  # held here so the weak map keeps it while the session lives
        return self._conversation_lock

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Across hosts: hold the conversation for this turn and start from what every host stored."""
        turn_lock = getattr(self._store, "turn_lock", None)
        if turn_lock is None or not getattr(self._store, "shared", False):
            yield
            return
        held = turn_lock()
        await asyncio.to_thread(held.__enter__)
        try:
            self._state = await asyncio.to_thread(self._store.load)
            yield
        finally:
            await asyncio.to_thread(held.__exit__, None, None, None)

    async def _emit(self, event: ChatEvent) -> ChatEvent:
        if self.on_event is not None:
            outcome = self.on_event(event)
            if inspect.isawaitable(outcome):
                await outcome
        return event

    async def _append(self, records: Sequence[AnyRecord]) -> None:
        await run_blocking(self._store.append, list(records))

    # -- the agent's run

    async def _run(self, text: str, context: list[Message], queue: asyncio.Queue[Any]) -> None:
        try:
            result = None
            stream = getattr(self.agent, "stream", None)
            if stream is not None:
                async for agent_event in stream(text, history=context):
                    if getattr(agent_event, "type", None) == "done":
                        result = agent_event.result
                    else:
                        await queue.put(ChatEvent(type="agent", text=getattr(agent_event, "text", None), agent_event=agent_event))
            else:
                result = await self.agent.run(text, history=context)
            new = _new_messages(result, text)
            # One record for the whole turn: a crash never keeps a tool call without its result.
            await self._append([TurnRecord(messages=new)])
            assert self._state is not None
            self._state.messages.extend(new)
            self._active_model = _answering_model(result) or self._active_model
            await queue.put(ChatEvent(type="reply", text=result.output, result=result))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the consumer, which re-raises it in the caller's task
            await queue.put(exc)

    # -- the rolling summary

    async def _context(self, user: Message) -> tuple[list[Message], ChatEvent | None]:
        """What the agent gets as history: the stored summary as a system note plus the turns after it;
        condensed first when, with the new message, it would pass its share of the active model's window."""
        assert self._state is not None
        state = self._state
        covers = state.summary.covers if state.summary else 0
        recent = state.messages[covers:]
        context = _with_summary(recent, state.summary.text if state.summary else None)
        await _probe_windows(self._router, self._candidate_ids())
        budget = self._history_budget()
        if len(recent) < 2 or estimate_tokens([*context, user], model_id=self._active_model) <= budget:
            return context, None
        try:
            compacted = await self._compactor([*context, user], budget, self._active_model)
        except ContextOverflowError as exc:  # the router gets another chance with the real window
            log.warning("conversation %s: history not condensed: %s", self.conversation_id, exc)
            return context, None
        kept = sum(1 for m in compacted if m.role != "system") - 1  # the new message is not history yet
        covers += len(recent) - kept
        record = SummaryRecord(text=_note_of(compacted) or "", covers=covers)
        await self._append([record])
        state.summary = record
        detail = "; ".join(step.detail for step in compacted.steps)
        return _with_summary(state.messages[covers:], record.text), ChatEvent(type="summary", text=detail)

    def _history_budget(self) -> int:
        """Tokens the history and the new message may take: ``HISTORY_SHARE`` of the window, less the
        reply the agent asks for and its own system prompt and tool specs."""
        window = self._window()
        # The router keeps at most a quarter of a window for the answer (lowering a bigger max_tokens).
        reply = min(getattr(self.agent, "max_tokens", None) or 1024, window // 4)
        own = [Message.system(getattr(self.agent, "system_prompt", "") or "")]
        overhead = estimate_tokens(own, getattr(self.agent, "tool_specs", None) or (), model_id=self._active_model)
        real = int(window * HISTORY_SHARE) - reply
        # The window is in the model's tokens, the estimate is not: scaled when a server measured both.
        ratio = self._token_ratio()
        return max(int(real / ratio) - overhead, 64)

    def _token_ratio(self) -> float:
        lookup = getattr(getattr(self._router, "catalog", None), "token_ratio", None)
        ids = self._candidate_ids()
        return (lookup(ids[0]) if lookup is not None and ids else None) or 1.0

    def _window(self) -> int:
        if self.window_tokens:
            return self.window_tokens
        for model_id in self._candidate_ids():
            window = _catalog_window(self._router, model_id) or _free_model_window(self._free_models, model_id)
            if window:
                return window
        return DEFAULT_WINDOW

    def _candidate_ids(self) -> list[str]:
        if self._active_model:
            return [self._active_model]
        model = getattr(self.agent, "model", "auto")
        if isinstance(model, str) and model != "auto":
            return [model]
        if isinstance(model, (list, tuple)) and model:
            return [model[0]]
        chain = self._free_models.fallback_chain() if self._free_models is not None else []
        return [chain[0].id] if chain else []

    # -- greeting and interim replies

    async def _interim(self, text: str, main: asyncio.Task[None], queue: asyncio.Queue[Any]) -> None:
        done, _ = await asyncio.wait({main}, timeout=self.interim_after)
        if not done:
            await self._side("interim", text, queue)

    async def _side(self, kind: AsideKind, text: str, queue: asyncio.Queue[Any]) -> None:
        aside = await self._asides.reply(kind, text)
        if aside is None:
            return
        await self._append([aside])
        assert self._state is not None
        self._state.asides.append(aside)
        await queue.put(ChatEvent(type=kind, text=aside.text))


async def _drain(
    queue: asyncio.Queue[ChatEvent | BaseException],
    greeting: asyncio.Task[None] | None,
    interim: asyncio.Task[None] | None,
) -> AsyncIterator[ChatEvent]:
    """Events from every task as they come, the reply last. A greeting or interim reply still being
    written when the answer is ready is cancelled: after the answer it would only confuse."""
    while True:
        item = await queue.get()
        if isinstance(item, BaseException):
            raise item
        if item.type == "reply":
            break
        yield item
    side = [t for t in (greeting, interim) if t is not None]
    for task in side:
        task.cancel()
    await asyncio.gather(*side, return_exceptions=True)
    while not queue.empty():
        late = queue.get_nowait()
        if isinstance(late, ChatEvent):
            yield late
    yield item


def _with_summary(messages: list[Message], note: str | None) -> list[Message]:
    system = with_note(None, note)
    return [system, *messages] if system is not None else list(messages)


def _note_of(messages: list[Message]) -> str | None:
    if messages and messages[0].role == "system":
        return split_note(messages[0].content)[1]
    return None


def _new_messages(result: Any, text: str) -> list[Message]:
    """The messages this turn added after the user's: from ``result.messages`` when the agent returns
    its conversation, else the final answer alone."""
    messages = list(getattr(result, "messages", None) or [])
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user" and messages[index].content == text:
            return messages[index + 1 :]
    return [Message.assistant(getattr(result, "output", "") or "")]


def _answering_model(result: Any) -> str | None:
    """``provider/model`` of the last step's answer (the agent records it on each ``Step``)."""
    steps = getattr(result, "steps", None)
    return (getattr(steps[-1], "model", None) or None) if steps else None


async def _probe_windows(router: Any, model_ids: list[str]) -> None:
    """Ask local servers for the window they really run (cached by the catalog): the seed or a model
    list may say otherwise, and the history budget depends on it."""
    probe = getattr(getattr(router, "catalog", None), "probe", None)
    registry = getattr(router, "registry", None)
    if probe is not None and registry is not None:
        for model_id in model_ids:
            await probe(registry, model_id)


def _catalog_window(router: Any, model_id: str) -> int | None:
    catalog = getattr(router, "catalog", None)
    info = catalog.get(model_id) if catalog is not None else None
    return getattr(info, "context_window", None)


def _free_model_window(store: Any, model_id: str) -> int | None:
    if store is None:
        return None
    entry = next((m for m in store.list_models() if m.id == model_id), None)
    return entry.context_window if entry is not None else None


def _open_store(conversation_id: str, store_dir: str | os.PathLike[str] | None) -> HistoryStore:
    """JSONL files unless a history URL is configured (an explicit ``store_dir`` always means files)."""
    if store_dir is None:
        from .redis_history import history_url

        url = history_url()
        if url is not None:
            from .redis_history import RedisHistoryStore

            return RedisHistoryStore.for_conversation(conversation_id, url)
    return JsonlHistoryStore.for_conversation(conversation_id, store_dir)
