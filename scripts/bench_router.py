"""Router overhead vs raw aiohttp against the same local fake server, measured in one run.

    .venv/bin/python scripts/bench_router.py [--calls 1000] [--concurrency 100]

Reports the per-call ratio of ``Router.chat`` on one healthy provider vs a raw aiohttp POST + orjson
parse on a session with no timeouts, the fastest aiohttp gives (``_benchlib.raw_session``) (target <=
1.2x, issue 14), the same for the bare client (to show what the router itself adds), and
throughput at ``--concurrency`` concurrent calls as a share of raw aiohttp's (target >= 75%). Calls
are timed one by one in turns (raw, client, router) and the medians compared, so load from other
processes hits all three alike. The server runs in its own process so its CPU time is charged to
neither side. Health state goes to a temporary ``ASSISTANT_HOME``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable

import orjson
from _benchlib import chat_server, interleaved, raw_session
from aiohttp import web

COMPLETION = orjson.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there, how can I help you today?"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
})

Call = Callable[[], Awaitable[object]]


def _handler():  # type: ignore[no-untyped-def]
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=COMPLETION, content_type="application/json")

    return handle


async def _concurrent(fn: Call, n: int, width: int) -> float:
    """Calls per second with ``width`` calls in flight."""
    batches = max(1, n // width)
    start = time.perf_counter()
    for _ in range(batches):
        await asyncio.gather(*(fn() for _ in range(width)))
    return batches * width / (time.perf_counter() - start)


async def bench(base: str, calls: int, width: int) -> dict[str, float]:
    from assistant.messages import ChatRequest, Message
    from assistant.registry import LLMRegistry
    from assistant.router import Router

    registry = LLMRegistry()
    registry.add_provider("bench", kind="openai", base_url=base + "/v1", api_key="k-bench", max_concurrency=None)
    router = Router(registry)
    client = registry.client("bench")
    messages = [Message.user("hi")]
    request = ChatRequest(model="m", messages=messages)
    url = base + "/v1/chat/completions"
    payload = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Content-Type": "application/json", "Authorization": "Bearer k-bench"}
    session = raw_session()

    async def raw() -> str:
        async with session.post(url, data=orjson.dumps(payload), headers=headers) as r:
            data = orjson.loads(await r.read())
        return data["choices"][0]["message"]["content"]

    async def bare() -> object:
        return await client.chat(request)

    async def routed() -> object:
        return await router.chat("bench/m", messages)

    calls_of = {"raw": raw, "bare": bare, "routed": routed}
    await interleaved(calls_of, 30)  # warm up connections and code paths
    per_call = await interleaved(calls_of, calls)
    per_sec: dict[str, list[float]] = {name: [] for name in calls_of}
    for _ in range(5):
        for name, fn in calls_of.items():
            per_sec[name].append(await _concurrent(fn, calls, width))
    await router.aclose()
    await session.close()
    return {
        "raw_ms": per_call["raw"] * 1e3,
        "bare_ratio": per_call["bare"] / per_call["raw"],
        "routed_ratio": per_call["routed"] / per_call["raw"],
        "router_us": (per_call["routed"] - per_call["bare"]) * 1e6,
        "raw_per_s": statistics.median(per_sec["raw"]),
        "bare_share": statistics.median(b / r for b, r in zip(per_sec["bare"], per_sec["raw"])),
        "routed_share": statistics.median(o / r for o, r in zip(per_sec["routed"], per_sec["raw"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    os.environ["ASSISTANT_HOME"] = tempfile.mkdtemp(prefix="bench-router-")
    with chat_server(_handler) as base:
        result = asyncio.run(bench(base, args.calls, args.concurrency))
    print(f"raw aiohttp per call          {result['raw_ms']:.3f} ms")
    print(f"client per-call ratio         {result['bare_ratio']:.2f}x   (the client alone)")
    print(f"router per-call ratio         {result['routed_ratio']:.2f}x   (target <= 1.2x)")
    print(f"router's own cost per call    {result['router_us']:.0f} us")
    print(f"raw aiohttp at {args.concurrency} concurrent  {result['raw_per_s']:.0f} calls/s")
    print(f"client throughput share       {result['bare_share'] * 100:.0f}%    (the client alone)")
    print(f"router throughput share       {result['routed_share'] * 100:.0f}%    (target >= 75%)")


if __name__ == "__main__":
    main()
