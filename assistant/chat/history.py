"""One conversation on disk: an append-only JSONL file, one record per line, fsynced.

Records: ``meta`` (first line: format version and the conversation id), ``message`` (one turn of the
history), ``summary`` (a rolling summary that stands in for the first ``covers`` messages) and ``aside``
(a greeting or interim reply the user saw but the model does not need). A crash mid-write can only
leave a torn last line: it is ignored with a warning and cut off before the next append, so the file
stays valid. A turn's records are written with one ``os.write`` on an ``O_APPEND`` descriptor, so
two writers never interleave within a line.

    store = HistoryStore.for_conversation("telegram:42")
    state = store.load()                                   # sync; call through asyncio.to_thread
    store.append([MessageRecord(message=Message.user("hi"))])
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from pathlib import Path
from typing import Annotated, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..errors import UsageError
from ..files import paths as config
from ..files.store import fsync_dir
from ..messages import Message

__all__ = [
    "FORMAT_VERSION",
    "MetaRecord",
    "MessageRecord",
    "SummaryRecord",
    "AsideRecord",
    "Record",
    "Loaded",
    "HistoryStore",
    "chats_dir",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
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


Record = Annotated[MetaRecord | MessageRecord | SummaryRecord | AsideRecord, Field(discriminator="type")]
_RECORD = TypeAdapter(Record)


class Loaded(BaseModel):
    """What a conversation file holds: the full history, the latest summary and the asides."""

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


class HistoryStore:
    """The file of one conversation. Sync methods: callers run them in ``asyncio.to_thread``."""

    def __init__(self, path: Path, conversation_id: str) -> None:
        self.path = path
        self.conversation_id = conversation_id
        self._torn_at: int | None = None

    @classmethod
    def for_conversation(cls, conversation_id: str, store_dir: str | os.PathLike[str] | None = None) -> HistoryStore:
        base = Path(store_dir) if store_dir is not None else chats_dir()
        base.mkdir(parents=True, exist_ok=True)
        return cls(base / _file_name(conversation_id), conversation_id)

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.path)!r})"

    def load(self) -> Loaded:
        """Read every record; a torn last line (crash mid-write) is skipped with a warning."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Loaded()
        loaded = Loaded()
        lines = data.split(b"\n")
        complete = data.endswith(b"\n")
        offset = 0
        for number, line in enumerate(lines, 1):
            start, offset = offset, offset + len(line) + 1
            if not line.strip():
                continue
            try:
                record = _RECORD.validate_json(line)
            except ValidationError as exc:
                if number == len(lines) and not complete:
                    log.warning("%s: ignoring a torn last line (%d bytes) left by an interrupted write", self.path, len(line))
                    self._torn_at = start
                    break
                log.warning("%s:%d: skipping a record that does not parse: %s", self.path, number, exc.errors()[0]["msg"])
                continue
            _apply(loaded, record)
        return loaded

    def append(self, records: list[MetaRecord | MessageRecord | SummaryRecord | AsideRecord]) -> None:
        """Write ``records`` as lines in one ``write``, then fsync (a ``meta`` line first for a new file)."""
        payload = b"".join(orjson.dumps(r.model_dump(mode="json")) + b"\n" for r in records)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if self._torn_at is not None:
                os.ftruncate(fd, self._torn_at)
                self._torn_at = None
            size = os.fstat(fd).st_size
            new = size == 0
            if size and _last_byte(fd, size) != b"\n":
                # A last record whose newline never reached the disk: end its line before ours.
                payload = b"\n" + payload
            if new:
                meta = MetaRecord(conversation_id=self.conversation_id)
                payload = orjson.dumps(meta.model_dump(mode="json")) + b"\n" + payload
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            fsync_dir(self.path.parent)


def _last_byte(fd: int, size: int) -> bytes:
    # lseek + read rather than pread (not on Windows); O_APPEND writes go to the end regardless.
    os.lseek(fd, size - 1, os.SEEK_SET)
    return os.read(fd, 1)


def _apply(loaded: Loaded, record: MetaRecord | MessageRecord | SummaryRecord | AsideRecord) -> None:
    if isinstance(record, MessageRecord):
        loaded.messages.append(record.message)
    elif isinstance(record, SummaryRecord):
        loaded.summary = record
    elif isinstance(record, AsideRecord):
        loaded.asides.append(record)
    elif record.version > FORMAT_VERSION:
        raise UsageError(f"chat history format {record.version} is newer than this engine ({FORMAT_VERSION}); upgrade assistant")
