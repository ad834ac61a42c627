"""Fleets on one Redis: shared cooldowns, exact rate windows, shared key positions, histories any host
continues, and calls that keep being answered when Redis dies. A real redis-server, started here."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.messages import ChatResponse, Message

redis = pytest.importorskip("redis", reason="the redis extra is not installed (pip install -e '.[redis]')")
SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(SERVER is None, reason="no redis-server binary (apt-get install redis-server)")
ROOT = Path(__file__).resolve().parents[1]


class RedisServer:
    def __init__(self, tmp: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.tmp = tmp
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert SERVER is not None
        self.proc = subprocess.Popen(
            [SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    found = RedisServer(tmp_path)
    found.start()
    try:
        yield found
    finally:
        found.stop()


def run_hosts(server: RedisServer, code: str, count: int, home: Path, *args: str) -> list[str]:
    """Run ``code`` in ``count`` separate Python processes (each one host); their stdout lines."""
    env = {**os.environ, "ASSISTANT_STATE_URL": server.url, "ASSISTANT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(i), *args], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(count)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out.strip())
    return outs


def test_a_cooldown_one_host_learns_stops_the_others_on_their_next_call(server: RedisServer, tmp_path: Path) -> None:
    flag = tmp_path / "learned"
    code = """
        import asyncio, sys, time, pathlib
        from assistant.router.shared import open_state
        from assistant.router.policies import Breaker
        me, flag = int(sys.argv[1]), pathlib.Path(sys.argv[2])
        async def main():
            health, _ = open_state(clock=time.time, breaker=Breaker())
            await health.refresh()
            if me == 0:
                await health.cool_down("groq", 60, "rate_limit: 429 from groq")
                flag.touch()
            else:
                while not flag.exists():
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)
                await health.refresh()          # what the router does at the start of every call
            print(health.cooldown("groq") is not None)
            await health.aclose()
        asyncio.run(main())
    """
    assert run_hosts(server, code, 4, tmp_path, str(flag)) == ["True"] * 4


def test_an_rpm_limit_holds_for_four_hosts_together(server: RedisServer, tmp_path: Path) -> None:
    code = """
        import asyncio, sys, time
        from assistant.router.shared import open_state
        from assistant.router.policies import Breaker
        from assistant.router.ratelimit import limit_rules
        async def main():
            health, limiter = open_state(clock=time.time, breaker=Breaker())
            rules = limit_rules("groq", "llama", rpm=12)
            sent = 0
            for _ in range(10):
                if await limiter.reserve_async(rules, time.time(), 0.0) == 0.0:
                    sent += 1
            print(sent)
        asyncio.run(main())
    """
    sent = [int(line) for line in run_hosts(server, code, 4, tmp_path)]
    assert sum(sent) == 12  # 40 tried, the minute allows 12, whoever asked first


def test_a_key_rotation_moves_every_host_instead_of_ping_ponging(server: RedisServer) -> None:
    from assistant.router.redis_state import RedisHealthStore

    async def main() -> None:
        one, two = RedisHealthStore(server.url), RedisHealthStore(server.url)
        await one.refresh()
        await two.refresh()
        one.key_positions["groq"] = 1  # what the router does when it rotates after a 429
        await asyncio.sleep(0.2)
        await two.refresh()
        assert two.key_positions.get("groq") == 1
        await one.aclose()
        await two.aclose()

    asyncio.run(main())


def test_routers_on_two_hosts_share_what_a_429_taught(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import FakeClient

    from assistant.errors import RateLimitError
    from assistant.registry import LLMRegistry
    from assistant.router import Router
    from assistant.router.policies import RouterPolicy

    monkeypatch.setenv("ASSISTANT_STATE_URL", server.url)
    calls: dict[str, int] = {"a": 0, "b": 0}

    def registry(first_fails: bool) -> LLMRegistry:
        reg = LLMRegistry()
        for name in ("a", "b"):
            def answer(request: Any, name: str = name) -> ChatResponse:
                calls[name] += 1
                if name == "a" and first_fails:
                    raise RateLimitError("slow down", provider="a", status=429, retry_after=30)
                return ChatResponse(text=f"from {name}", provider=name, model="m")
            reg.add_provider(name, kind="openai", base_url="http://127.0.0.1:9/v1", api_key="sk-test-0123456789abcd",
                             client=FakeClient(answer, provider=name))
        return reg

    async def main() -> None:
        async def no_sleep(seconds: float) -> None:
            pass

        host1 = Router(registry(True), policy=RouterPolicy(sleep=no_sleep))
        host2 = Router(registry(False), policy=RouterPolicy(sleep=no_sleep))
        assert (await host1.chat(["a/m", "b/m"], [Message.user("hi")])).text == "from b"
        before = calls["a"]
        await asyncio.sleep(0.2)
        reply = await host2.chat(["a/m", "b/m"], [Message.user("hi")])
        assert reply.text == "from b" and calls["a"] == before  # host 2 did not ask the cooling provider
        assert reply.attempts[0].detail.startswith("skipped")
        await host1.aclose()
        await host2.aclose()

    asyncio.run(main())


def test_killing_redis_mid_run_leaves_every_call_answered(server: RedisServer, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    from conftest import FakeClient

    from assistant.registry import LLMRegistry
    from assistant.router import Router

    monkeypatch.setenv("ASSISTANT_STATE_URL", server.url)
    reg = LLMRegistry()
    reg.add_provider("a", kind="openai", base_url="http://127.0.0.1:9/v1", api_key="sk-test-0123456789abcd", rpm=1000,
                     client=FakeClient(lambda r: ChatResponse(text="fine", provider="a", model="m"), provider="a"))

    async def main() -> list[str]:
        router = Router(reg)
        texts = []
        for i in range(20):
            if i == 5:
                server.stop()
            texts.append((await router.chat("a/m", [Message.user("hi")])).text)
        await router.aclose()
        return texts

    with caplog.at_level(logging.WARNING, logger="assistant.router.redis_state"):
        assert asyncio.run(main()) == ["fine"] * 20
    warnings = [r for r in caplog.records if "not answering" in r.getMessage()]
    assert 1 <= len(warnings) <= 2  # once for the health document, once for the rate windows


def test_news_made_while_redis_was_down_reaches_it_when_it_is_back(server: RedisServer) -> None:
    from assistant.router.redis_state import RedisHealthStore

    async def main() -> None:
        host = RedisHealthStore(server.url)
        await host.refresh()
        server.stop()
        await host.cool_down("groq", 120, "rate_limit")  # kept in this process meanwhile
        assert host.cooldown("groq") is not None
        server.start()
        time.sleep(2.1)  # past the retry pause
        await host.refresh()  # resynchronises: the queued change is written
        other = RedisHealthStore(server.url)
        await other.refresh()
        assert other.cooldown("groq") is not None
        await host.aclose()
        await other.aclose()

    asyncio.run(main())


def test_fifty_conversations_continued_alternately_by_two_hosts_lose_and_duplicate_nothing(
        server: RedisServer, tmp_path: Path) -> None:
    code = """
        import asyncio, sys
        sys.path.insert(0, sys.argv[3])
        from test_chat import EchoAgent
        from assistant.chat import ChatSession
        host, turn = int(sys.argv[1]), int(sys.argv[2])
        async def main():
            for c in range(50):
                await ChatSession(EchoAgent(), conversation_id=f"user-{c}").send(f"turn {turn} from host {host}")
        asyncio.run(main())
    """
    tests_dir = str(Path(__file__).parent)
    for turn in range(4):
        run_hosts(server, code.replace("int(sys.argv[1])", str(turn % 2)), 1, tmp_path, str(turn), tests_dir)

    from assistant.chat.redis_history import RedisHistoryStore

    for c in range(50):
        messages = RedisHistoryStore.for_conversation(f"user-{c}", server.url).load().messages
        expected = []
        for turn in range(4):
            text = f"turn {turn} from host {turn % 2}"
            expected += [("user", text), ("assistant", f"echo: {text}")]
        assert [(m.role, m.content) for m in messages] == expected


def test_a_turn_redis_could_not_store_is_reported_not_dropped(server: RedisServer) -> None:
    from assistant.chat.history import MessageRecord
    from assistant.chat.redis_history import HistoryUnavailableError, RedisHistoryStore

    store = RedisHistoryStore.for_conversation("user-down", server.url)
    server.stop()
    with pytest.raises(HistoryUnavailableError, match="was not stored"):
        store.append([MessageRecord(message=Message.user("hello"))])


def test_two_hosts_never_hold_one_conversations_turn_at_once(server: RedisServer) -> None:
    from assistant.chat.redis_history import HistoryUnavailableError, RedisHistoryStore

    one = RedisHistoryStore.for_conversation("user-lock", server.url)
    two = RedisHistoryStore(redis.Redis.from_url(server.url), "user-lock")
    with one.turn_lock():
        with pytest.raises(HistoryUnavailableError, match="busy on another host"):
            with two.turn_lock(timeout=0.3):
                pass
    with two.turn_lock(timeout=1.0):
        pass


def test_doctor_names_the_state_backend(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.router.redis_state import RedisHealthStore
    from assistant.router.shared import describe_state

    health = RedisHealthStore(server.url)
    assert describe_state(health) == f"redis 127.0.0.1:{server.port}/0" and health.ping()
    server.stop()
    assert health.ping() is False


def test_a_state_url_that_is_not_redis_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.errors import UsageError
    from assistant.router.shared import state_url

    monkeypatch.setenv("ASSISTANT_STATE_URL", "postgres://x")
    with pytest.raises(UsageError, match="not a Redis URL"):
        state_url()



def test_a_window_one_host_learned_from_an_overflow_is_known_to_another(server: RedisServer, tmp_path: Path) -> None:
    """Two hosts with homes of their own (no shared catalog file): what one learned reaches the other
    through Redis while it runs; a local server's window stays on its host."""
    listener = """
        import asyncio, pathlib, sys, time
        from assistant.router import Router
        ready = pathlib.Path(sys.argv[2])
        async def main():
            router = Router()
            await router.health.refresh()
            ready.touch()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                await router.health.refresh()  # what every call does first
                known = router.catalog.learned("openai/gpt-big")
                if known is not None:
                    break
                await asyncio.sleep(0.05)
            print(known.window if known else None, router.catalog.learned("llama/smollm2"))
            await router.aclose()
        asyncio.run(main())
    """
    learner = """
        import asyncio, sys
        sys.path.insert(0, sys.argv[2])
        from conftest import FakeClient
        from assistant.errors import AllModelsFailedError, ContextOverflowError
        from assistant.messages import ChatResponse, Message
        from assistant.registry import LLMRegistry
        from assistant.router import Router
        def answer(request):
            if request.model == "gpt-big":
                raise ContextOverflowError("maximum context length is 8192 tokens", provider="openai", model="gpt-big",
                                           status=400, context_window=8192, prompt_tokens=9000)
            return ChatResponse(text="fine", provider="openai", model=request.model)
        async def main():
            registry = LLMRegistry()
            registry.add_provider("openai", api_key="sk-test-0123456789abcd", client=FakeClient(answer, provider="openai"))
            router = Router(registry)
            try:
                await router.chat(["openai/gpt-big", "openai/gpt-other"], [Message.user("hi")])
            except AllModelsFailedError:
                pass
            router.catalog.learn("llama/smollm2", context_window=512, source="server http://127.0.0.1:8080/props")
            print(router.catalog.learned("openai/gpt-big").window)
            await router.aclose()
        asyncio.run(main())
    """
    ready = tmp_path / "ready"
    env = {**os.environ, "ASSISTANT_STATE_URL": server.url, "PYTHONPATH": str(ROOT)}
    other = subprocess.Popen([sys.executable, "-c", textwrap.dedent(listener), "1", str(ready)], text=True,
                             env={**env, "ASSISTANT_HOME": str(tmp_path / "host1")}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not ready.exists() and other.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    learned = subprocess.run([sys.executable, "-c", textwrap.dedent(learner), "0", str(Path(__file__).parent)],
                             env={**env, "ASSISTANT_HOME": str(tmp_path / "host0")}, capture_output=True, text=True,
                             timeout=120)
    assert learned.returncode == 0, learned.stderr
    assert learned.stdout.strip() == "8192"
    out, err = other.communicate(timeout=60)
    assert other.returncode == 0, err
    assert out.strip() == "8192 None"


def test_concurrent_commands_on_one_connection_are_answered_in_order(server: RedisServer) -> None:
    from assistant.router._resp import RespConnection

    async def main() -> list[Any]:
        conn = await RespConnection.open(server.url, timeout=2.0)
        replies = await asyncio.gather(*(conn.call("INCR", "counter", timeout=2.0) for _ in range(200)))
        conn.close()
        return replies

    assert asyncio.run(main()) == list(range(1, 201))


def test_a_reply_later_than_its_timeout_breaks_the_connection_and_the_next_one_is_fresh(server: RedisServer) -> None:
    from assistant.router._resp import RespConnection

    async def main() -> None:
        conn = await RespConnection.open(server.url, timeout=2.0)
        blocked = conn.call("BLPOP", "never-filled", 1, timeout=0.1)
        behind = conn.call("PING", timeout=2.0)
        with pytest.raises(TimeoutError):
            await blocked
        with pytest.raises(TimeoutError):
            await behind  # its reply would come after the late one: it can no longer be matched
        assert not conn.usable
        fresh = await RespConnection.open(server.url, timeout=2.0)
        assert await fresh.call("PING", timeout=2.0) == b"PONG"
        fresh.close()

    asyncio.run(main())


def test_the_rate_window_survives_a_redis_restart_that_forgot_the_script(server: RedisServer) -> None:
    from assistant.router.ratelimit import limit_rules
    from assistant.router.redis_limits import RedisRateLimiter
    from assistant.router.redis_state import RedisHealthStore

    async def main() -> list[float]:
        limiter = RedisRateLimiter(RedisHealthStore(server.url))
        rules = limit_rules("groq", "llama", rpm=2)
        waits = [await limiter.reserve_async(rules, time.time(), 0.0)]
        redis.Redis.from_url(server.url).script_flush()
        waits.append(await limiter.reserve_async(rules, time.time(), 0.0))
        waits.append(await limiter.reserve_async(rules, time.time(), 0.0))
        await limiter.aclose()
        return waits

    first, second, third = asyncio.run(main())
    assert first == second == 0.0 and third > 50  # the third of an RPM-2 window waits out the minute
