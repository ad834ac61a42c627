"""Spans per agent run, step, router call and attempt (GenAI semantic conventions), checked with the
OpenTelemetry SDK's in-memory exporter; INFO log lines per hop for users without OpenTelemetry."""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import fail, say

from assistant import telemetry
from assistant.agent import Agent
from assistant.errors import AllModelsFailedError
from assistant.messages import Message
from assistant.registry import LLMRegistry
from assistant.router import Router
from assistant.router.policies import RouterPolicy

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402

HI = [Message.user("hi")]
KEY_A, KEY_B = "sk-test-alpha-000000000000secret", "sk-test-beta-0000000000000secret"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    was = telemetry.ENABLED
    telemetry.configure(enabled=True, tracer_provider=provider)
    yield exporter
    telemetry.configure(enabled=was)
    telemetry._provider = None


def router_for(scripted: Any, alpha_outcomes: list[Any]) -> Router:
    registry = LLMRegistry()
    registry.add_provider("alpha", kind="openai", base_url=scripted(alpha_outcomes).url, api_key=KEY_A)
    registry.add_provider("beta", kind="openai", base_url=scripted().url, api_key=KEY_B)
    return Router(registry, policy=RouterPolicy(random=random.Random(5)))


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


async def test_a_router_call_is_a_chat_span_with_the_answering_model_and_tokens(scripted, spans) -> None:
    router = router_for(scripted, [])
    await router.chat("alpha/m", HI)
    await router.aclose()
    [call] = by_name(spans)["chat alpha/m"]
    attrs = call.attributes
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "alpha/m"
    assert attrs["gen_ai.provider.name"] == attrs["gen_ai.system"] == "alpha"
    assert attrs["gen_ai.response.model"]
    assert attrs["gen_ai.usage.input_tokens"] > 0 and attrs["gen_ai.usage.output_tokens"] > 0
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["stop"]


async def test_each_attempt_is_a_child_span_with_its_error_type(scripted, spans) -> None:
    router = router_for(scripted, [fail(401, "Invalid API key")])
    await router.chat(["alpha/m", "beta/m"], HI)
    await router.aclose()
    [call] = by_name(spans)["chat alpha/m,beta/m"]
    attempts = [s for s in by_name(spans)["chat m"] if s.parent and s.parent.span_id == call.context.span_id]
    assert [a.attributes["gen_ai.provider.name"] for a in attempts] == ["alpha", "beta"]
    failed, answered = attempts
    assert failed.attributes["error.type"] == "auth" and failed.attributes["http.response.status_code"] == 401
    assert failed.status.status_code is StatusCode.ERROR
    assert "error.type" not in answered.attributes and answered.attributes["gen_ai.usage.output_tokens"] > 0
    assert failed.end_time <= answered.start_time


async def test_a_call_where_every_model_fails_ends_its_span_with_the_error(scripted, spans) -> None:
    router = router_for(scripted, [fail(401, "Invalid API key")])
    with pytest.raises(AllModelsFailedError):
        await router.chat("alpha/m", HI)
    await router.aclose()
    [call] = by_name(spans)["chat alpha/m"]
    assert call.status.status_code is StatusCode.ERROR and call.attributes["error.type"]


async def test_an_agent_run_nests_steps_router_calls_and_attempts(scripted_model, spans) -> None:
    model = scripted_model([say("Paris.")])
    registry = LLMRegistry()
    registry.add_provider("fake", kind="openai", base_url=model.url, api_key=KEY_A)
    async with Agent("fake/m", registry=registry) as agent:
        await agent.run("Capital of France?")
    found = by_name(spans)
    [run], [step], [call], [attempt] = found["invoke_agent assistant"], found["step 1"], found["chat fake/m"], found["chat m"]
    assert run.parent is None and run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert step.parent.span_id == run.context.span_id
    assert call.parent.span_id == step.context.span_id
    assert attempt.parent.span_id == call.context.span_id
    assert run.attributes["gen_ai.usage.output_tokens"] > 0


async def test_no_span_attribute_holds_a_key(scripted, spans) -> None:
    router = router_for(scripted, [fail(401, f"Incorrect API key provided: {KEY_A}")])
    await router.chat(["alpha/m", "beta/m"], HI)
    await router.aclose()
    text = repr([dict(s.attributes) for s in spans.get_finished_spans()])
    assert KEY_A not in text and KEY_B not in text


async def test_every_hop_is_logged_at_info_without_keys(scripted, caplog: pytest.LogCaptureFixture) -> None:
    router = router_for(scripted, [fail(401, f"Incorrect API key provided: {KEY_A}")])
    with caplog.at_level(logging.INFO, logger="assistant.telemetry"):
        await router.chat(["alpha/m", "beta/m"], HI)
    await router.aclose()
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("attempt alpha/m auth status=401") for line in lines)
    assert any(line.startswith("attempt beta/m answered") for line in lines)
    assert any(line.startswith("router call end") for line in lines)
    assert KEY_A not in caplog.text and KEY_B not in caplog.text


def test_without_opentelemetry_the_helpers_return_one_shared_no_op() -> None:
    was = telemetry.ENABLED
    telemetry.configure(enabled=False)
    try:
        assert telemetry.chat_span("auto", None) is telemetry.step_span(1) is telemetry._NOOP
    finally:
        telemetry.configure(enabled=was)


# For a fresh interpreter: a registry whose provider "f" answers "hi" from a fake client.
_FAKE_ROUTER = (
    "from assistant.registry import LLMRegistry\n"
    "from assistant.router import Router\n"
    "from assistant.messages import ChatResponse, Message, Usage\n"
    "sys.path.insert(0, 'tests')\n"
    "from conftest import FakeClient\n"
    "def fake_registry():\n"
    "    r = LLMRegistry()\n"
    "    r.add_provider('f', kind='openai', client=FakeClient(lambda q: ChatResponse(text='hi', finish_reason='stop',"
    " usage=Usage(), model='m', provider='f')))\n"
    "    return r\n"
)


def test_switched_off_a_run_never_imports_opentelemetry() -> None:
    code = (
        "import asyncio, sys\n"
        + _FAKE_ROUTER +
        "async def main():\n"
        "    r = fake_registry()\n"
        "    await Router(r).chat('f/m', [Message.user('x')])\n"
        "asyncio.run(main())\n"
        "print('opentelemetry' in sys.modules)\n"
    )
    env = {**os.environ, "ASSISTANT_OTEL": "0"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_spans_start_once_the_application_sets_a_tracer_provider() -> None:
    # Until a provider is set, OpenTelemetry's spans record nothing, so none are made; one set later
    # (after the first calls) receives the spans from then on.
    code = (
        "import asyncio, sys\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from assistant import telemetry\n"
        + _FAKE_ROUTER +
        "async def main():\n"
        "    r = fake_registry()\n"
        "    router = Router(r)\n"
        "    await router.chat('f/m', [Message.user('x')])\n"
        "    print(telemetry.chat_span('f/m', None) is telemetry._NOOP)\n"
        "    exporter = InMemorySpanExporter()\n"
        "    provider = TracerProvider()\n"
        "    provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "    trace.set_tracer_provider(provider)\n"
        "    await router.chat('f/m', [Message.user('x')])\n"
        "    print(sorted(s.name for s in exporter.get_finished_spans()))\n"
        "asyncio.run(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("ASSISTANT_OTEL", "OTEL_PYTHON_TRACER_PROVIDER")}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=60)
    assert out.stdout.split("\n")[:2] == ["True", "['chat f/m', 'chat m']"], out.stderr
