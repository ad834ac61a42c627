"""Router overhead per call by state backend, and a fleet's throughput under one shared RPM window.

    .venv/bin/python scripts/bench_state.py [--calls 600] [--rounds 5] [--fleet-rpm 300]

Part 1, overhead: ``Router.chat`` against one local fake server, one call at a time, for each state
backend - none shared (health in memory only: the baseline), the health file, Redis (chosen the way a
user does: ``ASSISTANT_STATE_URL``) - and two providers:
  - "no limits": a provider with no client-side request limits (most are configured so): a call
    needs no shared state before it is sent.
  - "rpm rule": the provider has ``rpm`` set (high: consulted on every call, never full), so every call
    reserves a slot in the rate window first: in memory for none and the file; with Redis, from a batch
    of slots this host leased from the shared window ahead of need (``redis_limits``), so most calls make
    no round trip: the script's round trips per call are counted at the server.
The six (and a bare Redis PING, what a round trip on every call would cost) are timed in turns so load
spikes hit all alike; the median ms per call of each and what the file and Redis add over none with the
same provider (target: Redis <= +0.2 ms).
Part 2, fleet: 4 processes (started together) x 100 concurrent calls each, ``--rounds`` times, all on
one Redis and one provider with an RPM rule:
  - throughput: the limit is high (consulted, never full): calls per second of the 4 together, and the
    same 4 processes with nothing shared (each its own in-memory window) as the baseline.
  - window held: the limit is ``--fleet-rpm`` and the fleet asks for more than that within the minute;
    a call that would have to wait for a slot is refused at once (``limit_wait_cap_s=0``) instead of
    sleeping out the minute, so the run takes seconds. The fake server stamps every request it
    receives: the busiest 60 s of requests must hold at most the limit, and exactly the limit answered.
A real redis-server is started on a free loopback port (Debian's package) and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty
from typing import Any

import orjson
from _benchlib import chat_server, interleaved
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMPLETION = orjson.dumps({
    "id": "c", "object": "chat.completion", "created": 1, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3},
})
KEY = "sk-bench-0123456789abcdef"


def _handler(stamps: str):  # type: ignore[no-untyped-def]
    """Answers every request; appends the time each one arrived to ``stamps`` (one line each)."""
    fd = os.open(stamps, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    async def handle(request: web.Request) -> web.Response:
        os.write(fd, b"%.6f\n" % time.time())
        await request.read()
        return web.Response(body=COMPLETION, content_type="application/json")

    return handle


def _registry(base: str, rpm: int) -> Any:
    from assistant.registry import LLMRegistry

    registry = LLMRegistry()
    registry.add_provider("open", kind="openai", base_url=base + "/v1", api_key=KEY)
    registry.add_provider("limited", kind="openai", base_url=base + "/v1", api_key=KEY, rpm=rpm)
    return registry


def _memory_only() -> Any:
    """The baseline's health store: never reads or writes anything shared."""
    from assistant.router.health import HealthDoc, HealthStore

    class MemoryHealthStore(HealthStore):
        async def refresh(self) -> None:
            pass

        def _flush_sync(self):  # type: ignore[no-untyped-def]
            return None

        def _refresh_sync(self, force: bool = False):  # type: ignore[no-untyped-def]
            return HealthDoc(), None, 0

    return MemoryHealthStore(path=os.devnull)


def _redis_router(base: str, url: str, rpm: int, **kw: Any) -> Any:
    """A router on Redis state, made the way a user gets one: ``ASSISTANT_STATE_URL``."""
    from assistant.router import Router

    os.environ["ASSISTANT_STATE_URL"] = url
    try:
        return Router(_registry(base, rpm), **kw)
    finally:
        del os.environ["ASSISTANT_STATE_URL"]


async def overhead(base: str, url: str, calls: int, rpm: int) -> dict[str, float]:
    from assistant.messages import Message
    from assistant.router import Router
    from assistant.router._resp import RespConnection
    from assistant.router.health import HealthStore

    home = Path(tempfile.mkdtemp())
    routers = {
        "none": Router(_registry(base, rpm), health=_memory_only()),
        "file": Router(_registry(base, rpm), health=HealthStore(home / "health.json")),
        "redis": _redis_router(base, url, rpm),
    }
    messages = [Message.user("hi")]
    fns = {f"{name} {model}": (lambda r=router, m=model: r.chat(f"{m}/m", messages))
           for model in ("open", "limited") for name, router in routers.items()}
    # What one loopback round trip to this Redis costs right now, on the limiter's kind of connection.
    conn = await RespConnection.open(url, timeout=2.0)
    fns["ping"] = lambda: conn.call("PING", timeout=2.0)
    await interleaved(fns, 50)  # warm-up
    scripts = await _script_calls(conn)
    ms = {name: s * 1e3 for name, s in (await interleaved(fns, calls)).items()}
    ms["trips"] = (await _script_calls(conn) - scripts) / calls
    conn.close()
    for router in routers.values():
        await router.aclose()
    return ms


async def _script_calls(conn: Any) -> int:
    """How many scripts Redis ran so far (the rate window's round trips)."""
    info = (await conn.call("INFO", "commandstats", timeout=2.0)).decode()
    return sum(int(line.split("calls=")[1].split(",")[0]) for line in info.splitlines()
               if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")))


def _fleet_member(base: str, url: str | None, rpm: int, rounds: int, cap: float, go: Any, out: Any) -> None:
    async def main() -> tuple[float, float, int, int]:
        from assistant.errors import AllModelsFailedError
        from assistant.messages import Message
        from assistant.router import Router
        from assistant.router.policies import RouterPolicy

        policy = RouterPolicy(limit_wait_cap_s=cap)
        if url is None:  # the baseline: every process on its own, nothing shared
            router = Router(_registry(base, rpm), health=_memory_only(), policy=policy)
        else:
            router = _redis_router(base, url, rpm, policy=policy)
        answered = refused = 0

        async def one() -> None:
            nonlocal answered, refused
            try:
                await router.chat("limited/m", [Message.user("hi")])
                answered += 1
            except AllModelsFailedError:
                refused += 1  # the window was full (only with a low limit)

        await router.chat("open/m", [Message.user("warm up")])  # connections open, nothing counted
        go.wait()
        start = time.time()
        for _ in range(rounds):
            await asyncio.gather(*(one() for _ in range(100)))
        end = time.time()
        await router.aclose()
        return start, end, answered, refused

    out.put(asyncio.run(main()))


def fleet(base: str, url: str | None, stamps: Path, rpm: int, rounds: int, cap: float) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue, go = context.Queue(), context.Barrier(4)
    procs = [context.Process(target=_fleet_member, args=(base, url, rpm, rounds, cap, go, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = []
    while len(results) < len(procs):
        try:
            results.append(queue.get(timeout=1.0))
        except Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                raise SystemExit("a fleet process failed (its traceback is above)") from None
    for p in procs:
        p.join()
    start, end = min(r[0] for r in results), max(r[1] for r in results)
    sent = sorted(t for line in stamps.read_text().split() if start <= (t := float(line)) <= end)
    busiest, first = 0, 0
    for last, t in enumerate(sent):
        while sent[first] <= t - 60:
            first += 1
        busiest = max(busiest, last - first + 1)
    calls = 4 * 100 * rounds
    return {"calls": calls, "per_s": calls / (end - start), "answered": sum(r[2] for r in results),
            "refused": sum(r[3] for r in results), "sent": len(sent), "busiest_minute": busiest}


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
    client.close()
    return proc, f"redis://127.0.0.1:{port}/0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=600, help="timed calls per router in part 1")
    parser.add_argument("--rpm", type=int, default=1_000_000, help="the part 1 limit (high: consulted, never full)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of 100 concurrent calls per process in part 2")
    parser.add_argument("--fleet-rpm", type=int, default=300, help="the low shared limit of part 2")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-fleet", action="store_true")
    args = parser.parse_args()
    home = tempfile.mkdtemp()
    os.environ["ASSISTANT_HOME"] = home
    stamps = Path(home) / "sent.txt"
    proc, url = _redis_server()
    try:
        with chat_server(_handler, str(stamps)) as base:
            if not args.skip_overhead:
                ms = asyncio.run(overhead(base, url, args.calls, args.rpm))
                for model, what in (("open", "no limits"), ("limited", "rpm rule")):
                    none = ms[f"none {model}"]
                    print(f"{what:9}  none {none:.3f} ms/call   file {ms[f'file {model}'] - none:+.3f} ms   "
                          f"redis {ms[f'redis {model}'] - none:+.3f} ms   (target: redis <= +0.2 ms)")
                print(f"one bare Redis round trip (PING) meanwhile: {ms['ping']:.3f} ms; "
                      f"rate-window round trips per rpm-rule call: {ms['trips']:.3f}")
            if not args.skip_fleet:
                alone = fleet(base, None, stamps, 10**7, args.rounds, 60.0)
                fast = fleet(base, url, stamps, 10**7, args.rounds, 60.0)
                print(f"fleet, 4 processes x 100 concurrent: nothing shared {alone['per_s']:.0f} calls/s together; "
                      f"one shared RPM window in Redis (never full) {fast['per_s']:.0f} calls/s "
                      f"({fast['per_s'] / alone['per_s']:.0%}), {fast['answered']}/{fast['calls']} answered")
                low = args.fleet_rpm
                held = fleet(base, url.replace("/0", "/1"), stamps, low, args.rounds, 0.0)
                ok = held["busiest_minute"] <= low and held["answered"] == low
                print(f"fleet, shared RPM {low}: {held['calls']} asked, {held['answered']} answered, {held['refused']} "
                      f"refused (window full), {held['per_s']:.0f} calls/s; busiest 60 s at the server: "
                      f"{held['busiest_minute']} requests ({'held' if ok else 'BROKEN'})")
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
