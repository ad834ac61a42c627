"""Chat histories in Redis, so any host of a fleet can continue any conversation.

One Redis list per conversation; one list element per append, holding that append's records as a JSON
array, so a turn is stored whole or not at all (``RPUSH`` is atomic). Why a list and not a stream: a
conversation is always read whole and in order, and a list does that in one ``LRANGE`` with no consumer
groups to manage; a later Postgres store is one more class with the same four methods.

Two hosts never interleave one turn: ``turn_lock`` is a per-conversation lock (``SET NX PX`` with a random
token, renewed while held, released by a compare-and-delete script). Redis down: the append raises
``HistoryUnavailableError`` and the caller reports it; nothing is dropped silently.

    store = RedisHistoryStore.for_conversation("telegram:42", "redis://127.0.0.1:6379/0")
    with store.turn_lock():
        state = store.load()
        store.append([MessageRecord(message=Message.user("hi"))])
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson

from ..errors import UsageError
from .history import _RECORD, AsideRecord, Loaded, MessageRecord, MetaRecord, SummaryRecord, _apply

__all__ = ["RedisHistoryStore", "HistoryUnavailableError", "history_url", "HISTORY_ENV"]

HISTORY_ENV = "ASSISTANT_HISTORY_URL"
_PREFIX = "assistant:"
_LOCK_TTL_MS = 30_000
_SOCKET_TIMEOUT_S = 2.0

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


class HistoryUnavailableError(RuntimeError):
    """The history store did not answer: the turn was not stored (the conversation is unchanged)."""


def history_url() -> str | None:
    """Where histories live when not in files: ``ASSISTANT_HISTORY_URL``, else the shared state URL
    (``ASSISTANT_STATE_URL`` / ``[state] url``), else None (JSONL files)."""
    url = os.environ.get(HISTORY_ENV, "").strip()
    if url:
        return url
    from ..router.shared import state_url

    return state_url()


def _client(url: str) -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - depends on the install
        raise UsageError("a redis:// history URL needs the redis package: pip install 'assistant[redis]'") from None
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(
                url, socket_timeout=_SOCKET_TIMEOUT_S, socket_connect_timeout=_SOCKET_TIMEOUT_S)
        return client


class RedisHistoryStore:
    """One conversation in Redis. Sync methods, like the file store: callers run them in a thread."""

    shared = True  # other hosts may write between two turns: reload at the start of each

    def __init__(self, client: Any, conversation_id: str, namespace: str = _PREFIX) -> None:
        import redis

        self.client = client
        self.conversation_id = conversation_id
        self.key = f"{namespace}chat:{conversation_id}"
        self._lock_key = f"{self.key}:lock"
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    @classmethod
    def for_conversation(cls, conversation_id: str, url: str) -> RedisHistoryStore:
        return cls(_client(url), conversation_id)

    @property
    def path(self) -> str:
        """Where the conversation lives (a Redis key; shown by the CLI, keyed on by in-process locks)."""
        return f"redis:{self.key}"

    def __repr__(self) -> str:
        return f"RedisHistoryStore({self.key!r})"

    def load(self) -> Loaded:
        """Every stored append, in order."""
        try:
            items = self.client.lrange(self.key, 0, -1)
        except self._errors as exc:
            raise HistoryUnavailableError(f"chat history {self.conversation_id!r} could not be read: Redis is not "
                                          f"answering ({type(exc).__name__})") from None
        loaded = Loaded()
        for item in items:
            for raw in orjson.loads(item):
                _apply(loaded, _RECORD.validate_python(raw))
        return loaded

    def append(self, records: list[MetaRecord | MessageRecord | SummaryRecord | AsideRecord]) -> None:
        """Store ``records`` as one element: all of them or none."""
        payload = orjson.dumps([r.model_dump(mode="json") for r in records])
        try:
            if self.client.rpush(self.key, payload) == 1:
                # The conversation's first element: put the meta record in front of it.
                meta = MetaRecord(conversation_id=self.conversation_id)
                self.client.lpush(self.key, orjson.dumps([meta.model_dump(mode="json")]))
        except self._errors as exc:
            raise HistoryUnavailableError(
                f"the last turn of chat {self.conversation_id!r} was not stored: Redis is not answering "
                f"({type(exc).__name__}); it is still in this session, send again once Redis is back") from None

    @contextlib.contextmanager
    def turn_lock(self, timeout: float = 120.0) -> Iterator[None]:
        """Hold the conversation for one turn across every host (renewed while held)."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        try:
            while not self.client.set(self._lock_key, token, nx=True, px=_LOCK_TTL_MS):
                if time.monotonic() > deadline:
                    raise HistoryUnavailableError(f"chat {self.conversation_id!r} is busy on another host "
                                                  f"for over {timeout:.0f}s")
                time.sleep(0.02)
        except self._errors as exc:
            raise HistoryUnavailableError(f"chat {self.conversation_id!r} could not be locked: Redis is not "
                                          f"answering ({type(exc).__name__})") from None
        stop = threading.Event()
        renewer = threading.Thread(target=self._keep, args=(token, stop), daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            with contextlib.suppress(*self._errors):
                self._release(keys=[self._lock_key], args=[token])

    def _keep(self, token: str, stop: threading.Event) -> None:
        while not stop.wait(_LOCK_TTL_MS / 3000):
            with contextlib.suppress(*self._errors):
                self._renew(keys=[self._lock_key], args=[token, _LOCK_TTL_MS])

