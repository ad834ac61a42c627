"""This engine and its peers against the same local fake server in one run, as ratios to raw aiohttp.

    python3.11 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install -e '.[peers]'
    /tmp/peers-venv/bin/python scripts/bench_peers.py [--calls 100] [--runs 3]

The peers are optional and stay out of the project's own venv: the ``peers`` extra pins the versions
the README's table was measured with. Whichever of them imports is measured; the others are listed
as not installed.

Each contender makes a plain call and reads a 50-chunk stream from the fake OpenAI-compatible server
(its own process, see ``_benchlib``); all calls are timed in turns so load from other processes hits
every contender alike, and every answer is checked once before timing. Contenders:
- raw aiohttp: bench_client.py's baseline (read + orjson; iter_any + blank-line split + orjson);
- this engine: the client (``create_client``) and the ``Router``;
- openai SDK: ``AsyncOpenAI(base_url=...)``, ``chat.completions.create``;
- LiteLLM: ``litellm.acompletion`` with an ``openai/`` model and ``api_base``, and its ``Router``;
- pydantic-ai: an ``Agent`` on ``OpenAIChatModel``, ``run`` for a call and ``run_stream`` for a stream
  (a whole agent run, so it does more per call than a client).
Reports medians over ``--runs`` runs with each ratio's range. Nothing leaves 127.0.0.1: a lookup of any
other host is refused and reported, and LiteLLM reads its bundled cost map instead of fetching it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import os
import platform
import socket
import statistics
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

# Read when litellm is imported: without it, the import fetches the model cost map from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from _benchlib import REPLY, STREAM_TEXT, chat_server, interleaved, openai_handler, raw_call, raw_session, raw_stream  # noqa: E402

Fn = Callable[[], Awaitable[str]]
MESSAGES = [{"role": "user", "content": "hi"}]
KEY = "k-bench"
BLOCKED: list[str] = []


@dataclass
class Contender:
    name: str
    version: str
    call: Fn
    stream: Fn | None
    close: Callable[[], Awaitable[object]]


async def _raw(base: str) -> Contender:
    session = raw_session()
    url = base + "/v1/chat/completions"
    payload = {"model": "bench", "messages": MESSAGES}
    streamed = {**payload, "stream": True}
    return Contender("raw aiohttp", version("aiohttp"), lambda: raw_call(session, url, payload),
                     lambda: raw_stream(session, url, streamed), session.close)


async def _texts(events: Any) -> str:
    return "".join([event.text async for event in events if event.type == "text"])


async def _ours_client(base: str) -> Contender:
    from assistant.messages import ChatRequest, Message
    from assistant.providers import create_client

    client = create_client("vllm", base_url=base + "/v1", max_concurrency=None)
    request = ChatRequest(model="bench", messages=[Message.user("hi")])
    streamed = ChatRequest(model="bench", messages=[Message.user("hi")], stream=True)

    async def call() -> str:
        return (await client.chat(request)).text

    return Contender("assistant client", version("assistant"), call, lambda: _texts(client.stream(streamed)), client.aclose)


async def _ours_router(base: str) -> Contender:
    from assistant.messages import Message
    from assistant.registry import LLMRegistry
    from assistant.router import Router

    registry = LLMRegistry()
    registry.add_provider("bench", kind="openai", base_url=base + "/v1", api_key=KEY, max_concurrency=None)
    router = Router(registry)
    messages = [Message.user("hi")]

    async def call() -> str:
        return (await router.chat("bench/m", messages)).text

    return Contender("assistant Router", version("assistant"), call, lambda: _texts(router.stream("bench/m", messages)),
                     router.aclose)


async def _openai_sdk(base: str) -> Contender:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base + "/v1", api_key=KEY)

    async def call() -> str:
        response = await client.chat.completions.create(model="bench", messages=MESSAGES)  # type: ignore[arg-type]
        return response.choices[0].message.content or ""

    async def stream() -> str:
        chunks = await client.chat.completions.create(model="bench", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        return "".join([choice.delta.content or "" async for chunk in chunks for choice in chunk.choices])

    return Contender("openai SDK", version("openai"), call, stream, client.close)


async def _litellm_stream(chunks: Any) -> str:
    return "".join([choice.delta.content or "" async for chunk in await chunks for choice in chunk.choices])


async def _litellm_close() -> None:
    import litellm

    close = getattr(litellm, "close_litellm_async_clients", None)
    if close is not None:
        await close()


async def _litellm(base: str) -> Contender:
    import litellm

    litellm.telemetry = False
    params = {"model": "openai/bench", "api_base": base + "/v1", "api_key": KEY}

    async def call() -> str:
        return (await litellm.acompletion(messages=MESSAGES, **params)).choices[0].message.content or ""

    return Contender("LiteLLM acompletion", version("litellm"), call,
                     lambda: _litellm_stream(litellm.acompletion(messages=MESSAGES, stream=True, **params)), _litellm_close)


async def _litellm_router(base: str) -> Contender:
    import litellm

    litellm.telemetry = False
    params = {"model": "openai/bench", "api_base": base + "/v1", "api_key": KEY}
    router = litellm.Router(model_list=[{"model_name": "bench", "litellm_params": params}])

    async def call() -> str:
        return (await router.acompletion(model="bench", messages=MESSAGES)).choices[0].message.content or ""

    return Contender("LiteLLM Router", version("litellm"), call,
                     lambda: _litellm_stream(router.acompletion(model="bench", messages=MESSAGES, stream=True)),
                     _litellm_close)


async def _pydantic_ai(base: str) -> Contender:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=base + "/v1", api_key=KEY)
    agent = Agent(OpenAIChatModel("bench", provider=provider))

    async def call() -> str:
        return (await agent.run("hi")).output

    async def stream() -> str:
        async with agent.run_stream("hi") as result:
            # debounce_by=None: the default groups deltas for 0.1 s, which would time the debounce.
            return "".join([text async for text in result.stream_text(delta=True, debounce_by=None)])

    return Contender("pydantic-ai Agent", version("pydantic-ai-slim"), call, stream, provider.client.close)


# (name, module that must import, setup); ours and the baseline always import.
CONTENDERS: list[tuple[str, str, Callable[[str], Awaitable[Contender]]]] = [
    ("raw aiohttp", "aiohttp", _raw),
    ("assistant client", "assistant", _ours_client),
    ("assistant Router", "assistant", _ours_router),
    ("openai SDK", "openai", _openai_sdk),
    ("LiteLLM acompletion", "litellm", _litellm),
    ("LiteLLM Router", "litellm", _litellm_router),
    ("pydantic-ai Agent", "pydantic_ai", _pydantic_ai),
]


def _loopback_only() -> None:
    """Refuse and record every lookup of a host other than this machine, for the peers' sake."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in (None, "127.0.0.1", "localhost", "::1"):
            BLOCKED.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"bench_peers reaches only 127.0.0.1, not {name}")
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


async def _check(contender: Contender) -> None:
    """Refuse to time a contender that does not return the server's answer whole."""
    text = await contender.call()
    if text != REPLY:
        raise SystemExit(f"{contender.name}: call returned {text!r}, not {REPLY!r}")
    if contender.stream is not None and (text := await contender.stream()) != STREAM_TEXT:
        raise SystemExit(f"{contender.name}: stream returned {text!r}, not the 50 chunks")


async def bench(base: str, calls: int, runs: int) -> tuple[list[Contender], list[str], list[dict[str, float]]]:
    contenders: list[Contender] = []
    missing: list[str] = []
    for name, module, setup in CONTENDERS:
        if importlib.util.find_spec(module) is None:
            missing.append(name)
            continue
        contenders.append(contender := await setup(base))
        await _check(contender)
    fns: dict[str, Fn] = {}
    for contender in contenders:
        fns[contender.name + "/call"] = contender.call
        if contender.stream is not None:
            fns[contender.name + "/stream"] = contender.stream
    await interleaved(fns, 20)  # warm up connections and code paths
    medians = [await interleaved(fns, calls) for _ in range(runs)]
    for contender in contenders:
        await contender.close()
    return contenders, missing, medians


def _cell(medians: list[dict[str, float]], key: str, raw_key: str) -> str:
    if key not in medians[0]:
        return "| - | -"
    ms = statistics.median(run[key] for run in medians) * 1e3
    if key == raw_key:
        return f"| {ms:.2f} | 1x"
    ratios = [run[key] / run[raw_key] for run in medians]
    return f"| {ms:.2f} | {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="timed calls per contender and kind, per run")
    parser.add_argument("--runs", type=int, default=3, help="runs, each timing every contender in turns")
    args = parser.parse_args()
    os.environ["ASSISTANT_HOME"] = tempfile.mkdtemp(prefix="bench-peers-")
    _loopback_only()
    with chat_server(openai_handler) as base:
        contenders, missing, medians = asyncio.run(bench(base, args.calls, args.runs))
    print(f"{datetime.date.today()}, {_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"median of {args.runs} runs x {args.calls} calls (ratio range in parentheses)\n")
    print("| client | version | call ms | call vs raw | 50-chunk stream ms | stream vs raw |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for contender in contenders:
        cells = _cell(medians, contender.name + "/call", "raw aiohttp/call")
        cells += " " + _cell(medians, contender.name + "/stream", "raw aiohttp/stream")
        print(f"| {contender.name} | {contender.version} {cells} |")
    for name in missing:
        print(f"| {name} | not installed | | | | |")
    if BLOCKED:
        print(f"\nrefused lookups (no network but 127.0.0.1): {', '.join(sorted(set(BLOCKED)))}")


if __name__ == "__main__":
    main()
