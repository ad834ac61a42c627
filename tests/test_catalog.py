"""ModelCatalog: instant seed answers, background refresh merging provider lists, TTL with a fake
clock, failures keeping the last good data, the disk snapshot, and learned windows."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.catalog import DEFAULT_TTL, ModelCatalog
from assistant.errors import TransientError, UsageError
from assistant.messages import ModelInfo


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeClient:
    """A provider client whose ``list_models`` answers from a script (and can be held at a gate)."""

    def __init__(self, provider: str, *answers: list[ModelInfo] | Exception, gate: asyncio.Event | None = None) -> None:
        self.provider = provider
        self.answers = list(answers)
        self.gate = gate
        self.calls = 0

    async def list_models(self) -> list[ModelInfo]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeRegistry:
    """The two things the catalog asks ``LLMRegistry``: which providers are configured, and their clients."""

    def __init__(self, *clients: Any) -> None:
        self.clients = {c.provider: c for c in clients}

    def providers(self) -> list[str]:
        return sorted(self.clients)

    def client(self, provider: str) -> Any:
        return self.clients[provider]


def listed(provider: str, model: str, **facts: Any) -> ModelInfo:
    return ModelInfo(id=model, provider=provider, source=f"{provider} /models", **facts)


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    return tmp_path / "catalog.json"


# --- answers without any network -----------------------------------------------------------------

def test_the_seed_answers_without_a_registry() -> None:
    info = ModelCatalog().get("groq/llama-3.1-8b-instant")
    assert info is not None
    assert (info.context_window, info.supports_tools, info.fetched_at) == (131_072, True, 0.0)
    assert info.source.startswith("seed: console.groq.com")


def test_an_unknown_model_is_none() -> None:
    assert ModelCatalog().get("groq/no-such-model") is None
    assert ModelCatalog().get("not-an-id") is None


def test_provider_aliases_find_the_same_model() -> None:
    catalog = ModelCatalog()
    assert catalog.get("gemini/gemini-2.5-flash") == catalog.get("google/gemini-2.5-flash")


def test_models_filters_by_provider_free_and_tools() -> None:
    infos = ModelCatalog().models(provider="ollama", tools=True)
    assert infos and all(m.provider == "ollama" and m.supports_tools for m in infos)
    assert "ollama/gemma3:4b" not in {m.model_id for m in infos}
    assert all(m.free is True for m in ModelCatalog().models(free=True))


def test_the_embedded_local_model_is_seeded_with_the_window_it_runs_at() -> None:
    from assistant.local import DEFAULT_CTX

    info = ModelCatalog().get("llama/smollm2")
    assert info is not None and (info.context_window, info.supports_tools) == (DEFAULT_CTX, False)


async def test_the_first_call_never_waits_on_the_network(snapshot: Path) -> None:
    gate = asyncio.Event()
    client = FakeClient("groq", [listed("groq", "llama-3.1-8b-instant", context_window=999)], gate=gate)
    catalog = ModelCatalog(registry=FakeRegistry(client), snapshot_path=snapshot)
    started = time.perf_counter()
    info = catalog.get("groq/llama-3.1-8b-instant")
    assert time.perf_counter() - started < 0.5
    assert info is not None and info.context_window == 131_072  # the seed, while the refresh waits
    task = catalog.ensure_fresh()
    assert task is not None and not task.done()
    gate.set()
    await task
    assert catalog.get("groq/llama-3.1-8b-instant").context_window == 999


# --- refresh -------------------------------------------------------------------------------------

async def test_refresh_merges_listed_facts_over_the_seed_and_keeps_each_source(snapshot: Path) -> None:
    client = FakeClient("groq", [listed("groq", "llama-3.1-8b-instant", context_window=100_000)])
    catalog = ModelCatalog(registry=FakeRegistry(client), snapshot_path=snapshot)
    await catalog.refresh()
    info = catalog.get("groq/llama-3.1-8b-instant")
    assert (info.context_window, info.max_output_tokens) == (100_000, 131_072)
    sources = catalog.sources("groq/llama-3.1-8b-instant")
    assert sources["context_window"] == "groq /models"
    assert sources["max_output_tokens"].startswith("seed: ")
    assert info.fetched_at > 0


async def test_refresh_adds_models_the_seed_does_not_know(snapshot: Path) -> None:
    client = FakeClient("openrouter", [listed("openrouter", "new/model:free", context_window=32_768, free=True)])
    catalog = ModelCatalog(registry=FakeRegistry(client), snapshot_path=snapshot)
    await catalog.refresh()
    assert catalog.get("openrouter/new/model:free").context_window == 32_768
    assert "openrouter/new/model:free" in {m.model_id for m in catalog.models(provider="openrouter", free=True)}


async def test_refresh_asks_only_configured_providers(snapshot: Path) -> None:
    groq = FakeClient("groq", [])
    registry = FakeRegistry(groq)
    catalog = ModelCatalog(registry=registry, snapshot_path=snapshot)
    await catalog.refresh()
    assert groq.calls == 1 and catalog.errors == {}


async def test_only_one_refresh_is_in_flight(snapshot: Path) -> None:
    gate = asyncio.Event()
    client = FakeClient("groq", [listed("groq", "a")], gate=gate)
    catalog = ModelCatalog(registry=FakeRegistry(client), snapshot_path=snapshot)
    first = asyncio.ensure_future(catalog.refresh(force=True))
    second = asyncio.ensure_future(catalog.refresh(force=True))
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(first, second)
    assert client.calls == 1


async def test_a_failed_refresh_keeps_the_last_good_list(snapshot: Path) -> None:
    client = FakeClient("groq", [listed("groq", "a", context_window=4096)], TransientError("HTTP 503", provider="groq"))
    catalog = ModelCatalog(registry=FakeRegistry(client), snapshot_path=snapshot)
    await catalog.refresh()
    await catalog.refresh(force=True)
    assert catalog.get("groq/a").context_window == 4096
    assert "HTTP 503" in catalog.errors["groq"]


async def test_a_provider_that_hangs_is_given_up_on(snapshot: Path) -> None:
    client = FakeClient("groq", [], gate=asyncio.Event())  # never answers
    catalog = ModelCatalog(registry=FakeRegistry(client), snapshot_path=snapshot, list_timeout=0.05)
    await catalog.refresh()
    assert catalog.errors["groq"] == "timed out listing models"


async def test_listings_go_stale_after_three_hours(snapshot: Path) -> None:
    clock = Clock()
    client = FakeClient("groq", [listed("groq", "a")])
    catalog = ModelCatalog(clock=clock, registry=FakeRegistry(client), snapshot_path=snapshot)
    await catalog.refresh()
    clock.now += DEFAULT_TTL - 60
    assert catalog.ensure_fresh() is None
    clock.now += 120
    task = catalog.ensure_fresh()
    assert task is not None
    await task
    assert client.calls == 2


async def test_a_failed_provider_is_retried_sooner_than_the_ttl(snapshot: Path) -> None:
    clock = Clock()
    client = FakeClient("groq", TransientError("down"), [listed("groq", "a")])
    catalog = ModelCatalog(clock=clock, registry=FakeRegistry(client), snapshot_path=snapshot, retry_after_failure=300)
    await catalog.refresh()
    clock.now += 301
    await catalog.ensure_fresh()
    assert client.calls == 2 and catalog.get("groq/a") is not None


async def test_an_engine_bug_in_a_client_is_not_swallowed(snapshot: Path) -> None:
    client = FakeClient("groq", ZeroDivisionError("bug"))
    catalog = ModelCatalog(registry=FakeRegistry(client), snapshot_path=snapshot)
    with pytest.raises(ZeroDivisionError):
        await catalog.refresh()


async def test_without_a_registry_refresh_does_nothing(snapshot: Path) -> None:
    catalog = ModelCatalog(snapshot_path=snapshot)
    await catalog.refresh(force=True)
    assert catalog.ensure_fresh() is None and catalog.get("openai/gpt-4o") is not None


# --- the disk snapshot ---------------------------------------------------------------------------

async def test_a_new_process_starts_warm_from_the_snapshot(snapshot: Path) -> None:
    clock = Clock()
    first = FakeClient("groq", [listed("groq", "a", context_window=4096)])
    await ModelCatalog(clock=clock, registry=FakeRegistry(first), snapshot_path=snapshot).refresh()
    second = FakeClient("groq", TransientError("must not be asked"))
    catalog = ModelCatalog(clock=clock, registry=FakeRegistry(second), snapshot_path=snapshot)
    assert catalog.get("groq/a").context_window == 4096
    assert catalog.ensure_fresh() is None and second.calls == 0


async def test_a_stale_snapshot_still_answers_and_schedules_a_refresh(snapshot: Path) -> None:
    clock = Clock()
    await ModelCatalog(clock=clock, registry=FakeRegistry(FakeClient("groq", [listed("groq", "a")])),
                       snapshot_path=snapshot).refresh()
    clock.now += DEFAULT_TTL + 1
    later = FakeClient("groq", [listed("groq", "a", context_window=8192)])
    catalog = ModelCatalog(clock=clock, registry=FakeRegistry(later), snapshot_path=snapshot)
    assert catalog.get("groq/a") is not None
    await catalog.ensure_fresh()
    assert catalog.get("groq/a").context_window == 8192


def test_an_unreadable_snapshot_is_ignored(snapshot: Path) -> None:
    snapshot.write_text("{ not json")
    assert ModelCatalog(snapshot_path=snapshot).get("openai/gpt-4o") is not None


def test_the_snapshot_defaults_to_the_cache_dir(_isolated_home: Path) -> None:
    assert ModelCatalog().snapshot_path == _isolated_home / "cache" / "catalog.json"


# --- learned windows -----------------------------------------------------------------------------

def test_a_learned_window_wins_and_says_so(snapshot: Path) -> None:
    catalog = ModelCatalog(snapshot_path=snapshot)
    catalog.learn("ollama/qwen3:8b", context_window=4096)
    assert catalog.get("ollama/qwen3:8b").context_window == 4096
    assert catalog.sources("ollama/qwen3:8b")["context_window"] == "learned from a context overflow error"


def test_a_learned_window_survives_a_new_process(snapshot: Path) -> None:
    ModelCatalog(snapshot_path=snapshot).learn("groq/brand-new", context_window=12_000)
    assert ModelCatalog(snapshot_path=snapshot).get("groq/brand-new").context_window == 12_000


async def test_learning_inside_an_event_loop_does_not_block_it(snapshot: Path) -> None:
    catalog = ModelCatalog(snapshot_path=snapshot)
    catalog.learn("groq/a", context_window=2048)
    await asyncio.gather(*catalog._pending)
    assert ModelCatalog(snapshot_path=snapshot).get("groq/a").context_window == 2048


@pytest.mark.parametrize("bad", [0, -5, "4096", True])
def test_learn_rejects_a_window_that_is_not_a_positive_count(bad: Any, snapshot: Path) -> None:
    with pytest.raises(UsageError, match="context_window"):
        ModelCatalog(snapshot_path=snapshot).learn("groq/a", context_window=bad)


async def test_a_snapshot_that_cannot_be_written_does_not_fail_the_refresh(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    client = FakeClient("groq", [listed("groq", "a", context_window=4096)])
    catalog = ModelCatalog(registry=FakeRegistry(client), snapshot_path=blocker / "catalog.json")
    await catalog.refresh()
    assert catalog.get("groq/a").context_window == 4096
