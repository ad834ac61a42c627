"""Threads for sync tools: a bounded pool of their own, apart from asyncio's default executor.

A sync tool that never returns (a read on a FIFO, a lock held elsewhere) keeps its thread for good:
Python cannot stop a thread. Running tools on ``asyncio.to_thread`` let six such tools fill the default
executor (``min(32, cpus + 4)`` threads) and every later ``to_thread`` call of the engine itself (history
appends, health flushes) waited behind them forever. Here each call gets a daemon thread (so a stuck
tool never keeps the process from exiting, as ``ThreadPoolExecutor``'s joined workers would) and at
most ``size`` run at once; a call past that waits for a slot, and the caller's time limit still holds.

    threads = ToolThreads(4)
    value = await threads.run(slow_sum, 1, 2)
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["ToolThreads", "TOOL_THREADS", "tool_threads"]

TOOL_THREADS = 16


class ToolThreads:
    """At most ``size`` tool threads at once; the rest wait their turn without blocking the loop."""

    def __init__(self, size: int = TOOL_THREADS) -> None:
        if size < 1:
            raise ValueError(f"ToolThreads needs at least one thread, got {size}")
        self.size = size
        self._lock = threading.Lock()
        self._busy = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @property
    def busy(self) -> int:
        """Threads running a tool now (stuck ones included)."""
        return self._busy

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on a tool thread; cancelling the caller leaves the thread to finish alone."""
        await self._acquire()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        context = contextvars.copy_context()

        def work() -> None:
            try:
                outcome: tuple[Any, BaseException | None] = (context.run(fn, *args, **kwargs), None)
            except Exception as exc:  # handed to the awaiting caller, which re-raises it
                outcome = (None, exc)
            except BaseException as exc:  # sys.exit() in a tool ends the tool, not the caller's run
                outcome = (None, RuntimeError(f"the tool raised {type(exc).__name__}: {exc}"))
            finally:
                self._release()
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:  # the loop closed while the tool ran: nobody is waiting
                pass

        name = getattr(fn, "__name__", "tool")
        try:
            threading.Thread(target=work, name=f"assistant-tool-{name}", daemon=True).start()
        except BaseException:
            self._release()
            raise
        return await future

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._busy < self.size and not self._waiters:
                self._busy += 1
                return
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            with self._lock:
                try:
                    self._waiters.remove((loop, waiter))
                    handed = False
                except ValueError:
                    handed = True  # a finishing thread passed its slot on just before the cancel
            # A cancelled waiter's slot is passed on by ``_wake``; one that was already woken is ours to free.
            if handed and not waiter.cancelled():
                self._release()
            raise

    def _release(self) -> None:
        """Pass the slot to the next waiter still listening, else free it."""
        while True:
            with self._lock:
                if not self._waiters:
                    self._busy -= 1
                    return
                loop, waiter = self._waiters.popleft()
            try:
                loop.call_soon_threadsafe(_wake, waiter, self)
                return
            except RuntimeError:  # that waiter's loop is gone; try the next one
                continue


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _wake(waiter: asyncio.Future[None], pool: ToolThreads) -> None:
    if waiter.done():  # cancelled between hand-over and wake-up: the slot goes on
        pool._release()
    else:
        waiter.set_result(None)


_shared: ToolThreads | None = None
_shared_lock = threading.Lock()


def tool_threads() -> ToolThreads:
    """The process's pool for sync tools."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = ToolThreads()
    return _shared
