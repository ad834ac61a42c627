"""What tracing costs per router call: telemetry off (the flag check only), on with opentelemetry-api
but no SDK (non-recording spans), and on with the SDK exporting to memory. In-process fake client, so
the router's own work is the baseline the overhead is measured against.

    .venv/bin/python scripts/bench_telemetry.py [calls]
"""

from __future__ import annotations

import asyncio
import sys
import time

from assistant import telemetry
from assistant.messages import ChatResponse, Message, Usage
from assistant.registry import LLMRegistry
from assistant.router import Router


class _Client:
    async def chat(self, request):  # noqa: ANN001, ANN201
        return ChatResponse(text="ok", finish_reason="stop", usage=Usage(input_tokens=3, output_tokens=1),
                            model=request.model, provider="f")

    async def aclose(self) -> None:
        return None


async def _per_call(calls: int) -> float:
    registry = LLMRegistry()
    registry.add_provider("f", kind="openai", client=_Client())
    router = Router(registry)
    messages = [Message.user("hi")]
    for _ in range(200):
        await router.chat("f/m", messages)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            await router.chat("f/m", messages)
        best = min(best, (time.perf_counter() - start) / calls)
    await router.aclose()
    return best * 1e6


def _noop_helpers(n: int = 200_000) -> float:
    """The telemetry calls one router call makes, switched off: what a user without OTel pays."""
    import timeit

    from assistant.messages import Attempt

    record = Attempt(provider="f", model="m")

    def one_call() -> None:
        with telemetry.chat_span("f/m", None) as span:
            telemetry.attempt(span, record)
            span.answered(None)

    return min(timeit.repeat(one_call, number=n, repeat=3)) / n * 1e6


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    telemetry.configure(enabled=False)
    print(f"telemetry helpers per router call when off: {_noop_helpers():.2f} us")
    off = asyncio.run(_per_call(calls))
    telemetry.configure(enabled=True)
    api_only = asyncio.run(_per_call(calls))
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    telemetry.configure(enabled=True, tracer_provider=provider)
    sdk = asyncio.run(_per_call(calls))
    print(f"router.chat per call: telemetry off {off:.1f} us | api, no sdk {api_only:.1f} us "
          f"(+{api_only - off:.1f}) | sdk, in-memory export {sdk:.1f} us (+{sdk - off:.1f})")


if __name__ == "__main__":
    main()
