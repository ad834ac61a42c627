"""The shared health file: survives processes, merges writers, never holds a key, stays off the hot path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FakeClock

from assistant.router.health import HEALTH_FILE, HealthStore, key_hash
from assistant.router.policies import Breaker


def store(path: Path, clock: FakeClock | None = None, **kw: object) -> HealthStore:
    clock = clock or FakeClock()
    return HealthStore(path, clock=clock.time, **kw)  # type: ignore[arg-type]


async def test_disable_is_on_disk_when_the_call_returns(tmp_path: Path) -> None:
    path = tmp_path / HEALTH_FILE
    await store(path).disable("openai", kind="billing", detail="insufficient_quota", key_hash="abc")
    fresh = store(path)
    assert fresh.disabled()["openai"].kind == "billing"


async def test_disabled_provider_is_seen_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / HEALTH_FILE
    await store(path).disable("groq", kind="auth", detail="Invalid API Key", key_hash="abc")
    code = f"from assistant.router.health import HealthStore; print(sorted(HealthStore({str(path)!r}).disabled()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['groq']"


async def test_enable_clears_an_auto_disable(tmp_path: Path) -> None:
    health = store(tmp_path / HEALTH_FILE)
    await health.disable("groq", kind="auth", detail="Invalid API Key", key_hash="abc")
    await health.enable("groq")
    assert store(tmp_path / HEALTH_FILE).disabled() == {}


async def test_two_writers_merge_instead_of_overwriting(tmp_path: Path) -> None:
    path = tmp_path / HEALTH_FILE
    first, second = store(path), store(path)
    first.doc, second.doc  # both loaded before either writes
    await first.cool_down("groq", 300, "rate limit")
    await second.disable("openai", kind="billing", detail="quota", key_hash="x")
    merged = store(path)
    assert merged.cooldown("groq") is not None
    assert "openai" in merged.disabled()


async def test_request_times_from_two_writers_add_up(tmp_path: Path) -> None:
    path = tmp_path / HEALTH_FILE
    clock = FakeClock()
    first, second = store(path, clock), store(path, clock)
    first.note_request("groq", clock.now)
    second.note_request("groq", clock.now + 1)
    await first.flush()
    await second.flush()
    assert store(path, clock).window("groq") == [clock.now, clock.now + 1]


async def test_cooldown_ends_on_time(tmp_path: Path) -> None:
    clock = FakeClock()
    health = store(tmp_path / HEALTH_FILE, clock)
    await health.cool_down("groq", 30, "rate limit")
    assert health.cooldown("groq") is not None
    clock.now += 31
    assert health.cooldown("groq") is None


async def test_breaker_opens_at_its_failure_rate_and_allows_one_probe(tmp_path: Path) -> None:
    clock = FakeClock()
    health = store(tmp_path / HEALTH_FILE, clock, breaker=Breaker(min_calls=4, failure_rate=0.5, reset_s=60))
    await health.succeeded("groq")
    await health.succeeded("groq")
    opened = [await health.failed("groq") for _ in range(2)]
    assert opened == [False, True]  # 2 of 4 failed
    assert not health.admit("groq")
    clock.now += 60
    assert health.admit("groq")  # the probe
    assert not health.admit("groq")  # only one at a time
    await health.succeeded("groq", clock.now)
    assert health.breaker_state("groq") == "closed" and health.admit("groq")


async def test_failed_probe_reopens_the_circuit(tmp_path: Path) -> None:
    clock = FakeClock()
    health = store(tmp_path / HEALTH_FILE, clock, breaker=Breaker(min_calls=1, reset_s=60))
    await health.failed("groq")
    clock.now += 60
    assert health.admit("groq")
    await health.failed("groq", clock.now)
    assert health.breaker_state("groq") == "open"


async def test_success_of_a_request_sent_before_the_circuit_opened_does_not_close_it(tmp_path: Path) -> None:
    clock = FakeClock()
    health = store(tmp_path / HEALTH_FILE, clock, breaker=Breaker(min_calls=1, reset_s=60))
    sent_early = clock.now
    clock.now += 1
    assert await health.failed("groq")
    clock.now += 1
    await health.succeeded("groq", sent_early)
    assert health.breaker_state("groq") == "open"


async def test_circuits_of_two_servers_behind_one_provider_are_separate(tmp_path: Path) -> None:
    health = store(tmp_path / HEALTH_FILE, breaker=Breaker(min_calls=1))
    assert await health.failed("llama http://10.0.0.5:8080")
    assert health.breaker_state("llama http://10.0.0.5:8080") == "open"
    assert health.breaker_state("llama http://10.0.0.6:8080") == "closed"


async def test_lock_held_by_another_process_never_fails_or_blocks_a_change(tmp_path: Path, caplog) -> None:
    path = tmp_path / HEALTH_FILE
    holder = subprocess.Popen([sys.executable, "-c",
                               f"import filelock, time; l = filelock.FileLock({str(path) + '.lock'!r}); l.acquire();"
                               " print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        health = store(path)
        started = time.perf_counter()
        await health.cool_down("groq", 30, "rate limit")
        await health.disable("openai", kind="auth", detail="bad key", key_hash="")
        assert time.perf_counter() - started < 1.0
        assert health.cooldown("groq") is not None and "openai" in health.disabled()
        assert sum("health state file" in r.getMessage() for r in caplog.records) == 1
    finally:
        holder.kill()
        holder.wait()


async def test_changes_kept_in_memory_reach_the_file_at_the_sync_edge(tmp_path: Path) -> None:
    path = tmp_path / HEALTH_FILE
    holder = subprocess.Popen([sys.executable, "-c",
                               f"import filelock, time; l = filelock.FileLock({str(path) + '.lock'!r}); l.acquire();"
                               " print('held', flush=True); time.sleep(0.5)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    health = store(path)
    await health.disable("openai", kind="auth", detail="bad key", key_hash="")
    holder.wait()
    health.flush_sync()
    assert "openai" in store(path).disabled()


async def test_read_only_state_directory_keeps_health_in_memory(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        health = store(directory / HEALTH_FILE)
        await health.cool_down("groq", 30, "rate limit")
        assert health.cooldown("groq") is not None
    finally:
        directory.chmod(0o700)


async def test_unwritable_file_keeps_health_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.router.health as health_module

    def disk_full(*args: object, **kw: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(health_module, "write_json_atomic", disk_full)
    health = store(tmp_path / HEALTH_FILE, breaker=Breaker(min_calls=1))
    assert await health.failed("groq")
    await health.cool_down("groq", 30, "x")
    assert health.breaker_state("groq") == "open" and health.cooldown("groq") is not None


async def test_file_never_holds_a_key(tmp_path: Path) -> None:
    path = tmp_path / HEALTH_FILE
    secret = "sk-live-0123456789abcdef0123"
    await store(path).disable("openai", kind="auth", detail="bad key", key_hash=key_hash([secret]))
    text = path.read_text()
    assert secret not in text and secret[-8:] not in text
    assert json.loads(text)["version"] == 1


def test_key_hash_changes_with_the_key_set() -> None:
    assert key_hash(["a1"]) != key_hash(["a2"])
    assert key_hash(["a1", "b2"]) == key_hash(["b2", "a1"])
    assert key_hash([]) == ""


async def test_broken_file_reads_as_healthy(tmp_path: Path) -> None:
    path = tmp_path / HEALTH_FILE
    path.write_text("{not json")
    health = store(path)
    assert health.disabled() == {}
    await health.cool_down("groq", 10, "x")
    assert json.loads(path.read_text())["cooldowns"]["groq"]["detail"] == "x"


async def test_write_leaves_no_temp_files(tmp_path: Path) -> None:
    health = store(tmp_path / HEALTH_FILE)
    for n in range(5):
        await health.cool_down(f"p{n}", 10, "x")
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert json.loads((tmp_path / HEALTH_FILE).read_text())["cooldowns"].keys() == {f"p{n}" for n in range(5)}


async def test_refresh_picks_up_another_writer_after_the_interval(tmp_path: Path) -> None:
    path = tmp_path / HEALTH_FILE
    reader = store(path, refresh_interval=0.0)
    await reader.refresh()
    await store(path).disable("groq", kind="auth", detail="x", key_hash="")
    await reader.refresh()
    assert "groq" in reader.disabled()


async def test_reads_do_no_disk_io_between_refreshes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / HEALTH_FILE
    health = store(path, refresh_interval=3600)
    await health.refresh()

    def no_io(*args: object, **kw: object) -> None:
        raise AssertionError("disk I/O on the hot path")

    monkeypatch.setattr(os, "stat", no_io)
    monkeypatch.setattr(Path, "read_bytes", no_io)
    for _ in range(100):
        await health.refresh()
        assert health.admit("groq") and health.cooldown("groq") is None
        await health.succeeded("groq")


async def test_request_times_are_written_behind(tmp_path: Path) -> None:
    path = tmp_path / HEALTH_FILE
    clock = FakeClock()
    health = store(path, clock, flush_delay=0.01)
    health.note_request("groq", clock.now)
    assert not path.exists()
    await health.aclose()
    assert json.loads(path.read_text())["windows"]["groq"] == [clock.now]


async def test_successes_written_behind_count_in_another_writers_failure_rate(tmp_path: Path) -> None:
    path = tmp_path / HEALTH_FILE
    clock = FakeClock()
    first = store(path, clock, breaker=Breaker(min_calls=4, failure_rate=0.5))
    for _ in range(10):
        await first.succeeded("groq")
    await first.aclose()
    second = store(path, clock, breaker=Breaker(min_calls=4, failure_rate=0.5))
    assert [await second.failed("groq") for _ in range(3)] == [False, False, False]  # 3 of 13 failed


async def test_successes_not_yet_written_survive_picking_up_another_writers_change(tmp_path: Path) -> None:
    path = tmp_path / HEALTH_FILE
    clock = FakeClock()
    health = store(path, clock, refresh_interval=0.0, flush_delay=3600)
    for _ in range(10):
        await health.succeeded("groq")
    await store(path, clock).disable("openai", kind="auth", detail="x", key_hash="")
    await health.refresh()
    await health.failed("groq")
    assert "openai" in health.disabled()
    await health.aclose()
    [(_, calls, failed)] = store(path, clock).doc.circuits["groq"].buckets
    assert (calls, failed) == (11, 1)
