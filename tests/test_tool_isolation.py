"""Tools cannot take the engine down: no tool blocks the event loop, stuck tools never starve the
engine's own threads, and whatever a model sends as arguments ends as an observation."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.agent import Agent
from assistant.agent._threads import ToolThreads
from assistant.agent.tools import Tool, ToolFailedError, ToolTimeoutError
from assistant.chat import ChatSession
from assistant.messages import ChatResponse, StreamEvent, ToolCall
from tools.calculator import calculator


class FakeRouter:
    """The router's ``stream`` shape, answering from a list of ChatResponses."""

    def __init__(self, replies: list[ChatResponse]) -> None:
        self.replies = list(replies)

    def stream(self, model: Any, messages: Any, tools: Any = (), **options: Any) -> Any:
        return self._events(self.replies.pop(0) if self.replies else ChatResponse(text="done", provider="p", model="m"))

    async def _events(self, reply: ChatResponse) -> Any:
        if reply.text:
            yield StreamEvent(type="text", text=reply.text)
        yield StreamEvent(type="done", response=reply)

    async def aclose(self) -> None:
        pass


def calls(*arguments: Any, name: str = "calculator") -> ChatResponse:
    return ChatResponse(text="", provider="p", model="m", finish_reason="tool_calls",
                        tool_calls=[ToolCall.model_construct(id=f"c{i}", name=name, arguments=a, signature=None)
                                    for i, a in enumerate(arguments)])


def said(text: str) -> ChatResponse:
    return ChatResponse(text=text, provider="p", model="m")


async def _max_loop_lag(work: Any) -> tuple[Any, float]:
    lag = 0.0
    done = False

    async def probe() -> None:
        nonlocal lag
        while not done:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lag = max(lag, time.perf_counter() - before - 0.01)

    prober = asyncio.create_task(probe())
    try:
        result = await work
    finally:
        done = True
        await prober
    return result, lag


# --- the calculator's caps --------------------------------------------------------------------------


@pytest.mark.parametrize("expression", [
    "perm(10**6)", "factorial(10**6)", "comb(10**6, 5*10**5)", "2 ** 2 ** 2 ** 2 ** 2 ** 2", "round(5, -10**9)",
    "lcm(2**60000, 3**60000)", "factorial(3000)",
])
async def test_oversized_arithmetic_is_refused_fast_without_stalling_the_loop(expression: str) -> None:
    tool = Tool(calculator)
    with pytest.raises(ToolFailedError, match="too large|between|digits") as info:
        await _max_loop_lag(tool.invoke({"expression": expression}))
    assert "Exceeds the limit" not in str(info.value)


async def test_perm_of_a_million_takes_milliseconds() -> None:
    started = time.perf_counter()
    _, lag = await _max_loop_lag(asyncio.gather(Tool(calculator).invoke({"expression": "perm(10**6)"}), return_exceptions=True))
    assert time.perf_counter() - started < 1.0
    assert lag < 0.5


def test_results_too_long_to_show_name_their_size() -> None:
    from tools.calculator import evaluate, calculator as calc

    assert len(calc("10 ** 4299")) == 4300
    with pytest.raises(Exception, match=r"4301 digits \(about 1e\+4300\)"):
        calc("10 ** 4300")
    assert evaluate("perm(10**300, 2)") == 10**600 - 10**300


# --- threads ---------------------------------------------------------------------------------------


async def test_calls_past_the_pool_size_wait_for_a_free_thread() -> None:
    pool = ToolThreads(2)
    running = 0
    peak = 0

    def work() -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        time.sleep(0.05)
        running -= 1
        return 1

    results = await asyncio.gather(*(pool.run(work) for _ in range(6)))
    assert results == [1] * 6 and peak <= 2 and pool.busy == 0


async def test_a_tool_waiting_for_a_thread_times_out_as_an_observation() -> None:
    import tools  # noqa: F401  (the pool is shared by every tool)
    from assistant.agent import _threads

    release = __import__("threading").Event()
    pool = ToolThreads(1)
    original = _threads._shared
    _threads._shared = pool
    try:
        stuck = Tool(lambda: release.wait(5) and "late", name="stuck", timeout=0.2)
        with pytest.raises(ToolTimeoutError, match="timed out"):
            await stuck.invoke({})
        with pytest.raises(ToolTimeoutError, match="could not start.*1 tool threads are busy"):
            await Tool(lambda: "never", name="next", timeout=0.2).invoke({})
    finally:
        release.set()
        _threads._shared = original


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs")
async def test_tools_stuck_on_a_fifo_time_out_and_the_chat_turn_still_finishes(tmp_path: Path) -> None:
    # More stuck calls than asyncio's default executor has threads (min(32, cpus + 4)).
    count = min(32, (os.cpu_count() or 1) + 4) + 2
    fifos = [tmp_path / f"pipe{i}" for i in range(count)]
    for fifo in fifos:
        os.mkfifo(fifo)

    def read_pipe(path: str) -> str:
        """Read a file."""
        with open(path) as fh:  # blocks until a writer opens the FIFO: never, in this test
            return fh.read()

    router = FakeRouter([calls(*({"path": str(fifo)} for fifo in fifos), name="read_pipe"), said("gave up on the pipe")])
    agent = Agent(model="p/m", tools=[read_pipe], router=router, tool_timeout=0.3)
    session = ChatSession(agent, "fifo", greeting=False)
    try:
        result = await asyncio.wait_for(session.send("read the pipe"), 20)
        assert result.output == "gave up on the pipe"
        assert {r.outcome for r in result.steps[0].tool_results} == {"timeout"}
        again = ChatSession(Agent(model="p/m", router=FakeRouter([said("still here")])), "fifo", greeting=False)
        assert (await asyncio.wait_for(again.send("hello?"), 20)).output == "still here"
    finally:
        for fifo in fifos:  # let the stuck readers go
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # ENXIO: that reader never started (the pool was full)
                pass


# --- whatever the model sends ----------------------------------------------------------------------


@pytest.mark.parametrize("arguments", [
    {"expression": 10**5000},
    {"expression": 2**70},
    {"expression": ["1+1", {"a": None}]},
    {"expression": float("nan")},
    {"_positional": 5},
    {"_positional": [10**100]},
    {"_raw_arguments": 10**100},
    {"_raw_arguments": "}{junk"},
    ["not", "an", "object"],
    "2+2",
    None,
])
async def test_junk_arguments_end_as_an_observation_never_an_exception(arguments: Any) -> None:
    agent = Agent(model="p/m", tools=[calculator], router=FakeRouter([calls(arguments), said("done")]))
    result = await agent.run("compute")
    assert result.output == "done" and result.stop_reason == "final"
    (observation,) = result.steps[0].tool_results
    assert observation.outcome in ("ok", "invalid_arguments", "error")


async def test_a_text_tool_call_with_a_huge_number_becomes_an_observation() -> None:
    text = '<tool_call>{"name": "calculator", "arguments": {"expression": 1' + "0" * 400 + '}}</tool_call>'
    agent = Agent(model="p/m", tools=[calculator], tool_mode="prompt", router=FakeRouter([said(text), said("done")]))
    result = await agent.run("compute")
    assert result.output == "done"
    assert [r.outcome for s in result.steps for r in s.tool_results] in (["ok"], ["invalid_arguments"], ["error"])


async def test_a_huge_integer_argument_is_kept_exact_for_an_int_parameter() -> None:
    def double(n: int) -> int:
        """Double a number."""
        return n * 2

    agent = Agent(model="p/m", tools=[double], router=FakeRouter([calls({"n": 2**70}, name="double"), said("done")]))
    result = await agent.run("double it")
    assert result.steps[0].tool_results[0].output == str(2**71)


async def test_fetch_url_parses_a_big_page_off_the_event_loop(fake_server) -> None:
    from aiohttp import web

    from tools.fetch_url import make_fetch_url

    page = "<html><body>" + "<div><p>Hello <b>world</b> &amp; <a href='x'>link</a></p></div>" * 25000 + "</body></html>"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    server = fake_server(handler)
    text, lag = await _max_loop_lag(make_fetch_url(allow_private=True, timeout=60).invoke({"url": server.url + "/"}))
    assert text.startswith("URL: ") and "Hello world & link" in text
    assert lag < 0.5


async def test_a_sync_tool_calling_sys_exit_fails_as_an_observation() -> None:
    def quits(code: int) -> str:
        """Quit."""
        raise SystemExit(code)

    with pytest.raises(ToolFailedError, match="SystemExit"):
        await Tool(quits).invoke({"code": 3})


async def test_a_cancelled_wait_for_a_thread_gives_no_slot_away() -> None:
    import threading

    pool = ToolThreads(1)
    release = threading.Event()
    holder = asyncio.create_task(pool.run(release.wait, 5))
    await asyncio.sleep(0.05)
    waiter = asyncio.create_task(pool.run(lambda: "never"))
    await asyncio.sleep(0.05)
    waiter.cancel()
    release.set()
    assert await holder is True
    assert await pool.run(lambda: "next") == "next"
    await asyncio.sleep(0.05)
    assert pool.busy == 0 and waiter.cancelled()
