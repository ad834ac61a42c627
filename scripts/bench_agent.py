"""Agent overhead per step beyond the model call, and memory over many concurrent runs.

    .venv/bin/python scripts/bench_agent.py [--runs 200] [--steps 10] [--rounds 5] [--http]

1. Overhead: a scripted in-process router answers every step at once (one tool call per step, then
   the answer). The baseline, measured in the same run, is the same router calls consumed directly
   and the same tool invoked directly; what the agent adds on top is its overhead per step (target
   < 0.2 ms, issue 14). With ``--http`` the steps go through the real router to a local OpenAI-shape fake server
   instead, and the time spent inside ``router.stream`` is subtracted.
2. Memory: ``--runs`` agent runs at once, ``--rounds`` times over, each model call taking 5 ms; RSS
   after each round should stay flat, and peak RSS is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("ASSISTANT_HOME", tempfile.mkdtemp(prefix="bench-agent-"))

from assistant.agent import Agent  # noqa: E402
from assistant.agent.tools import Tool  # noqa: E402
from assistant.messages import ChatResponse, Message, StreamEvent, ToolCall, Usage  # noqa: E402


async def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: First.
        b: Second.
    """
    return a + b


def _event(type_: str, **fields: Any) -> StreamEvent:
    values: dict[str, Any] = {"text": None, "tool_call": None, "usage": None, "response": None, "attempt": None}
    values.update(fields)
    return StreamEvent.model_construct(type=type_, **values)


class ScriptedRouter:
    """Answers ``steps`` tool calls, then a final answer, decided from the conversation itself so any
    number of runs can share it. ``latency`` simulates the model's time."""

    def __init__(self, steps: int, latency: float = 0.0) -> None:
        self.steps = steps
        self.latency = latency

    def stream(self, model: Any, messages: list[Message], tools: Any = (), **options: Any) -> AsyncIterator[StreamEvent]:
        return self._events(sum(1 for m in messages if m.role == "tool"))

    async def _events(self, done: int) -> AsyncIterator[StreamEvent]:
        if self.latency:
            await asyncio.sleep(self.latency)
        if done < self.steps:
            call = ToolCall.model_construct(id=f"c{done}", name="add", arguments={"a": done, "b": 1}, signature=None)
            response = ChatResponse.model_construct(text="", reasoning=None, tool_calls=[call], finish_reason="tool_calls",
                                                    raw_finish_reason="tool_calls", usage=Usage(), model="m", provider="fake",
                                                    attempts=[], opaque={})
            yield _event("tool_call", tool_call=call)
        else:
            response = ChatResponse.model_construct(text="done", reasoning=None, tool_calls=[], finish_reason="stop",
                                                    raw_finish_reason="stop", usage=Usage(), model="m", provider="fake",
                                                    attempts=[], opaque={})
            yield _event("text", text="done")
        yield _event("done", response=response)

    async def aclose(self) -> None:
        pass


async def _baseline(router: ScriptedRouter, tool: Tool, steps: int) -> float:
    """The same model calls and tool calls, without the agent."""
    started = time.perf_counter()
    messages = [Message.system("s"), Message.user("task")]
    for i in range(steps + 1):
        async for _event_ in router.stream("fake/m", messages):
            pass
        if i < steps:
            await tool.call({"a": i, "b": 1})
            messages.append(Message.tool("x", tool_call_id=str(i), name="add"))
    return time.perf_counter() - started


async def overhead(runs: int, steps: int) -> None:
    router = ScriptedRouter(steps)
    tool = Tool(add)
    agent = Agent("fake/m", [tool], router=router, max_steps=steps + 1)
    for _ in range(20):  # warm up
        await agent.run("task")
        await _baseline(router, tool, steps)
    agent_times, base_times = [], []
    for _ in range(runs):
        started = time.perf_counter()
        result = await agent.run("task")
        agent_times.append(time.perf_counter() - started)
        base_times.append(await _baseline(router, tool, steps))
        assert result.output == "done" and len(result.steps) == steps + 1
    calls = steps + 1
    per_agent = statistics.median(agent_times) / calls
    per_base = statistics.median(base_times) / calls
    print(f"overhead (in-process router, {runs} runs x {calls} model calls, async tool):")
    print(f"  baseline: {per_base * 1e6:8.1f} us per step (router events + tool call, no agent)")
    print(f"  agent:    {per_agent * 1e6:8.1f} us per step  ({per_agent / per_base:.1f}x baseline)")
    print(f"  agent overhead per step: {(per_agent - per_base) * 1e3:.3f} ms  (target < 0.2 ms)")


async def overhead_http(runs: int, steps: int) -> None:
    from aiohttp import web

    from assistant.registry import LLMRegistry
    from assistant.router import Router

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        done = sum(1 for m in body["messages"] if m["role"] == "tool")
        if done < steps:
            message = {"role": "assistant", "content": "", "tool_calls": [
                {"id": f"c{done}", "type": "function", "function": {"name": "add", "arguments": f'{{"a": {done}, "b": 1}}'}}]}
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": "done"}, "stop"
        return web.json_response({"id": "x", "object": "chat.completion", "model": "m",
                                  "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                  "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    registry = LLMRegistry()
    registry.add_provider("fake", kind="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-bench-0123456789")
    inner = Router(registry)
    spent = [0.0]

    class Timed:
        def stream(self, *args: Any, **kw: Any) -> AsyncIterator[StreamEvent]:
            return self._timed(inner.stream(*args, **kw))

        async def _timed(self, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
            while True:
                started = time.perf_counter()
                try:
                    event = await events.__anext__()
                except StopAsyncIteration:
                    spent[0] += time.perf_counter() - started
                    return
                spent[0] += time.perf_counter() - started
                yield event

    agent = Agent("fake/m", [add], router=Timed(), max_steps=steps + 1)
    for _ in range(5):
        await agent.run("task")
    per_step = []
    for _ in range(runs):
        spent[0] = 0.0
        started = time.perf_counter()
        await agent.run("task")
        per_step.append((time.perf_counter() - started - spent[0]) / (steps + 1))
    await inner.aclose()
    await runner.cleanup()
    print(f"overhead (real router over local HTTP, {runs} runs x {steps + 1} model calls):")
    print(f"  agent time per step outside router.stream: {statistics.median(per_step) * 1e3:.3f} ms (incl. the tool call)")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def memory(runs: int, steps: int, rounds: int) -> None:
    router = ScriptedRouter(steps, latency=0.005)
    agent = Agent("fake/m", [add], router=router, max_steps=steps + 1)
    print(f"memory ({runs} concurrent runs x {steps + 1} model calls of 5 ms, {rounds} rounds):")
    after: list[float] = []
    for n in range(rounds):
        started = time.perf_counter()
        results = await asyncio.gather(*(agent.run(f"task {i}") for i in range(runs)))
        assert all(r.output == "done" for r in results)
        del results
        gc.collect()
        after.append(_rss_mb())
        print(f"  round {n + 1}: {time.perf_counter() - started:.2f}s, RSS {after[-1]:.1f} MB")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  RSS growth from round 1 to {rounds}: {after[-1] - after[0]:+.1f} MB; peak RSS {peak:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--http", action="store_true", help="also measure through the real router over local HTTP")
    args = parser.parse_args()
    asyncio.run(overhead(args.runs, args.steps))
    if args.http:
        asyncio.run(overhead_http(max(args.runs // 4, 10), args.steps))
    asyncio.run(memory(args.runs, args.steps, args.rounds))


if __name__ == "__main__":
    main()
