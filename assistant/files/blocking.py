"""The engine's own blocking work (file locks, fsync, history appends, health flushes) on threads of
its own, never on asyncio's default executor: user code and tools share that one, and threads stuck
there (a tool reading a FIFO that never gets a writer) once left every later history append waiting
forever.

    loaded = await run_blocking(store.load)
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_blocking", "engine_executor", "ENGINE_THREADS"]

# Only the engine's own short file operations run here; every wait inside them is bounded.
ENGINE_THREADS = 8

T = TypeVar("T")
_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def engine_executor() -> ThreadPoolExecutor:
    """The executor behind ``run_blocking``, for callers that need a future (``loop.run_in_executor``)."""
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(ENGINE_THREADS, thread_name_prefix="assistant-io")
    return _executor


async def run_blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on the engine's I/O threads (``asyncio.to_thread``'s shape).

        await run_blocking(store.append, records)
    """
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(engine_executor(), call)
