"""Shared by the benchmark scripts: a fake OpenAI-compatible server in its own process.

    with chat_server(make_handler, arg) as base:      # base == "http://127.0.0.1:PORT"
        ...

The server runs in another process so its CPU time is charged to neither the baseline nor our code.
``make_handler(*args)`` runs in that process and returns the aiohttp handler for
``POST /v1/chat/completions``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

__all__ = ["chat_server"]


def _serve(port_queue: multiprocessing.Queue, make_handler: Callable[..., Any], args: tuple[Any, ...]) -> None:  # type: ignore[type-arg]
    handle = make_handler(*args)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


@contextmanager
def chat_server(make_handler: Callable[..., Any], *args: Any) -> Iterator[str]:
    """Run the fake server for the ``with`` block; yields its base URL."""
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=_serve, args=(queue, make_handler, args), daemon=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{queue.get(timeout=10)}"
    finally:
        server.terminate()


async def interleaved(
    fns: dict[str, Callable[[], Awaitable[Any]]], n: int, clock: Callable[[], float] = time.perf_counter
) -> dict[str, float]:
    """Median seconds per call of each function, calls taken in turns so load spikes hit all alike.
    ``clock=time.process_time`` counts this process's CPU time instead of the wall clock."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            start = clock()
            await fn()
            times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}
