"""Client overhead vs raw aiohttp against the same local fake server, measured in one run.

    .venv/bin/python scripts/bench_client.py [--calls 400] [--chunks 400]

Reports per-call ratio (our ``chat`` vs a raw aiohttp POST + orjson parse; target <= 1.3x), per-stream-chunk
ratio (our ``stream`` vs raw aiohttp reading SSE lines + orjson per chunk; target <= 1.5x), and the
cost of ``import assistant`` (target < 0.3 s). The server runs in its own process so its CPU time is
not charged to either client.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

import aiohttp
import orjson
from _benchlib import chat_server
from aiohttp import web

COMPLETION = orjson.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there, how can I help you today?"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
})


def _chunk(text: str) -> bytes:
    return b"data: " + orjson.dumps({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "bench",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }) + b"\n\n"


def _handler(chunks: int):  # type: ignore[no-untyped-def]
    stream_body = b"".join(_chunk(f"tok{i} ") for i in range(chunks)) + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":%d}}\n\ndata: [DONE]\n\n' % chunks

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json(loads=orjson.loads)
        if body.get("stream"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            # Several writes, so the client sees the stream arrive in pieces.
            step = max(1, len(stream_body) // 16)
            for i in range(0, len(stream_body), step):
                await response.write(stream_body[i : i + step])
            await response.write_eof()
            return response
        return web.Response(body=COMPLETION, content_type="application/json")

    return handle


async def _raw_call(session: aiohttp.ClientSession, url: str, payload: dict) -> str:
    async with session.post(url, data=orjson.dumps(payload), headers={"Content-Type": "application/json"}) as r:
        data = orjson.loads(await r.read())
    return data["choices"][0]["message"]["content"]


async def _raw_stream(session: aiohttp.ClientSession, url: str, payload: dict) -> int:
    n = 0
    parts = []
    async with session.post(url, data=orjson.dumps(payload), headers={"Content-Type": "application/json"}) as r:
        async for line in r.content:
            if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
                chunk = orjson.loads(line[6:])
                for choice in chunk["choices"]:
                    parts.append(choice["delta"].get("content") or "")
                n += 1
    return n


async def bench(base: str, calls: int, chunks: int) -> dict[str, float]:
    from assistant.messages import ChatRequest, Message
    from assistant.providers import create_client

    url = base + "/v1/chat/completions"
    client = create_client("vllm", base_url=base + "/v1", max_concurrency=None)
    session = aiohttp.ClientSession()
    request = ChatRequest(model="bench", messages=[Message.user("hi")])
    stream_request = ChatRequest(model="bench", messages=[Message.user("hi")], stream=True)
    payload = {"model": "bench", "messages": [{"role": "user", "content": "hi"}]}
    stream_payload = {**payload, "stream": True}

    async def ours_call() -> None:
        await client.chat(request)

    async def raw_call() -> None:
        await _raw_call(session, url, payload)

    async def ours_stream() -> None:
        async for _ in client.stream(stream_request):
            pass

    async def raw_stream() -> None:
        await _raw_stream(session, url, stream_payload)

    async def timed(fn, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await fn()
        return (time.perf_counter() - start) / n

    for fn in (ours_call, raw_call, ours_stream, raw_stream):  # warm up connections and code paths
        await timed(fn, 20)
    rounds = 5
    call_ratio, stream_ratio, raw_call_s, raw_stream_s = [], [], [], []
    for _ in range(rounds):
        r = await timed(raw_call, calls // rounds)
        o = await timed(ours_call, calls // rounds)
        call_ratio.append(o / r)
        raw_call_s.append(r)
        rs = await timed(raw_stream, max(4, calls // rounds // 10))
        os_ = await timed(ours_stream, max(4, calls // rounds // 10))
        stream_ratio.append(os_ / rs)
        raw_stream_s.append(rs)
    await client.aclose()
    await session.close()
    return {
        "raw_call_ms": statistics.median(raw_call_s) * 1e3,
        "call_ratio": statistics.median(call_ratio),
        "raw_chunk_us": statistics.median(raw_stream_s) / chunks * 1e6,
        "chunk_ratio": statistics.median(stream_ratio),
    }


def import_cost() -> float:
    def run(code: str) -> float:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            best = min(best, time.perf_counter() - start)
        return best

    return run("import assistant, assistant.messages, assistant.errors") - run("pass")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--chunks", type=int, default=400)
    args = parser.parse_args()
    with chat_server(_handler, args.chunks) as base:
        result = asyncio.run(bench(base, args.calls, args.chunks))
    result["import_s"] = import_cost()
    print(f"raw aiohttp per call      {result['raw_call_ms']:.3f} ms")
    print(f"per-call ratio            {result['call_ratio']:.2f}x   (target <= 1.3x)")
    print(f"raw aiohttp per chunk     {result['raw_chunk_us']:.2f} us")
    print(f"per-stream-chunk ratio    {result['chunk_ratio']:.2f}x   (target <= 1.5x)")
    print(f"import assistant          {result['import_s'] * 1e3:.0f} ms    (target < 300 ms)")


if __name__ == "__main__":
    main()
