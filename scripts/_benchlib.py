"""Shared by the benchmark scripts: a fake OpenAI-compatible server in its own process, the raw
aiohttp baseline, and an interleaved timer.

    with chat_server(openai_handler) as base:      # base == "http://127.0.0.1:PORT"
        text = await raw_call(session, base + "/v1/chat/completions", payload)

The server runs in another process so its CPU time is charged to neither the baseline nor our code.
``make_handler(*args)`` runs in that process and returns the aiohttp handler for
``POST /v1/chat/completions``. ``openai_handler`` answers a call with ``COMPLETION`` and a stream
with 50 chunks (400 when the request's ``max_tokens`` is 400).

The baselines are what a hand-written client would do, no engine: for a call, aiohttp POST,
``await response.read()``, ``orjson.loads``; for a stream, bytes read with ``iter_any()``, events
split on blank lines, every ``data:`` payload parsed with orjson and its text collected (not
``async for line in content``, which is itself ~1.7x slower and would flatter the client measured).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import orjson
from aiohttp import web

__all__ = ["COMPLETION", "REPLY", "STREAM_TEXT", "chat_server", "interleaved", "openai_handler", "raw_call", "raw_stream"]

REPLY = "Hello there, how can I help you today?"
STREAM_TEXT = "".join(f"tok{i} " for i in range(50))  # the text of the 50-chunk stream
COMPLETION = orjson.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
})


def _chunk(text: str) -> bytes:
    return b"data: " + orjson.dumps({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "bench",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }) + b"\n\n"


def _stream_body(chunks: int) -> bytes:
    return b"".join(_chunk(f"tok{i} ") for i in range(chunks)) + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":%d}}\n\ndata: [DONE]\n\n' % chunks


def openai_handler():  # type: ignore[no-untyped-def]
    bodies = {n: _stream_body(n) for n in (50, 400)}
    split_bodies = {n: [event + b"\n\n" for event in bodies[n].split(b"\n\n")[:-1]] for n in (400,)}

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json(loads=orjson.loads)
        if body.get("stream"):
            # The number of chunks rides in max_tokens, so one server serves both stream sizes.
            chunks = body.get("max_tokens") or 50
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            if body.get("paced"):
                # Each chunk in its own write (the server sets TCP_NODELAY), 0.2 ms apart: the client
                # has read one before the next comes, as from a model generating tokens, so no two
                # chunks share a read. Blocking sleep: this process serves one request at a time.
                for piece in split_bodies[chunks]:
                    await response.write(piece)
                    time.sleep(0.0002)
            else:
                # Several writes, so the client sees the stream arrive in pieces.
                stream_body = bodies[chunks]
                step = max(1, len(stream_body) // 16)
                for i in range(0, len(stream_body), step):
                    await response.write(stream_body[i : i + step])
            await response.write_eof()
            return response
        return web.Response(body=COMPLETION, content_type="application/json")

    return handle


def raw_session() -> aiohttp.ClientSession:
    """The raw baseline's session: the fastest aiohttp gives, with no timeouts at all (its default
    session arms a 300 s total timer around every call, a few microseconds our client does not spend:
    it bounds its calls with one watchdog per session) and no connection limit."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(), connector=aiohttp.TCPConnector(limit=0))


async def raw_call(session: aiohttp.ClientSession, url: str, payload: dict) -> str:
    async with session.post(url, data=orjson.dumps(payload), headers={"Content-Type": "application/json"}) as r:
        data = orjson.loads(await r.read())
    return data["choices"][0]["message"]["content"]


async def raw_stream(session: aiohttp.ClientSession, url: str, payload: dict) -> str:
    parts = []
    buffer = b""
    async with session.post(url, data=orjson.dumps(payload), headers={"Content-Type": "application/json"}) as r:
        async for data in r.content.iter_any():
            buffer += data
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                if event.startswith(b"data: ") and event != b"data: [DONE]":
                    chunk = orjson.loads(event[6:])
                    for choice in chunk["choices"]:
                        parts.append(choice["delta"].get("content") or "")
    return "".join(parts)


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
