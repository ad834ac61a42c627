"""Router overhead per call by state backend, and a fleet's throughput under one shared RPM window.

    .venv/bin/python scripts/bench_state.py [--calls 600] [--rpm 60000]

Part 1: ``Router.chat`` on one healthy provider (with an RPM limit, so the rate window is consulted on
every call) against the same local fake server, with three health stores taken in turns so load hits all
alike: none shared (in memory only: the baseline), the health file, and Redis. Reports the median ms per
call of each and what the file and Redis backends add over none (target: Redis <= +0.2 ms).
Part 2: 4 processes x 100 concurrent calls each, all under one shared RPM window in Redis: calls per
second together, and whether the window held (requests sent in the window <= the limit).
A real redis-server is started on a free loopback port (Debian's package) and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from _benchlib import chat_server
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMPLETION = orjson.dumps({
    "id": "c", "object": "chat.completion", "created": 1, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3},
})


def _handler():  # type: ignore[no-untyped-def]
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=COMPLETION, content_type="application/json")

    return handle


def _router(base: str, health: object, rpm: int):  # type: ignore[no-untyped-def]
    from assistant.registry import LLMRegistry
    from assistant.router import Router

    registry = LLMRegistry()
    registry.add_provider("bench", kind="openai", base_url=base + "/v1", api_key="sk-bench-0123456789abcdef", rpm=rpm)
    return Router(registry, health=health)  # type: ignore[arg-type]


class _MemoryOnly:
    """Factory for the baseline: a health store that never reads or writes anything shared."""

    @staticmethod
    def make():  # type: ignore[no-untyped-def]
        from assistant.router.health import HealthDoc, HealthStore

        class MemoryHealthStore(HealthStore):
            async def refresh(self) -> None:
                pass

            def _flush_sync(self):  # type: ignore[no-untyped-def]
                return None

            def _refresh_sync(self, force: bool = False):  # type: ignore[no-untyped-def]
                return HealthDoc(), None, 0

        return MemoryHealthStore(path=os.devnull)


async def overhead(base: str, url: str, calls: int, rpm: int) -> dict[str, float]:
    from assistant.messages import Message
    from assistant.router.health import HealthStore
    from assistant.router.redis_state import RedisHealthStore, RedisRateLimiter

    home = Path(tempfile.mkdtemp())
    routers = {
        "none": _router(base, _MemoryOnly.make(), rpm),
        "file": _router(base, HealthStore(home / "health.json"), rpm),
        "redis": _router(base, RedisHealthStore(url, namespace="bench1:"), rpm),
    }
    routers["redis"].limiter = RedisRateLimiter(routers["redis"].health)
    messages = [Message.user("hi")]
    times: dict[str, list[float]] = {name: [] for name in routers}
    for i in range(calls + 50):
        for name, router in routers.items():
            start = time.perf_counter()
            await router.chat("bench/m", messages)
            if i >= 50:  # warm-up
                times[name].append(time.perf_counter() - start)
    for router in routers.values():
        await router.aclose()
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def _fleet_member(base: str, url: str, rpm: int, width: int, calls: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    os.environ["ASSISTANT_STATE_URL"] = url

    async def main() -> tuple[int, float, list[float]]:
        from assistant.errors import AllModelsFailedError
        from assistant.messages import Message
        from assistant.router.redis_state import RedisHealthStore, RedisRateLimiter

        health = RedisHealthStore(url, namespace="bench2:")
        router = _router(base, health, rpm)
        router.limiter = RedisRateLimiter(health)
        sent: list[float] = []

        async def one() -> None:
            try:
                start = time.time()
                reply = await router.chat("bench/m", [Message.user("hi")])
                # When the request went out: after the wait the rate window gave it.
                sent.append(start + reply.attempts[-1].wait_s)
            except AllModelsFailedError:
                pass  # the window was full for longer than the router waits

        start = time.perf_counter()
        for _ in range(calls // width):
            await asyncio.gather(*(one() for _ in range(width)))
        elapsed = time.perf_counter() - start
        await router.aclose()
        return len(sent), elapsed, sent

    out.put(asyncio.run(main()))


def fleet(base: str, url: str, rpm: int, width: int, calls: int) -> dict[str, float]:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [multiprocessing.Process(target=_fleet_member, args=(base, url, rpm, width, calls, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    answered = sum(r[0] for r in results)
    elapsed = max(r[1] for r in results)
    stamps = sorted(t for r in results for t in r[2])
    busiest = max((sum(1 for t in stamps[i:] if t < s + 60) for i, s in enumerate(stamps)), default=0)
    return {"answered": answered, "per_s": answered / elapsed, "busiest_minute": busiest}


def _redis_server() -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: apt-get install redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--rpm", type=int, default=60000, help="the limit for part 1 (high: consulted, never full)")
    parser.add_argument("--fleet-rpm", type=int, default=300, help="the shared window for part 2")
    parser.add_argument("--fleet-calls", type=int, default=200, help="calls per process in part 2")
    args = parser.parse_args()
    os.environ.setdefault("ASSISTANT_HOME", tempfile.mkdtemp())
    proc, url = _redis_server()
    try:
        with chat_server(_handler) as base:
            ms = asyncio.run(overhead(base, url, args.calls, args.rpm))
            print(f"router per call, no shared state  {ms['none']:.3f} ms")
            print(f"router per call, health file      {ms['file']:.3f} ms   (+{ms['file'] - ms['none']:.3f} ms)")
            print(f"router per call, Redis            {ms['redis']:.3f} ms   (+{ms['redis'] - ms['none']:.3f} ms, "
                  "target <= +0.2 ms)")
            result = fleet(base, url, args.fleet_rpm, 100, args.fleet_calls)
            print(f"4 processes x 100 concurrent, shared RPM {args.fleet_rpm}: {result['answered']} answered, "
                  f"{result['per_s']:.0f} calls/s together, busiest minute of sends {result['busiest_minute']} "
                  f"(limit {args.fleet_rpm}: {'held' if result['busiest_minute'] <= args.fleet_rpm else 'BROKEN'})")
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
