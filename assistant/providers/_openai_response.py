"""Reading OpenAI-shape answers: a whole ``chat.completion``, or a stream of chunks network read by
network read (``StreamReader``). Only maps; the client in ``openai_compat`` does the I/O.

A stream is read per network read, not per event: the read's ``data:`` payloads are cut out in one pass
(``SSEDecoder.messages``), each is parsed once, and a run of chunks that carry nothing but answer text
becomes one ``text`` event. Every other chunk (reasoning, tool-call deltas, a finish reason, usage, an
error, a second choice) goes through the general reader, in order, after the text before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import LLMError, TransientError, classify_error
from ..messages import ChatResponse, FinishReason, StreamEvent, ToolCall, Usage, new_call_id
from ._framing import SSEDecoder
from .base import ResponseBuilder, normalize_finish, parse_arguments

__all__ = ["FINISH_REASONS", "StreamReader", "process_response", "replay", "stream_error"]

FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "eos": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",  # vLLM / Mistral when the window ends the answer
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "safety": "content_filter",
    "error": "error",
}

_PLAIN_DELTA = frozenset({"content", "role"})
_loads = orjson.loads
# Once per call: a pydantic class's attributes are read through its metaclass's __getattr__ hook (~3x
# a plain class's), so the whole-answer path calls these bound constructors.
_make_response = ChatResponse.make
_make_usage = Usage.make


class StreamReader:
    """One ``/chat/completions`` event stream. ``feed(read)`` takes the bytes of one network read and
    returns the events they complete; when the stream must stop with an error, ``failure`` holds it
    (raise it after passing on those events: what came before a broken chunk is still delivered).
    ``finished`` once ``data: [DONE]`` arrived; ``close()`` when the body ends; ``end()`` last.

        reader = StreamReader("groq", "llama-3.3-70b-versatile")
        events = reader.feed(b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\\n\\n')
    """

    __slots__ = ("builder", "finished", "failure", "_model", "_decoder", "_calls")

    def __init__(self, provider: str, model: str) -> None:
        self.builder = ResponseBuilder(provider, model)
        self._model = model
        self.finished = False
        self.failure: BaseException | None = None
        self._decoder = SSEDecoder()
        self._calls: _ToolCallAssembler | None = None

    def feed(self, read: bytes) -> list[StreamEvent]:
        payloads = self._decoder.messages(read)
        if payloads is None:
            return self._named(self._decoder.feed(read))
        if b"[DONE]" in payloads:
            del payloads[payloads.index(b"[DONE]") :]
            self.finished = True
        return self._chunks(payloads)

    def close(self) -> list[StreamEvent]:
        """The events the end of the body completes (a last event without its blank line)."""
        return self._named(self._decoder.close())

    def end(self) -> list[StreamEvent]:
        """After the body: the tool calls, any text held back and ``done``. Raises
        ``StreamInterruptedError`` (with the partial answer) when no choice said the answer was whole."""
        builder = self.builder
        if builder.raw_finish is None:
            # Only a choice with a finish_reason says the answer is whole; a body that just ends
            # (a proxy timing out, a server restarting) would otherwise pass a prefix off as the answer.
            raise builder.broken_off("a finish_reason", FINISH_REASONS)
        events = [builder.add_tool_call(call) for call in self._calls.finish()] if self._calls is not None else []
        events += builder.flush()
        events.append(builder.done(FINISH_REASONS))
        return events

    def _named(self, events: list[tuple[str, bytes]]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        run: list[bytes] = []
        for name, data in events:
            if data == b"[DONE]":
                self.finished = True
                break
            if name == "error":
                out += self._chunks(run)
                run = []
                if self.failure is None:
                    try:
                        self._fail(_loads(data))
                    except orjson.JSONDecodeError as exc:
                        self.failure = exc
                break
            run.append(data)
        if run:
            out += self._chunks(run)
        return out

    def _chunks(self, payloads: list[bytes]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        text: list[str] = []
        append = text.append
        model = None
        for data in payloads:
            try:
                chunk = _loads(data)
            except orjson.JSONDecodeError as exc:
                self.failure = exc
                break
            # Nearly every chunk of nearly every stream: one piece of choice 0's answer text and nothing
            # else that the general reader would look at (other top-level keys such as id, created or
            # system_fingerprint are ignored there too). One ``try`` in place of a type check per level.
            try:
                (choice,) = chunk["choices"]
                delta = choice["delta"]
                content = delta["content"]
            except (KeyError, TypeError, ValueError):
                content = None
            if (
                type(content) is str
                and (len(delta) == 1 or delta.keys() <= _PLAIN_DELTA)
                and choice.get("finish_reason") is None
                and not choice.get("index")
                and not chunk.get("usage")
                and not chunk.get("error")
                and "x_groq" not in chunk
            ):
                append(content)
                model = chunk.get("model") or model
                continue
            if text:
                events += self._text(text, model)
                text.clear()
                model = None
            if not self._general(chunk, events):
                break
        if text:
            events += self._text(text, model)
        return events

    def _text(self, text: list[str], model: Any) -> list[StreamEvent]:
        builder = self.builder
        if model and builder.model != model:
            builder.model = model
        return builder.add_text(text[0] if len(text) == 1 else "".join(text))

    def _general(self, chunk: Any, events: list[StreamEvent]) -> bool:
        """Any chunk: reasoning, content parts, tool-call deltas, finish, usage, errors. False when it
        ends the stream."""
        builder = self.builder
        if not isinstance(chunk, dict):
            err = TransientError("provider streamed a chunk that is not a JSON object", provider=builder.provider,
                                 model=self._model, body=orjson.dumps(chunk).decode()[:500])
            self.failure = builder.fail(err, FINISH_REASONS)
            return False
        if chunk.get("error"):
            self._fail(chunk)
            return False
        model = chunk.get("model")
        if model and builder.model != model:
            builder.model = model
        for choice in chunk.get("choices") or ():
            if not _is_answer_choice(choice):
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            for piece in _reasoning_of(delta):
                events += builder.add_reasoning(piece)
            content = delta.get("content")
            if content:
                for kind, piece in _content_parts(content):
                    events += builder.add_reasoning(piece) if kind == "reasoning" else builder.add_text(piece)
            raw_calls = delta.get("tool_calls")
            legacy = delta.get("function_call")
            if raw_calls or legacy:
                calls = self._calls
                if calls is None:
                    calls = self._calls = _ToolCallAssembler()
                if raw_calls:
                    calls.add(raw_calls)
                if legacy:
                    calls.add([{"index": 0, "function": legacy}])
            finish = choice.get("finish_reason")
            if finish:
                builder.raw_finish = finish
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if usage:
            events.append(builder.set_usage(_usage(usage)))
        return True

    def _fail(self, chunk: Any) -> None:
        """An error chunk (or ``event: error``) ends the stream, with what arrived before it."""
        builder = self.builder
        usage = chunk.get("usage") if isinstance(chunk, dict) else None
        if isinstance(usage, dict):
            builder.usage = _usage(usage)  # no event: the error ends the stream
        self.failure = builder.fail(stream_error(builder.provider, chunk, self._model), FINISH_REASONS)


def process_response(data: Any, provider: str, model: str) -> ChatResponse:
    """A whole ``chat.completion`` as a ``ChatResponse``; an error object or an answer without choices
    raises, classified.

        response = process_response(orjson.loads(body), "groq", "llama-3.3-70b-versatile")
    """
    if not isinstance(data, dict):
        raise TransientError("provider answered HTTP 200 with something other than a JSON object",
                             provider=provider, model=model, body=orjson.dumps(data).decode()[:500])
    if data.get("error"):
        # OpenRouter and some gateways answer HTTP 200 with an error object.
        raise stream_error(provider, data, model)
    choices = data.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        # HTTP 200 without an answer in it (an overloaded gateway's placeholder): nothing to read.
        raise TransientError("provider answered HTTP 200 without choices", provider=provider, model=model,
                             body=orjson.dumps(data).decode()[:500], code="no_choices")
    choice = choices[0]
    message = choice.get("message") or {}
    usage = data.get("usage")
    content = message.get("content")
    if (content is None or type(content) is str and content[:1] != "<" and not content[:1].isspace()) and not (
            message.get("tool_calls") or message.get("function_call")):
        # The everyday answer, plain text that cannot open a <think> block: what the builder would make.
        # Its helpers inlined (_reasoning_of's fields, normalize_finish's table): this runs once per call,
        # out of the CPU caches, and every function call shows.
        raw_finish = choice.get("finish_reason")
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        return _make_response(
            text=content or "", reasoning=reasoning if isinstance(reasoning, str) and reasoning else None,
            tool_calls=[],
            finish_reason=FINISH_REASONS.get(raw_finish) or normalize_finish(raw_finish, FINISH_REASONS, False),
            raw_finish_reason=raw_finish, usage=_usage(usage) if isinstance(usage, dict) else _make_usage(),
            model=data.get("model") or model, provider=provider, attempts=[], opaque={},
        )
    builder = ResponseBuilder(provider, data.get("model") or model, streaming=False)
    if isinstance(usage, dict):
        builder.usage = _usage(usage)
    for piece in _reasoning_of(message):
        builder.add_reasoning(piece)
    for kind, piece in _content_parts(message.get("content")):
        (builder.add_reasoning if kind == "reasoning" else builder.add_text)(piece)
    builder.flush()
    for raw in message.get("tool_calls") or []:
        fn = raw.get("function") or {}
        builder.add_tool_call(
            ToolCall.model_construct(
                id=raw.get("id") or new_call_id(), name=fn.get("name") or "",
                arguments=parse_arguments(fn.get("arguments")), signature=None,
            )
        )
    legacy = message.get("function_call")
    if legacy and not builder.tool_calls:
        builder.add_tool_call(
            ToolCall.model_construct(id=new_call_id(), name=legacy.get("name") or "",
                                     arguments=parse_arguments(legacy.get("arguments")), signature=None)
        )
    builder.raw_finish = choice.get("finish_reason")
    return builder.response(FINISH_REASONS)


def replay(response: ChatResponse) -> list[StreamEvent]:
    """The events of a whole answer, for a server that ignored ``"stream": true``."""
    events = []
    if response.reasoning:
        events.append(StreamEvent.make("reasoning", text=response.reasoning))
    if response.text:
        events.append(StreamEvent.make("text", text=response.text))
    for call in response.tool_calls:
        events.append(StreamEvent.make("tool_call", tool_call=call))
    events.append(StreamEvent.make("usage", usage=response.usage))
    events.append(StreamEvent.make("done", response=response))
    return events


def stream_error(provider: str, chunk: Any, model: str) -> LLMError:
    """An error object inside a 200 answer (a chunk, or a whole body), classified like its HTTP twin."""
    error = chunk.get("error") if isinstance(chunk, dict) else None
    status = 0
    if isinstance(error, dict):
        for field in ("code", "status_code", "status"):
            value = error.get(field)
            if isinstance(value, int) and 100 <= value < 600:
                status = value
                break
    err = classify_error(provider, status, orjson.dumps(chunk))
    err.model = err.model or model
    return err


class _ToolCallAssembler:
    """Streamed tool-call deltas, merged by index (id or position when a server sends no index)."""

    __slots__ = ("_calls", "_order")

    def __init__(self) -> None:
        self._calls: dict[Any, dict[str, Any]] = {}
        self._order: list[Any] = []

    def add(self, deltas: list[dict[str, Any]]) -> None:
        for pos, delta in enumerate(deltas):
            key = delta.get("index")
            if key is None:
                key = delta.get("id") or pos
            slot = self._calls.get(key)
            if slot is None:
                slot = {"id": None, "name": "", "args": []}
                self._calls[key] = slot
                self._order.append(key)
            if delta.get("id"):
                slot["id"] = delta["id"]
            fn = delta.get("function") or {}
            name = fn.get("name")
            # Some servers repeat the whole name in every chunk; others split it.
            if name and not slot["name"].endswith(name):
                slot["name"] += name
            args = fn.get("arguments")
            if args:
                if isinstance(args, dict):
                    slot["args"] = [orjson.dumps(args).decode()]
                else:
                    slot["args"].append(args)

    def finish(self) -> list[ToolCall]:
        out = []
        for key in self._order:
            slot = self._calls[key]
            if not slot["name"]:
                continue
            out.append(
                ToolCall.model_construct(
                    id=slot["id"] or new_call_id(), name=slot["name"],
                    arguments=parse_arguments("".join(slot["args"])), signature=None,
                )
            )
        return out


def _is_answer_choice(choice: Any) -> bool:
    # With ``n`` > 1 the choices of one stream arrive interleaved and only ``choices[].index`` keeps them
    # apart; the answer is choice 0 (a server that leaves the index out sends one choice).
    return isinstance(choice, dict) and (choice.get("index") or 0) == 0


def _reasoning_of(message: Mapping[str, Any]) -> list[str]:
    # DeepSeek and llama.cpp: reasoning_content; OpenRouter and Groq: reasoning. Never both in practice.
    value = message.get("reasoning_content") or message.get("reasoning")
    return [value] if isinstance(value, str) and value else []


def _content_parts(content: Any) -> list[tuple[str, str]]:
    """``(kind, text)`` pieces of a content field: a string, or Mistral's array of typed chunks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [("text", content)] if content else []
    parts: list[tuple[str, str]] = []
    for item in content if isinstance(content, list) else [content]:
        if isinstance(item, str):
            parts.append(("text", item))
        elif isinstance(item, dict):
            kind = item.get("type")
            if kind == "text" and item.get("text"):
                parts.append(("text", item["text"]))
            elif kind == "thinking":
                # Mistral magistral: {"type":"thinking","thinking":[{"type":"text","text":...}]}
                inner = item.get("thinking")
                if isinstance(inner, str):
                    parts.append(("reasoning", inner))
                else:
                    parts.extend(("reasoning", t) for k, t in _content_parts(inner) if t)
    return parts


def _usage(raw: Mapping[str, Any]) -> Usage:
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    cost = raw.get("cost")
    return _make_usage(
        input_tokens=int(raw.get("prompt_tokens") or raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or raw.get("output_tokens") or 0),
        cached_tokens=int(prompt_details.get("cached_tokens") or raw.get("prompt_cache_hit_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        cache_write_tokens=int(prompt_details.get("cache_write_tokens") or 0),
        cost=float(cost) if isinstance(cost, (int, float)) else None,
    )
