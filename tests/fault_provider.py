"""A fault-injecting fake LLM provider on 127.0.0.1, speaking the OpenAI, Anthropic, Gemini and Ollama wires.

It lives beside the tests because it is test equipment; ``scripts/soak.py`` puts this directory on
``sys.path`` and runs the same app in its own process. Each request gets one fault from a ``FaultPlan``
(a script, then random faults at ``rate``), answered the way that wire really fails:

    ok            the whole answer
    429 / 429_hint    rate limited, without / with a retry hint (``hint_s``)
    500 502 503 529   server errors in the wire's own error shape
    reset         the connection dropped before any byte
    early_end     part of the answer, then a clean end of the body (no finish marker)
    stream_error  part of the answer, then the wire's in-stream error (a 200 error body when not streaming)
    slow          the whole answer after ``slow_s`` more
    (every answer takes ``latency_s``, the time a model generates; refusals come back at once)
    malformed     HTTP 200 with a body that is not the wire's JSON
    empty         HTTP 200 without an answer (no choices / candidates / content)
    length        the answer cut by the output limit (finish reason length), tool arguments half sent

The answer comes from a ``Brain``: ``echo_brain`` answers ``ANSWER[<last user text>] ...`` in many
words; ``ArithmeticBrain`` plays a tool-using model that computes ``(a + b) * c [+ d]`` with ``add`` and
``multiply`` calls built from the tool results it was sent.

    plan = FaultPlan(["500", "ok"])
    server = fake_server(fault_app("openai", plan))        # tests/conftest.py fixture
    registry.add_provider("flaky", kind="openai", base_url=server.url + "/v1", api_key="k")
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = [
    "FAULTS", "WIRES", "KINDS", "FaultPlan", "Reply", "Brain", "echo_brain", "echo_answer", "ArithmeticBrain",
    "fault_app", "base_url",
]

FAULTS = ("ok", "429", "429_hint", "500", "502", "503", "529", "reset", "early_end", "stream_error", "slow",
          "malformed", "empty", "length")
WIRES = ("openai", "anthropic", "gemini", "ollama")
# Faults a gateway answers before any generation starts.
_REFUSALS = frozenset({"429", "429_hint", "500", "502", "503", "529", "reset"})
# registry kind per wire
KINDS = {"openai": "openai", "anthropic": "anthropic", "gemini": "google", "ollama": "ollama"}


def base_url(wire: str, root: str) -> str:
    """The base URL a provider of ``wire`` takes for a server at ``root``."""
    return root + "/v1" if wire == "openai" else root


class FaultPlan:
    """Which fault each request gets: ``script`` in order, then random faults at ``rate`` (from
    ``kinds``), else "ok". ``served`` keeps what each request got. Safe across threads."""

    def __init__(self, script: Sequence[str] = (), *, rate: float = 0.0, kinds: Sequence[str] = FAULTS[1:],
                 seed: int = 0, hint_s: float = 1.0, slow_s: float = 0.3, latency_s: float = 0.0) -> None:
        self.script = list(script)
        self.rate = rate
        self.kinds = list(kinds)
        self.hint_s = hint_s
        self.slow_s = slow_s
        self.latency_s = latency_s
        self.served: list[str] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            if self.script:
                fault = self.script.pop(0)
            elif self.rate and self._rng.random() < self.rate:
                fault = self._rng.choice(self.kinds)
            else:
                fault = "ok"
            self.served.append(fault)
            return fault


@dataclass
class Reply:
    """What the fake model says: text and tool calls ``(name, arguments)``."""

    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Turns:
    """A request read into wire-neutral form: the user turns and the tool results so far, and
    ``partial``: the assistant text the request asks to continue (it ends assistant, then user)."""

    users: list[str]
    results: list[str]
    partial: str | None = None


Brain = Callable[[Turns], Reply]


def echo_answer(question: str) -> str:
    """The exact whole answer ``echo_brain`` gives to ``question`` (what a test compares with)."""
    words = " ".join(f"word{i}" for i in range(24))
    return f"ANSWER[{question}] {words} END"


def echo_brain(turns: Turns) -> Reply:
    if turns.partial is not None and len(turns.users) >= 2:
        # A continuation request: the rest of the answer the partial text began.
        full = echo_answer(turns.users[-2])
        return Reply(full[len(turns.partial):] if full.startswith(turns.partial) else full)
    return Reply(echo_answer(turns.users[-1] if turns.users else ""))


class ArithmeticBrain:
    """A tool-using model for tasks ``"Compute (a + b) * c"`` or ``"Compute (a + b) * c + d"``: it calls
    ``add(a, b)``, then ``multiply(<that result>, c)``, then ``add(<that>, d)``, reading each result
    from the tool message it was sent, and answers ``The result is N.``"""

    TASK = re.compile(r"Compute \((-?\d+) \+ (-?\d+)\) \* (-?\d+)(?: \+ (-?\d+))?")

    def __call__(self, turns: Turns) -> Reply:
        match = self.TASK.search(turns.users[0] if turns.users else "")
        if match is None:
            return echo_brain(turns)
        a, b, c = (int(match.group(i)) for i in (1, 2, 3))
        d = int(match.group(4)) if match.group(4) is not None else None
        plan: list[tuple[str, Callable[[int], dict[str, Any]]]] = [
            ("add", lambda _: {"x": a, "y": b}),
            ("multiply", lambda r: {"x": r, "y": c}),
        ]
        if d is not None:
            plan.append(("add", lambda r: {"x": r, "y": d}))
        step = len(turns.results)
        last = _number(turns.results[-1]) if turns.results else 0
        if step < len(plan):
            name, args = plan[step]
            return Reply("", [(name, args(last))])
        return Reply(f"The result is {last}.")

    @staticmethod
    def expected(task: str) -> tuple[int, list[tuple[str, dict[str, int]]]]:
        """The right answer to ``task`` and the calls a correct run makes."""
        match = ArithmeticBrain.TASK.search(task)
        assert match is not None
        a, b, c = (int(match.group(i)) for i in (1, 2, 3))
        calls = [("add", {"x": a, "y": b}), ("multiply", {"x": a + b, "y": c})]
        value = (a + b) * c
        if match.group(4) is not None:
            d = int(match.group(4))
            calls.append(("add", {"x": value, "y": d}))
            value += d
        return value, calls


def _number(text: str) -> int:
    found = re.findall(r"-?\d+", text)
    return int(found[-1]) if found else 0


# --- reading requests --------------------------------------------------------------------------------

def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text_of(p.get("text") if isinstance(p, dict) and "text" in p else p.get("content") if isinstance(p, dict) else p)
                       for p in content)
    return "" if content is None else str(content)


def read_turns(wire: str, body: dict[str, Any]) -> Turns:
    users: list[str] = []
    results: list[str] = []
    # (role, text) of plain turns, to tell a continuation request (..., assistant text, user) apart
    plain: list[tuple[str, str]] = []
    if wire == "gemini":
        for turn in body.get("contents") or []:
            for part in turn.get("parts") or []:
                if "functionResponse" in part:
                    results.append(json.dumps(part["functionResponse"].get("response")))
                    plain.append(("tool", ""))
                elif "text" in part:
                    plain.append(("user" if turn.get("role") == "user" else "assistant", part["text"]))
                    if turn.get("role") == "user":
                        users.append(part["text"])
    else:
        for message in body.get("messages") or []:
            role = message.get("role")
            content = message.get("content")
            if role == "tool":
                results.append(_text_of(content))
                plain.append(("tool", ""))
            elif role == "user":
                blocks = content if isinstance(content, list) else []
                tool_blocks = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
                if tool_blocks:
                    results.extend(_text_of(b.get("content")) for b in tool_blocks)
                    plain.append(("tool", ""))
                else:
                    users.append(_text_of(content))
                    plain.append(("user", users[-1]))
            elif role == "assistant":
                plain.append(("assistant", _text_of(content)))
    partial = plain[-2][1] if len(plain) >= 2 and plain[-1][0] == "user" and plain[-2][0] == "assistant" else None
    return Turns(users, results, partial if partial else None)


# --- the server ----------------------------------------------------------------------------------------

def fault_app(wire: str, plan: FaultPlan, brain: Brain = echo_brain) -> web.Application:
    """The aiohttp app of one fake provider speaking ``wire``."""
    if wire not in WIRES:
        raise ValueError(f"wire must be one of {WIRES}, got {wire!r}")
    writer = {"openai": _OpenAI, "anthropic": _Anthropic, "gemini": _Gemini, "ollama": _Ollama}[wire]()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        stream = writer.streaming(request, body)
        reply = brain(read_turns(wire, body))
        fault = plan.next()
        if plan.latency_s and fault not in _REFUSALS:
            # Generating takes time; a refusal (429, 5xx, a dropped connection) comes back at once.
            await asyncio.sleep(plan.latency_s)
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if fault == "slow":
            await asyncio.sleep(plan.slow_s)
            fault = "ok"
        if fault in ("429", "429_hint", "500", "502", "503", "529"):
            status = int(fault[:3])
            return writer.error(status, hint=plan.hint_s if fault == "429_hint" else None)
        if fault == "malformed":
            return web.Response(status=200, body=b"<html><body>502 Bad Gateway</body></html>",
                                content_type="text/event-stream" if stream and wire != "ollama" else "application/json")
        if not stream:
            return await writer.whole(request, reply, fault)
        response = web.StreamResponse(headers={"Content-Type": writer.stream_type})
        await response.prepare(request)
        await writer.stream(response, reply, fault)
        await response.write_eof()
        return response

    app = web.Application()
    for path in writer.paths:
        app.router.add_post(path, handle)
    return app


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _half(raw: str) -> str:
    return raw[: max(len(raw) // 2, 1)]


async def _cut_body(request: web.Request, payload: Any) -> web.StreamResponse:
    """A whole-answer body that ends cleanly halfway (no Content-Length: chunked, then EOF)."""
    data = json.dumps(payload).encode()
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(data[: len(data) // 2])
    await response.write_eof()
    return response


class _OpenAI:
    paths = ("/v1/chat/completions",)
    stream_type = "text/event-stream"

    def streaming(self, request: web.Request, body: dict[str, Any]) -> bool:
        return bool(body.get("stream"))

    def error(self, status: int, hint: float | None) -> web.Response:
        # OpenAI and Azure send retry-after-ms for sub-second waits.
        headers = {} if hint is None else {"Retry-After": f"{hint:g}"} if hint >= 1 else {"retry-after-ms": f"{hint * 1000:g}"}
        kind = {429: "rate_limit_exceeded"}.get(status, "server_error")
        message = "Rate limit reached for requests" if status == 429 else "The server had an error processing your request."
        return web.json_response({"error": {"message": message, "type": kind, "code": None}}, status=status,
                                 headers=headers)

    def _message(self, reply: Reply, cut: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": _half(reply.text) if cut and reply.text else reply.text}
        if reply.calls:
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function",
                 "function": {"name": name, "arguments": _half(json.dumps(args)) if cut else json.dumps(args)}}
                for i, (name, args) in enumerate(reply.calls)
            ]
        return message

    async def whole(self, request: web.Request, reply: Reply, fault: str) -> web.StreamResponse:
        if fault == "early_end":
            return await _cut_body(request, self._payload(reply, False))
        if fault == "stream_error":
            return web.json_response({"error": {"message": "upstream overloaded", "type": "server_error", "code": 502}})
        if fault == "empty":
            return web.json_response({"id": "c", "object": "chat.completion", "model": "m", "choices": []})
        return web.json_response(self._payload(reply, fault == "length"))

    def _payload(self, reply: Reply, cut: bool) -> dict[str, Any]:
        finish = "length" if cut else "tool_calls" if reply.calls else "stop"
        return {"id": "c", "object": "chat.completion", "model": "m",
                "choices": [{"index": 0, "message": self._message(reply, cut), "finish_reason": finish}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}

    @staticmethod
    def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {"id": "c", "object": "chat.completion.chunk", "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    async def stream(self, response: web.StreamResponse, reply: Reply, fault: str) -> None:
        if fault == "empty":
            await response.write(b'data: {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": []}\n\n')
            await response.write(b"data: [DONE]\n\n")
            return
        cut = fault in ("early_end", "stream_error", "length")
        await response.write(self._chunk({"role": "assistant", "content": ""}))
        pieces = _pieces(reply.text) if reply.text else []
        for piece in pieces[: len(pieces) // 2] if cut else pieces:
            await response.write(self._chunk({"content": piece}))
        for index, (name, args) in enumerate(reply.calls):
            raw = json.dumps(args)
            head, tail = raw[: len(raw) // 2], raw[len(raw) // 2 :]
            await response.write(self._chunk({"tool_calls": [{"index": index, "id": f"call_{index}", "type": "function",
                                                              "function": {"name": name, "arguments": head}}]}))
            if not cut:
                await response.write(self._chunk({"tool_calls": [{"index": index, "function": {"arguments": tail}}]}))
        if fault == "early_end":
            return
        if fault == "stream_error":
            await response.write(b'data: {"error": {"message": "upstream overloaded", "type": "server_error", "code": 502}}\n\n')
            return
        finish = "length" if fault == "length" else "tool_calls" if reply.calls else "stop"
        await response.write(self._chunk({}, finish))
        await response.write(b"data: [DONE]\n\n")


class _Anthropic:
    paths = ("/v1/messages",)
    stream_type = "text/event-stream"
    _TYPES = {429: "rate_limit_error", 500: "api_error", 502: "api_error", 503: "api_error", 529: "overloaded_error"}

    def streaming(self, request: web.Request, body: dict[str, Any]) -> bool:
        return bool(body.get("stream"))

    def error(self, status: int, hint: float | None) -> web.Response:
        headers = {"retry-after": f"{hint:g}"} if hint is not None else {}
        message = "Number of requests has exceeded your rate limit" if status == 429 else "Overloaded" if status == 529 else "Internal server error"
        return web.json_response({"type": "error", "error": {"type": self._TYPES[status], "message": message}},
                                 status=status, headers=headers)

    def _content(self, reply: Reply, cut: bool) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        if reply.text:
            content.append({"type": "text", "text": _half(reply.text) if cut else reply.text})
        if not cut:
            content.extend({"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args}
                           for i, (name, args) in enumerate(reply.calls))
        return content

    def _payload(self, reply: Reply, cut: bool, empty: bool = False) -> dict[str, Any]:
        stop = "max_tokens" if cut else "tool_use" if reply.calls else "end_turn"
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                "content": [] if empty else self._content(reply, cut), "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 20}}

    async def whole(self, request: web.Request, reply: Reply, fault: str) -> web.StreamResponse:
        if fault == "early_end":
            return await _cut_body(request, self._payload(reply, False))
        if fault == "stream_error":
            return web.json_response({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        if fault == "empty":
            return web.json_response(self._payload(reply, False, empty=True) | {"stop_reason": "end_turn"})
        return web.json_response(self._payload(reply, fault == "length"))

    @staticmethod
    def _event(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    async def stream(self, response: web.StreamResponse, reply: Reply, fault: str) -> None:
        ev = self._event
        start = self._payload(reply, False, empty=True) | {"stop_reason": None}
        await response.write(ev("message_start", {"type": "message_start", "message": start}))
        cut = fault in ("early_end", "stream_error", "length")
        index = 0
        if reply.text and fault != "empty":
            await response.write(ev("content_block_start", {"type": "content_block_start", "index": 0,
                                                            "content_block": {"type": "text", "text": ""}}))
            pieces = _pieces(reply.text)
            for piece in pieces[: len(pieces) // 2] if cut else pieces:
                await response.write(ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                                "delta": {"type": "text_delta", "text": piece}}))
            if not cut:
                await response.write(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
            index = 1
        if fault != "empty":
            for offset, (name, args) in enumerate(reply.calls):
                i = index + offset
                raw = json.dumps(args)
                await response.write(ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                    "type": "tool_use", "id": f"toolu_{i}", "name": name, "input": {}}}))
                for part in ([raw[: len(raw) // 2]] if cut else [raw[: len(raw) // 2], raw[len(raw) // 2 :]]):
                    await response.write(ev("content_block_delta", {"type": "content_block_delta", "index": i,
                                                                    "delta": {"type": "input_json_delta", "partial_json": part}}))
                if not cut:
                    await response.write(ev("content_block_stop", {"type": "content_block_stop", "index": i}))
        if fault == "early_end":
            return
        if fault == "stream_error":
            await response.write(ev("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
            return
        if fault == "length":
            # The limit cut the last block: it is closed as it stood.
            for i in range(index + len(reply.calls) if reply.calls else index):
                await response.write(ev("content_block_stop", {"type": "content_block_stop", "index": i}))
        stop = "max_tokens" if fault == "length" else "tool_use" if reply.calls and fault != "empty" else "end_turn"
        await response.write(ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop},
                                                  "usage": {"output_tokens": 20}}))
        await response.write(ev("message_stop", {"type": "message_stop"}))


class _Gemini:
    paths = ("/v1beta/models/{model}",)
    stream_type = "text/event-stream"
    _STATUS = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 529: "UNAVAILABLE"}

    def streaming(self, request: web.Request, body: dict[str, Any]) -> bool:
        return request.match_info["model"].endswith(":streamGenerateContent")

    def error(self, status: int, hint: float | None) -> web.Response:
        error: dict[str, Any] = {"code": status, "message": "Resource has been exhausted (e.g. check quota)."
                                 if status == 429 else "The model is overloaded. Please try again later.",
                                 "status": self._STATUS[status]}
        if hint is not None:
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{hint:g}s"}]
        return web.json_response({"error": error}, status=status)

    def _parts(self, reply: Reply, cut: bool) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        if reply.text:
            parts.append({"text": _half(reply.text) if cut else reply.text})
        if not cut:
            parts.extend({"functionCall": {"name": name, "args": args}} for name, args in reply.calls)
        return parts

    def _payload(self, reply: Reply, cut: bool) -> dict[str, Any]:
        return {"candidates": [{"content": {"role": "model", "parts": self._parts(reply, cut)},
                                "finishReason": "MAX_TOKENS" if cut else "STOP"}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 20}, "modelVersion": "m"}

    async def whole(self, request: web.Request, reply: Reply, fault: str) -> web.StreamResponse:
        if fault == "early_end":
            return await _cut_body(request, self._payload(reply, False))
        if fault == "stream_error":
            return web.json_response({"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}})
        if fault == "empty":
            return web.json_response({"candidates": [], "usageMetadata": {"promptTokenCount": 10}})
        return web.json_response(self._payload(reply, fault == "length"))

    async def stream(self, response: web.StreamResponse, reply: Reply, fault: str) -> None:
        def chunk(parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
            if finish:
                candidate["finishReason"] = finish
            return b"data: " + json.dumps({"candidates": [candidate], "modelVersion": "m"}).encode() + b"\r\n\r\n"

        if fault == "empty":
            await response.write(b'data: {"candidates": [], "modelVersion": "m"}\r\n\r\n')
            return
        cut = fault in ("early_end", "stream_error", "length")
        pieces = _pieces(reply.text) if reply.text else []
        for piece in pieces[: len(pieces) // 2] if cut else pieces:
            await response.write(chunk([{"text": piece}]))
        if not cut and reply.calls:
            await response.write(chunk([{"functionCall": {"name": n, "args": a}} for n, a in reply.calls]))
        if fault == "early_end":
            return
        if fault == "stream_error":
            await response.write(b'data: {"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}\r\n\r\n')
            return
        await response.write(chunk([], "MAX_TOKENS" if fault == "length" else "STOP"))


class _Ollama:
    paths = ("/api/chat",)
    stream_type = "application/x-ndjson"

    def streaming(self, request: web.Request, body: dict[str, Any]) -> bool:
        return body.get("stream", True) is not False

    def error(self, status: int, hint: float | None) -> web.Response:
        headers = {"Retry-After": f"{hint:g}"} if hint is not None else {}
        message = "too many requests" if status == 429 else "server busy, please try again"
        return web.json_response({"error": message}, status=status, headers=headers)

    def _message(self, reply: Reply, cut: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": _half(reply.text) if cut and reply.text else reply.text}
        if reply.calls and not cut:
            message["tool_calls"] = [{"function": {"name": n, "arguments": a}} for n, a in reply.calls]
        return message

    def _payload(self, reply: Reply, cut: bool) -> dict[str, Any]:
        return {"model": "m", "created_at": "2025-01-01T00:00:00Z", "message": self._message(reply, cut), "done": True,
                "done_reason": "length" if cut else "stop", "prompt_eval_count": 10, "eval_count": 20}

    async def whole(self, request: web.Request, reply: Reply, fault: str) -> web.StreamResponse:
        if fault == "early_end":
            return await _cut_body(request, self._payload(reply, False))
        if fault == "stream_error":
            return web.json_response({"error": "an error was encountered while running the model"})
        if fault == "empty":
            return web.json_response(self._payload(Reply(""), False))
        return web.json_response(self._payload(reply, fault == "length"))

    async def stream(self, response: web.StreamResponse, reply: Reply, fault: str) -> None:
        def line(payload: dict[str, Any]) -> bytes:
            return json.dumps(payload).encode() + b"\n"

        if fault == "empty":
            await response.write(line(self._payload(Reply(""), False)))
            return
        cut = fault in ("early_end", "stream_error", "length")
        pieces = _pieces(reply.text) if reply.text else []
        for piece in pieces[: len(pieces) // 2] if cut else pieces:
            await response.write(line({"model": "m", "message": {"role": "assistant", "content": piece}, "done": False}))
        if reply.calls and not cut:
            await response.write(line({"model": "m", "message": self._message(Reply("", reply.calls), False), "done": False}))
        if fault == "early_end":
            return
        if fault == "stream_error":
            await response.write(line({"error": "an error was encountered while running the model"}))
            return
        final = self._payload(Reply(""), fault == "length")
        await response.write(line(final))
