"""Time limits on a request without a timer per network read: ``Timeouts.read`` (the server's
silences) and ``Timeouts.total`` as a few cheap looks instead of aiohttp arming and cancelling timers
around every call and every read (each is a heap entry; together they cost a short call ~10% of its time).

- ``StallGuard``: one streamed body, looked at four times per read limit (``request(..., stream=True)``).
- ``Watchdog``: one per session, looks after every whole-answer call in flight (``post_json``).

Both end an exchange the way aiohttp's own timers would: the wire layer sees a ``TimeoutError``
(``Watch.timed_out`` tells the watchdog's cancellation from a caller's) and makes it a transient
error. Silence while the transport is paused (our caller is behind and the buffer is full) is ours,
not the server's, and never counts.
"""

from __future__ import annotations

import asyncio
import math
from time import monotonic
from typing import Any

import aiohttp

__all__ = ["LOOKS", "StallGuard", "Watch", "Watchdog"]

LOOKS = 4  # looks per read limit: a silence is caught between 1 and 1.25 limits after the last byte


def _quiet(content: aiohttp.StreamReader, transport: asyncio.ReadTransport | None, seen: int) -> bool:
    """Nothing arrived since ``seen`` bytes, while we were reading (a paused transport is our doing)."""
    return content.total_bytes == seen and (transport is None or transport.is_reading())


class StallGuard:
    """Ends a streamed body whose server has sent nothing for ``limit`` seconds, as aiohttp's
    sock_read would: its next read raises ``ServerTimeoutError`` (a ``TimeoutError``)."""

    __slots__ = ("_content", "_transport", "_period", "_handle", "_seen", "_idle")

    def __init__(self, content: aiohttp.StreamReader, transport: asyncio.ReadTransport | None, limit: float) -> None:
        self._content = content
        self._transport = transport
        self._period = limit / LOOKS
        self._seen = -1
        self._idle = 0
        self._handle = asyncio.get_running_loop().call_later(self._period, self._look)

    def _look(self) -> None:
        content = self._content
        if content.is_eof() or content.exception() is not None:
            return
        if not _quiet(content, self._transport, self._seen):
            self._seen = content.total_bytes
            self._idle = 0
        else:
            self._idle += 1
            if self._idle >= LOOKS:
                content.set_exception(aiohttp.ServerTimeoutError("no data from the server within the read timeout"))
                return
        self._handle = asyncio.get_running_loop().call_later(self._period, self._look)

    def close(self) -> None:
        self._handle.cancel()


class Watch:
    """One call in flight under a ``Watchdog``: its task, when it started and, once the headers are in,
    its ``response``. ``expired`` once the watchdog cancelled the task; the caller then turns that
    cancellation into ``TimeoutError`` with ``timed_out`` (``asyncio.timeout``'s rule, without its two
    coroutines and its timer per call)."""

    __slots__ = ("task", "cancelling", "started", "response", "seen", "idle", "expired")

    def __init__(self, task: asyncio.Task[Any], started: float) -> None:
        self.task = task
        self.cancelling = task.cancelling()  # cancellations asked for before this call: not ours
        self.started = started
        self.response: aiohttp.ClientResponse | None = None
        self.seen = -1
        self.idle = 0
        self.expired = False

    def timed_out(self, exc: BaseException) -> bool:
        """``exc`` ends this call because the watchdog cancelled it (not its caller); the same test as
        ``asyncio.Timeout.__aexit__``, so a caller's own cancellation stays a cancellation. Once, as
        the call ends: it takes the watchdog's cancellation back off the task."""
        return self.expired and self.task.uncancel() <= self.cancelling and type(exc) is asyncio.CancelledError


class Watchdog:
    """Bounds every call registered with it: no answer headers within ``connect + read`` of the start
    (the connection may be new: aiohttp's read timer starts only once the request is written, so for a
    small body this is as lenient, give or take a DNS lookup), no body byte for ``read``, nothing past
    ``total``; each caught within a quarter of the smaller limit after it passes. One timer for all of
    them, ticking while calls come (a quiet tick stops it); a limit that passes cancels the call's task
    and marks its ``Watch`` expired.

        call = watchdog.watch(asyncio.current_task(loop))
        try: ... except BaseException as exc: if call.timed_out(exc): raise TimeoutError from None
        finally: watchdog.forget(call)
    """

    __slots__ = ("_read", "_total", "_first", "_period", "_looks", "_calls", "_handle", "_busy", "active")

    def __init__(self, read: float | None, total: float | None, connect: float | None) -> None:
        self._read = read or None
        self._total = total or None
        self._first = (read or 0.0) + (connect or 0.0)
        limits = [x for x in (self._read, self._total) if x]
        self._period = min(limits) / LOOKS if limits else 0.0
        self._looks = math.ceil(self._read / self._period - 1e-9) if self._read else 0  # 4 when read is the smaller
        self._calls: set[Watch] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._busy = False
        self.active = self._period > 0  # False when there is nothing to bound (no read and no total limit)

    def watch(self, task: asyncio.Task[Any]) -> Watch:
        call = Watch(task, monotonic())
        self._calls.add(call)
        self._busy = True
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self._period, self._tick)
        return call

    def forget(self, call: Watch) -> None:
        self._calls.discard(call)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._calls.clear()

    def _tick(self) -> None:
        now = monotonic()
        for call in list(self._calls):
            if self._expired(call, now):
                self._calls.discard(call)
                call.expired = True
                call.task.cancel()
        if self._calls or self._busy:
            self._busy = False
            self._handle = asyncio.get_running_loop().call_later(self._period, self._tick)
        else:
            self._handle = None

    def _expired(self, call: Watch, now: float) -> bool:
        if self._total is not None and now - call.started >= self._total:
            return True
        if self._read is None:
            return False
        response = call.response
        if response is None:
            return now - call.started >= self._first
        content = response.content
        if content.is_eof():
            return False
        connection = response.connection
        if not _quiet(content, connection.transport if connection is not None else None, call.seen):
            call.seen = content.total_bytes
            call.idle = 0
            return False
        call.idle += 1
        return call.idle >= self._looks
