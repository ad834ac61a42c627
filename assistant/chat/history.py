"""Where a conversation is kept: the ``HistoryStore`` seam (``load`` and ``append``) and its default,
``JsonlHistoryStore``, an append-only JSONL file per conversation, one record per line, fsynced.

Records: ``meta`` (first line: format version and the conversation id), ``message`` (one message),
``turn`` (everything one answer added: the assistant messages with their tool calls and the tool
results, as one record, so a crash can never keep a call without its result), ``summary`` (a rolling
summary that stands in for the first ``covers`` messages) and ``aside`` (a greeting or interim reply
the user saw but the model does not need).

A crash mid-write can only leave a torn last line: loading skips it with a warning, and the next
append cuts it off, under the conversation's file lock, so only bytes no writer ever finished are cut
(every finished record ends in a newline). Appends from several processes are serialised by that lock
(a bounded wait). Loading also drops a tool call that has no result and a result that has no call
(files written before ``turn`` records, or a line lost in the middle), since providers refuse such a
history with HTTP 400.

    store = JsonlHistoryStore.for_conversation("telegram:42")
    state = store.load()                                   # sync; call through run_blocking
    store.append([MessageRecord(message=Message.user("hi"))])
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Literal, Protocol, runtime_checkable

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..errors import UsageError
from ..files import paths as config
from ..files.store import file_lock, fsync_dir
from ..messages import Message

__all__ = [
    "FORMAT_VERSION",
    "MetaRecord",
    "MessageRecord",
    "TurnRecord",
    "SummaryRecord",
    "AsideRecord",
    "Record",
    "Loaded",
    "HistoryStore",
    "JsonlHistoryStore",
    "chats_dir",
    "LOCK_WAIT",
]

log = logging.getLogger(__name__)

# 2: ``turn`` records. Version 1 files (``message`` records only) are read as they are.
FORMAT_VERSION = 2
# Appends hold the lock for one write and fsync; a longer wait means a writer is stuck.
LOCK_WAIT = 10.0
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class _Rec(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    at: float = Field(default_factory=time.time)


class MetaRecord(_Rec):
    type: Literal["meta"] = "meta"
    version: int = FORMAT_VERSION
    conversation_id: str


class MessageRecord(_Rec):
    type: Literal["message"] = "message"
    message: Message


class TurnRecord(_Rec):
    """What one answer added to the history (assistant messages, tool results), kept or lost whole."""

    type: Literal["turn"] = "turn"
    messages: list[Message]


class SummaryRecord(_Rec):
    """A rolling summary of the first ``covers`` messages of the history."""

    type: Literal["summary"] = "summary"
    text: str
    covers: int


class AsideRecord(_Rec):
    """A reply shown to the user outside the model's history (a greeting, an interim note)."""

    type: Literal["aside"] = "aside"
    kind: Literal["greeting", "interim"]
    text: str
    model: str = ""


AnyRecord = MetaRecord | MessageRecord | TurnRecord | SummaryRecord | AsideRecord
Record = Annotated[AnyRecord, Field(discriminator="type")]
_RECORD = TypeAdapter(Record, config=ConfigDict(defer_build=True))


class Loaded(BaseModel):
    """What a conversation file holds: the full history, the latest summary and the asides."""

    model_config = ConfigDict(defer_build=True)

    messages: list[Message] = Field(default_factory=list)
    summary: SummaryRecord | None = None
    asides: list[AsideRecord] = Field(default_factory=list)


def chats_dir() -> Path:
    """``data_dir()/chats``: one ``.jsonl`` file per conversation."""
    path = config.data_dir() / "chats"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _file_name(conversation_id: str) -> str:
    safe = _SAFE.sub("_", conversation_id)[:80]
    if safe == conversation_id:
        return f"{safe}.jsonl"
    # Ids like "telegram:42" or "Alice/Bob" need escaping; the hash keeps distinct ids apart.
    return f"{safe}-{hashlib.sha256(conversation_id.encode()).hexdigest()[:12]}.jsonl"


@runtime_checkable
class HistoryStore(Protocol):
    """Where one conversation is kept. Sync methods: ``ChatSession`` runs them on the engine's threads.

    ``append`` must keep the records it is given whole and in order (a ``turn`` is one record), and
    ``load`` must return only complete records, tool calls paired with their results.
    """

    conversation_id: str

    def load(self) -> Loaded: ...

    def append(self, records: Sequence[AnyRecord]) -> None: ...


class JsonlHistoryStore:
    """The file of one conversation (see the module docstring)."""

    def __init__(self, path: Path, conversation_id: str, *, lock_wait: float = LOCK_WAIT) -> None:
        self.path = path
        self.conversation_id = conversation_id
        self.lock_wait = lock_wait
        # Thread-local: two threads of one process exclude each other as processes do.
        self._lock = file_lock(path, timeout=lock_wait)

    @classmethod
    def for_conversation(cls, conversation_id: str, store_dir: str | os.PathLike[str] | None = None) -> JsonlHistoryStore:
        base = Path(store_dir) if store_dir is not None else chats_dir()
        base.mkdir(parents=True, exist_ok=True)
        return cls(base / _file_name(conversation_id), conversation_id)

    def __repr__(self) -> str:
        return f"JsonlHistoryStore({str(self.path)!r})"

    def load(self) -> Loaded:
        """Every complete record; a torn last line is skipped with a warning, unpaired tool calls dropped."""
        with self._locked():
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                return Loaded()
        loaded = Loaded()
        lines = data.split(b"\n")
        complete = data.endswith(b"\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = _RECORD.validate_json(line)
            except ValidationError as exc:
                if number == len(lines) and not complete:
                    log.warning("%s: ignoring a torn last line (%d bytes) left by an interrupted write", self.path, len(line))
                    break
                log.warning("%s:%d: skipping a record that does not parse: %s", self.path, number, exc.errors()[0]["msg"])
                continue
            _apply(loaded, record)
        loaded.messages = _paired(loaded.messages, self.path)
        return loaded

    def append(self, records: Sequence[AnyRecord]) -> None:
        """Write ``records`` as lines in one ``write`` under the file lock, then fsync (a ``meta``
        line first for a new file)."""
        payload = b"".join(orjson.dumps(r.model_dump(mode="json")) + b"\n" for r in records)
        with self._locked():
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = _end_torn_tail(fd, self.path)
                if size == 0:
                    meta = MetaRecord(conversation_id=self.conversation_id)
                    payload = orjson.dumps(meta.model_dump(mode="json")) + b"\n" + payload
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if size == 0:
                fsync_dir(self.path.parent)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self._lock.acquire()
        except TimeoutError:  # filelock.Timeout
            raise TimeoutError(
                f"conversation {self.conversation_id!r}: another writer has held {self._lock.lock_file} for "
                f"{self.lock_wait:g}s; if no process is using this conversation, delete that lock file"
            ) from None
        try:
            yield
        finally:
            self._lock.release()


_CHUNK = 65536


def _end_torn_tail(fd: int, path: Path) -> int:
    """Make the file end at a record boundary; returns its size. Called under the lock, so bytes
    after the last newline belong to no live writer: a record whose newline never reached the disk
    gets it, anything else (a torn write) is cut off. Finished records are never touched."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    end = size
    start = 0
    while end > 0:
        begin = max(end - _CHUNK, 0)
        os.lseek(fd, begin, os.SEEK_SET)
        chunk = os.read(fd, end - begin)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            start = begin + newline + 1
            break
        end = begin
    if start == size:
        return size
    os.lseek(fd, start, os.SEEK_SET)
    tail = os.read(fd, size - start)
    try:
        _RECORD.validate_json(tail)
    except ValidationError:
        log.warning("%s: cutting off a torn last line (%d bytes) left by an interrupted write", path, size - start)
        os.ftruncate(fd, start)
        return start
    os.write(fd, b"\n")
    return size + 1


def _apply(loaded: Loaded, record: AnyRecord) -> None:
    if isinstance(record, MessageRecord):
        loaded.messages.append(record.message)
    elif isinstance(record, TurnRecord):
        loaded.messages.extend(record.messages)
    elif isinstance(record, SummaryRecord):
        loaded.summary = record
    elif isinstance(record, AsideRecord):
        loaded.asides.append(record)
    elif record.version > FORMAT_VERSION:
        raise UsageError(f"chat history format {record.version} is newer than this engine ({FORMAT_VERSION}); upgrade assistant")


def _paired(messages: list[Message], path: Path) -> list[Message]:
    """``messages`` with every tool call followed by its result: a call whose result is missing is
    dropped (with its assistant message when nothing else is left of it), and so is a result whose
    call is missing."""
    out: list[Message] = []
    dropped = 0
    for index, message in enumerate(messages):
        if message.role == "assistant" and message.tool_calls:
            answered = set()
            for later in messages[index + 1 :]:
                if later.role != "tool":
                    break
                answered.add(later.tool_call_id)
            kept = [c for c in message.tool_calls if c.id in answered]
            dropped += len(message.tool_calls) - len(kept)
            if len(kept) != len(message.tool_calls):
                if not kept and not message.content:
                    continue
                message = message.model_copy(update={"tool_calls": kept})
        elif message.role == "tool":
            previous = next((m for m in reversed(out) if m.role != "tool"), None)
            if previous is None or previous.role != "assistant" or message.tool_call_id not in {c.id for c in previous.tool_calls}:
                dropped += 1
                continue
        out.append(message)
    if dropped:
        log.warning("%s: dropped %d tool call(s) or result(s) without their other half (an interrupted write)", path, dropped)
    return out
