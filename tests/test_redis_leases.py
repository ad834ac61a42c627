"""Rate-window slots leased in batches from Redis: a busy host makes few round trips, a fleet still sends at
most the limit in any window, unused slots go back to the others, and a dead Redis leaves calls answered.
A real redis-server (the fixture of test_redis_state)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from test_redis_state import ROOT, SERVER, RedisServer, redis, server  # noqa: F401 - ``server`` is the fixture

from assistant.messages import ChatResponse, Message
from assistant.router._leases import LEASE_TTL_S, MIN_LEASE, Lease, LeasePool
from assistant.router.ratelimit import Rule, Window, limit_rules

pytestmark = pytest.mark.skipif(SERVER is None, reason="no redis-server binary (apt-get install redis-server)")

COMPLETION = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 1, "completion_tokens": 1}}


def limiter(url: str, share: float | None = None) -> Any:
    from assistant.router.redis_limits import RedisRateLimiter
    from assistant.router.redis_state import RedisHealthStore

    found = RedisRateLimiter(RedisHealthStore(url))
    if share is not None:
        found.lease_share = share
    return found


async def take_all(limiter: Any, rules: Any, tries: int) -> int:
    """Ask ``tries`` times in quick succession (a busy host); how many got a slot at once."""
    got = 0
    for _ in range(tries):
        if await limiter.reserve_async(rules, time.time(), 0.0) == 0.0:
            got += 1
    return got


def evalsha_calls(url: str) -> int:
    stats = redis.Redis.from_url(url).info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))


def busiest(stamps: list[float], period: float = 60.0) -> int:
    stamps = sorted(stamps)
    most, first = 0, 0
    for last, t in enumerate(stamps):
        while stamps[first] <= t - period:
            first += 1
        most = max(most, last - first + 1)
    return most


# --- the local stock ------------------------------------------------------------------------------


def test_a_lease_follows_the_recent_call_rate_within_a_share_of_the_limit() -> None:
    pool = LeasePool(limit_rules("groq", "m", rpm=100_000), share=0.01)
    assert pool.want(0.0) == 0  # no calls yet: nothing worth holding
    for i in range(400):
        pool.note_call(i / 400)
    assert pool.want(1.0) == 100  # a quarter second of 400 calls a second
    assert pool.want(10.0) == 0  # idle again
    small = LeasePool(limit_rules("groq", "m", rpm=150), share=0.01)
    for i in range(400):
        small.note_call(i / 400)
    assert small.want(1.0) == 0 < MIN_LEASE  # 1 % of 150 rounds to one slot: every call reserves its own


def test_leased_slots_are_handed_out_until_used_up_or_expired() -> None:
    pool = LeasePool(limit_rules("groq", "m", rpm=100_000))
    pool.leases.append(Lease("a.", until=10.0, last=2, keys=["k"]))
    pool.leases.append(Lease("b.", until=20.0, last=2, keys=["k"]))
    assert pool.take(5.0) == (True, []) and pool.take(5.0) == (True, [])
    assert pool.stock() == 2
    got, expired = pool.take(30.0)
    assert not got and [lease.member for lease in expired] == ["b."] and expired[0].unused == 2


# --- one host, real Redis -------------------------------------------------------------------------


def test_a_busy_host_reserves_most_slots_without_a_round_trip(server: RedisServer) -> None:
    async def main() -> int:
        host = limiter(server.url)
        got = await take_all(host, limit_rules("groq", "m", rpm=1_000_000), 2000)
        await host.aclose()
        return got

    before = evalsha_calls(server.url)
    assert asyncio.run(main()) == 2000
    assert evalsha_calls(server.url) - before < 200  # one round trip per call before leasing


def test_a_leased_slot_counts_in_the_window_until_its_lease_ends(server: RedisServer) -> None:
    """A slot leased at T may go out at any time until T + LEASE_TTL_S: the window counts it until then + P,
    and a lease that is over hands out nothing. The script takes the time from the caller, so the clock
    here is explicit; every slot handed out is a send."""
    rules = (Rule("short", (Window(40, 1.0),)),)
    start = time.time()
    sent: list[float] = []

    async def ask(limiter: Any, at: float, tries: int) -> None:
        for _ in range(tries):
            if await limiter.reserve_async(rules, at, 0.0) == 0.0:
                sent.append(at)

    async def main() -> None:
        lender, other = limiter(server.url, share=0.5), limiter(server.url)
        await ask(lender, start, 12)
        await asyncio.gather(*lender._tasks)
        assert lender._pools[rules].stock() > 0
        trips = evalsha_calls(server.url)
        await ask(lender, start + 0.8 * LEASE_TTL_S, 1)
        assert evalsha_calls(server.url) == trips and len(sent) == 13  # that slot came from the lease
        await ask(other, start + 1.0 + 0.1 * LEASE_TTL_S, 50)  # every slot but the leased ones out of the window
        await ask(lender, start + 1.5 * LEASE_TTL_S, 1)  # the lease is over
        await ask(other, start + 2.05 * LEASE_TTL_S, 50)
        for host in (lender, other):
            await host.aclose()

    asyncio.run(main())
    assert busiest(sent, period=1.0) <= 40


def test_an_idle_host_gives_its_unused_slots_back_so_another_host_gets_them(server: RedisServer) -> None:
    rules = limit_rules("groq", "m", rpm=400)

    async def main() -> tuple[int, int, int]:
        busy, other = limiter(server.url, share=0.5), limiter(server.url)
        used = await take_all(busy, rules, 100)
        held = busy._pools[rules].stock()
        assert held > 0  # the busy host holds a lease it has not used up
        now = await take_all(other, rules, 400)
        await asyncio.sleep(LEASE_TTL_S + 0.3)  # the lease runs out on the busy host, which goes idle
        later = await take_all(other, rules, 400)
        await busy.aclose()
        await other.aclose()
        return used, now, later

    used, now, later = asyncio.run(main())
    assert used == 100 and now < 300 and used + now + later == 400


def test_a_closing_host_gives_its_lease_back_at_once(server: RedisServer) -> None:
    rules = limit_rules("groq", "m", rpm=400)

    async def main() -> tuple[int, int]:
        busy, other = limiter(server.url, share=0.5), limiter(server.url)
        used = await take_all(busy, rules, 100)
        assert busy._pools[rules].stock() > 0
        await busy.aclose()
        rest = await take_all(other, rules, 400)
        await other.aclose()
        return used, rest

    used, rest = asyncio.run(main())
    assert used + rest == 400


def test_a_host_that_dies_holding_a_lease_leaves_its_slots_counted_until_they_leave_the_window(
        server: RedisServer) -> None:
    """Nobody can tell which of a dead host's slots went out, so all of them stay in the window."""
    code = """
        import asyncio, os, sys, time
        sys.path.insert(0, sys.argv[2])
        from test_redis_leases import limiter, take_all
        from assistant.router.ratelimit import Rule, Window
        async def main():
            host = limiter(sys.argv[1], share=0.5)
            rules = (Rule("short", (Window(100, 6.0),)),)
            used = await take_all(host, rules, 20)
            await asyncio.gather(*host._tasks)  # a lease on its way has landed: the stock is what Redis holds
            print(used, host._pools[rules].stock(), flush=True)
            os._exit(0)  # dies with its lease
        asyncio.run(main())
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), server.url, str(Path(__file__).parent)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    used, held = map(int, out.stdout.split())
    assert used == 20 and held > 0
    rules = (Rule("short", (Window(100, 6.0),)),)

    async def main() -> tuple[int, int]:
        other = limiter(server.url)
        now = await take_all(other, rules, 200)
        await asyncio.sleep(6.0 + LEASE_TTL_S + 0.2)  # the dead host's slots leave the window
        later = await take_all(other, rules, 200)
        await other.aclose()
        return now, later

    now, later = asyncio.run(main())
    assert now == 100 - used - held and later == 100


def test_daily_and_account_wide_free_windows_hold_with_leases(server: RedisServer) -> None:
    """OpenRouter's ``:free`` models share one account-wide window (20 a minute, 50 a day) on top of
    the provider's own; a day window caps leases like a minute window does."""
    free = limit_rules("openrouter", "z-ai/glm-4.5-air:free", rpm=10_000, free_suffix=":free")
    paid = limit_rules("openrouter", "openai/gpt-4o", rpm=10_000, free_suffix=":free")
    daily = (Rule("daily", (Window(10_000, 60.0), Window(30, 86400.0))),)

    async def main() -> tuple[int, int, int]:
        hosts = [limiter(server.url, share=0.5) for _ in range(3)]
        got_free = sum(await asyncio.gather(*(take_all(h, free, 40) for h in hosts)))
        got_daily = sum(await asyncio.gather(*(take_all(h, daily, 40) for h in hosts)))
        got_paid = sum(await asyncio.gather(*(take_all(h, paid, 100) for h in hosts)))
        for host in hosts:
            await host.aclose()
        return got_free, got_daily, got_paid

    got_free, got_daily, got_paid = asyncio.run(main())
    assert got_free <= 20 and got_daily <= 30 and got_paid == 300
    # Whatever the hosts did not hand out went back: a late host gets exactly the rest, and the
    # provider's own window holds every slot handed out, free or not, and nothing else.
    rest_free, rest_daily, rest_paid = asyncio.run(_rest(server.url, free, daily, paid))
    assert got_free + rest_free == 20 and got_daily + rest_daily == 30
    own = redis.Redis.from_url(server.url).zcard("assistant:rate:openrouter")
    assert own == got_free + rest_free + got_paid + rest_paid


async def _rest(url: str, *rule_sets: Any) -> list[int]:
    late = limiter(url)
    rests = [await take_all(late, rules, 200) for rules in rule_sets]
    await late.aclose()
    return rests


# --- a fleet of routers, counted at a fake provider -------------------------------------------------


FLEET_HOST = """
    import asyncio, os, sys, time
    from assistant.errors import AllModelsFailedError
    from assistant.messages import Message
    from assistant.registry import LLMRegistry
    from assistant.router import Router
    from assistant.router.policies import RouterPolicy
    from assistant.router.redis_limits import RedisRateLimiter
    base, rpm, share = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    if share:
        RedisRateLimiter.lease_share = share
    async def main():
        registry = LLMRegistry()
        registry.add_provider("limited", kind="openai", base_url=base + "/v1", api_key="sk-test-0123456789abcd",
                              rpm=rpm)
        # A call that would wait for a slot is refused at once, so the run takes seconds, not minutes.
        router = Router(registry, policy=RouterPolicy(limit_wait_cap_s=0.0))
        answered = 0
        async def one():
            nonlocal answered
            try:
                await router.chat("limited/m", [Message.user("hi")])
                answered += 1
            except AllModelsFailedError:
                pass
        for _ in range(8):
            await asyncio.gather(*(one() for _ in range(60)))
        await router.aclose()
        print(answered)
    asyncio.run(main())
"""


def test_a_fleet_at_a_low_rpm_sends_at_most_the_limit_in_any_minute(server: RedisServer, fake_server: Any,
                                                                     tmp_path: Path) -> None:
    """Four hosts, two leasing as they do by default (a few slots) and two leasing hard (a quarter of the limit)."""
    stamps: list[float] = []

    async def handle(request: web.Request) -> web.Response:
        stamps.append(time.time())
        return web.json_response(COMPLETION)

    provider = fake_server(handle)
    limit = 400
    env = {**os.environ, "ASSISTANT_STATE_URL": server.url, "ASSISTANT_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(FLEET_HOST), str(i), provider.url, str(limit),
                               str([0.0, 0.25][i % 2])],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    answered = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        answered += int(out)
    assert busiest(stamps) <= limit and answered == len(stamps)  # 1920 asked
    # The hosts closed: what they held went back, so a late host gets exactly what is left.
    (rest,) = asyncio.run(_rest(server.url, limit_rules("limited", "m", rpm=limit)))
    assert answered + rest == limit


def test_redis_killed_mid_lease_leaves_every_call_answered(server: RedisServer, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    from conftest import FakeClient

    from assistant.registry import LLMRegistry
    from assistant.router import Router

    monkeypatch.setenv("ASSISTANT_STATE_URL", server.url)
    reg = LLMRegistry()
    reg.add_provider("a", kind="openai", base_url="http://127.0.0.1:9/v1", api_key="sk-test-0123456789abcd",
                     rpm=1_000_000, client=FakeClient(lambda r: ChatResponse(text="fine", provider="a", model="m"),
                                                      provider="a"))
    unhandled: list[Any] = []

    async def main() -> tuple[list[str], int]:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: unhandled.append(context))
        router = Router(reg)
        texts = [(await router.chat("a/m", [Message.user("hi")])).text for _ in range(300)]
        held = sum(pool.stock() for pool in router.limiter._pools.values())
        server.stop()
        for _ in range(300):
            texts.append((await router.chat("a/m", [Message.user("hi")])).text)
        await asyncio.sleep(LEASE_TTL_S + 0.2)  # leases run out while Redis is away
        texts.append((await router.chat("a/m", [Message.user("hi")])).text)
        await router.aclose()
        return texts, held

    with caplog.at_level(logging.WARNING):
        texts, held = asyncio.run(main())
    assert texts == ["fine"] * 601 and held > 0
    warnings = [r for r in caplog.records if "not answering" in r.getMessage()]
    assert 1 <= len(warnings) <= 2 and not unhandled  # once for the health document, once for the rate windows
