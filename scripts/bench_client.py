"""Client overhead vs the fastest honest raw aiohttp baseline, against the same local fake server, one run.

    .venv/bin/python scripts/bench_client.py [--calls 400]

Baselines (what a hand-written client would do, no engine), on a session with no timeouts at all,
the fastest aiohttp gives (``_benchlib.raw_session``; our client keeps its limits):
- a call: aiohttp POST, ``await response.read()``, ``orjson.loads``, take the message text;
- a stream: bytes read with ``response.content.iter_any()``, events split on blank lines, every
  ``data:`` payload parsed with orjson and its text collected (not ``async for line in content``,
  which is itself ~1.7x slower and would flatter us).
Reports, as ratios ours/raw measured in turns so load hits both alike: per call (target <= 1.1x), per
stream of 50 chunks (target <= 1.2x), per chunk on a 400-chunk stream sent in 16 writes (target <=
1.1x); per chunk on a 400-chunk stream paced a chunk per write 0.2 ms apart, as CPU time of this
process (no target: our client delivers the text of one network read as one event, which helps only
when several chunks share a read, and here none do; how many text events each stream gave is printed
too); and the cold
start of ``from assistant import Agent, Router, ChatSession, FreeModelsStore`` in a fresh interpreter,
median of 9, bytecode already written as an installed package has it (target < 0.15 s). The server runs
in its own process so its CPU time is charged to neither client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from _benchlib import chat_server, interleaved, openai_handler, raw_call, raw_session, raw_stream


async def bench(base: str, calls: int) -> dict[str, float]:
    from assistant.messages import ChatRequest, Message
    from assistant.providers import create_client

    url = base + "/v1/chat/completions"
    client = create_client("vllm", base_url=base + "/v1", max_concurrency=None)
    session = raw_session()
    request = ChatRequest(model="bench", messages=[Message.user("hi")])
    payload = {"model": "bench", "messages": [{"role": "user", "content": "hi"}]}

    def ours_request(n: int, paced: bool = False) -> ChatRequest:
        return ChatRequest(model="bench", messages=[Message.user("hi")], stream=True, max_tokens=n,
                           extra={"paced": True} if paced else {})

    def ours_stream(n: int, paced: bool = False) -> Any:
        req = ours_request(n, paced)

        async def run() -> None:
            async for _ in client.stream(req):
                pass

        return run

    def raw_stream_of(n: int, paced: bool = False) -> Any:
        body = {**payload, "stream": True, "max_tokens": n, **({"paced": True} if paced else {})}
        return lambda: raw_stream(session, url, body)

    fns = {
        "raw_call": lambda: raw_call(session, url, payload),
        "ours_call": lambda: client.chat(request),
        "raw_50": raw_stream_of(50), "ours_50": ours_stream(50),
        "raw_400": raw_stream_of(400), "ours_400": ours_stream(400),
    }
    await interleaved(fns, 20)  # warm up connections and code paths
    med = await interleaved(fns, calls)
    # Paced streams take ~0.2 s each and the wall clock would mostly time the pacing: CPU time instead.
    paced = {"raw_paced": raw_stream_of(400, True), "ours_paced": ours_stream(400, True)}
    await interleaved(paced, 2)
    med.update(await interleaved(paced, max(5, calls // 10), clock=time.process_time))
    text_events = {}
    for name, req in (("400", ours_request(400)), ("paced", ours_request(400, paced=True))):
        counts = [sum([e.type == "text" async for e in client.stream(req)]) for _ in range(5)]
        text_events[name] = statistics.median(counts)
    await client.aclose()
    await session.close()
    return {
        "raw_call_ms": med["raw_call"] * 1e3,
        "call_ratio": med["ours_call"] / med["raw_call"],
        "raw_50_ms": med["raw_50"] * 1e3,
        "stream_50_ratio": med["ours_50"] / med["raw_50"],
        "raw_chunk_us": med["raw_400"] / 400 * 1e6,
        "chunk_400_ratio": med["ours_400"] / med["raw_400"],
        "raw_paced_cpu_us": med["raw_paced"] / 400 * 1e6,
        "chunk_paced_ratio": med["ours_paced"] / med["raw_paced"],
        "events_400": text_events["400"],
        "events_paced": text_events["paced"],
    }


COLD = "from assistant import Agent, Router, ChatSession, FreeModelsStore; Agent, Router, ChatSession, FreeModelsStore"


def import_cost() -> float:
    """Median of 9 fresh interpreters, less a bare interpreter's start; bytecode written first, as an
    installed package has it (this machine sets PYTHONDONTWRITEBYTECODE, which would charge compiling)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        return time.perf_counter() - start

    run(COLD)
    return statistics.median(run(COLD) for _ in range(9)) - statistics.median(run("pass") for _ in range(9))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with chat_server(openai_handler) as base:
        result = asyncio.run(bench(base, args.calls))
    result["import_s"] = import_cost()
    print(f"raw aiohttp per call          {result['raw_call_ms']:.3f} ms")
    print(f"per-call ratio                {result['call_ratio']:.2f}x   (target <= 1.1x)")
    print(f"raw aiohttp per 50-chunk stream {result['raw_50_ms']:.3f} ms")
    print(f"per-stream ratio (50 chunks)  {result['stream_50_ratio']:.2f}x   (target <= 1.2x)")
    print(f"raw aiohttp per chunk (400)   {result['raw_chunk_us']:.2f} us")
    print(f"per-chunk ratio (400 chunks)  {result['chunk_400_ratio']:.2f}x   (target <= 1.1x)")
    print(f"raw aiohttp CPU per chunk (400, paced) {result['raw_paced_cpu_us']:.2f} us")
    print(f"per-chunk CPU ratio (400, paced) {result['chunk_paced_ratio']:.2f}x   (no target)")
    print(f"our text events per 400-chunk stream: {result['events_400']:.0f} (16 writes), "
          f"{result['events_paced']:.0f} (paced)")
    print(f"cold start of the main names  {result['import_s'] * 1e3:.0f} ms    (target < 150 ms)")


if __name__ == "__main__":
    main()
