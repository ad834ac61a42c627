"""The message model: one set of records every layer speaks.

Requests, responses, stream events, attempts and model facts are pydantic models. Objects the engine
builds itself on the hot path use ``model_construct`` (no re-validation); data from disk or the wire
is validated at the edge.

    msgs = [Message.system("Be brief."), Message.user("Hi")]
    req = ChatRequest(model="gpt-4o-mini", messages=msgs)

Part: the records every other part speaks (messages, tool calls, requests, responses, stream events,
attempts, model info) and fresh call ids. Imports nothing from the engine.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .parts import Attachment, DocumentPart, ImagePart

__all__ = [
    "new_call_id",
    "Role",
    "FinishReason",
    "ToolCall",
    "INCOMPLETE_ARGUMENTS",
    "ToolSpec",
    "Message",
    "Usage",
    "Attempt",
    "ChatRequest",
    "ChatResponse",
    "StreamEvent",
    "ModelInfo",
    "ReasoningEffort",
    "ImagePart",
    "DocumentPart",
    "Attachment",
    "trusted",
]

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "error"]
ReasoningEffort = Literal["off", "minimal", "low", "medium", "high", "xhigh"]


_new = object.__new__
_set = object.__setattr__
_M = TypeVar("_M", bound=BaseModel)


class _Record(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=False, validate_assignment=False)


# A record built without validation (several times cheaper than ``model_construct``, which walks every
# field's aliases and defaults in Python): ``_new(cls)``, then its ``__dict__`` holding every field and
# pydantic's three slots. Written out in each constructor below rather than shared by a helper: they
# run on every call and every stream read, with their code out of the CPU caches, where a Python
# call less shows.


_field_counts: dict[type, int] = {}


def trusted(cls: type[_M], values: dict[str, Any]) -> _M:
    """``cls.model_construct(**values)`` for values the engine made itself with every field given, at a
    fraction of its cost (``model_construct`` walks every field's aliases and defaults in Python). The
    dict becomes the record's own.

        usage = trusted(Usage, {"input_tokens": 3, ...every field...})
    """
    count = _field_counts.get(cls)
    if count is None:
        # A class attribute of a pydantic model costs a trip through its metaclass's __getattr__ hook.
        count = _field_counts[cls] = len(cls.__pydantic_fields__)
    if len(values) != count:
        return cls.model_construct(**values)
    record = _new(cls)  # this runs twice in every router call
    _set(record, "__dict__", values)
    _set(record, "__pydantic_fields_set__", set(values))
    _set(record, "__pydantic_extra__", None)
    _set(record, "__pydantic_private__", None)
    return record


# The key under which a client keeps tool-call arguments that ended with a structure still open.
INCOMPLETE_ARGUMENTS = "_incomplete_arguments"


class ToolCall(_Record):
    """A tool call the model asked for; ``arguments`` is always a parsed dict."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    # Provider-opaque state that must travel back with this call (Gemini thoughtSignature).
    signature: str | None = None

    @property
    def incomplete(self) -> bool:
        """The arguments were cut off before the model finished them (``INCOMPLETE_ARGUMENTS`` holds
        the raw text): such a call must never run."""
        return isinstance(self.arguments, dict) and INCOMPLETE_ARGUMENTS in self.arguments


class ToolSpec(_Record):
    """A tool offered to the model: name, description and a JSON Schema for its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Message(_Record):
    """One turn of a conversation. ``content`` may be given as a list of parts (strings, images,
    documents): the text goes to ``content`` and the rest to ``attachments``."""

    role: Role
    content: str = ""
    attachments: list[Attachment] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    # Reasoning text the model produced for this turn (kept apart from content).
    reasoning: str | None = None
    # Provider-opaque state (e.g. Anthropic thinking signatures), keyed by the provider that made it;
    # dropped when the conversation moves to another provider.
    opaque: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_parts(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("content"), list):
            texts: list[str] = []
            media: list[Any] = list(data.get("attachments") or [])
            for part in data["content"]:
                if isinstance(part, str):
                    texts.append(part)
                elif isinstance(part, dict) and part.get("type") == "text":
                    texts.append(str(part.get("text") or ""))
                else:
                    media.append(part)
            data = {**data, "content": "\n".join(t for t in texts if t), "attachments": media}
        return data

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str | list[Any], attachments: list[Attachment] | None = None) -> Message:
        """``Message.user("hi")``, ``Message.user(["what is this?", ImagePart.from_file("x.png")])``."""
        return cls(role="user", content=content, attachments=attachments or [])

    @classmethod
    def assistant(cls, content: str = "", tool_calls: list[ToolCall] | None = None, **kw: Any) -> Message:
        return cls(role="assistant", content=content, tool_calls=tool_calls or [], **kw)

    @classmethod
    def tool(cls, content: str, tool_call_id: str | None = None, name: str | None = None) -> Message:
        return cls(role="tool", content=content, tool_call_id=tool_call_id, name=name)


class Usage(_Record):
    """Token counts for one call (or a sum of calls); ``cost`` in USD when the provider states it."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    cost: float | None = None

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost is None and other.cost is None else (self.cost or 0.0) + (other.cost or 0.0)
        return trusted(Usage, {
            "input_tokens": self.input_tokens + other.input_tokens,
            "output_tokens": self.output_tokens + other.output_tokens,
            "cached_tokens": self.cached_tokens + other.cached_tokens,
            "reasoning_tokens": self.reasoning_tokens + other.reasoning_tokens,
            "cache_write_tokens": self.cache_write_tokens + other.cache_write_tokens,
            "cost": cost,
        })

    @classmethod
    def make(
        cls,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        cache_write_tokens: int = 0,
        cost: float | None = None,
    ) -> Usage:
        """Build without validation, for counts the engine itself read off the wire (a client's hot path)."""
        usage = _new(cls)
        _set(usage, "__dict__", {"input_tokens": input_tokens, "output_tokens": output_tokens,
                                 "cached_tokens": cached_tokens, "reasoning_tokens": reasoning_tokens,
                                 "cache_write_tokens": cache_write_tokens, "cost": cost})
        _set(usage, "__pydantic_fields_set__", set(_USAGE_FIELDS))
        _set(usage, "__pydantic_extra__", None)
        _set(usage, "__pydantic_private__", None)
        return usage

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


_USAGE_FIELDS = frozenset(("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cache_write_tokens",
                           "cost"))  # a set copies a frozenset's table as it is: no hashing


class Attempt(_Record):
    """One hop the router made: which model, what went wrong (``kind`` None when it answered)."""

    provider: str
    model: str
    kind: str | None = None
    status: int | None = None
    wait_s: float = 0.0
    detail: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens read from the provider's cache
    cache_write_tokens: int = 0  # prompt tokens written to it
    cost: float | None = None  # USD: the provider's figure, else catalog prices; None when unknown


class ChatRequest(_Record):
    """One call to one model; ``model`` is the provider's own name (no provider prefix)."""

    model: str
    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    # None (provider default), "auto", "none", "required", or a tool name to force.
    tool_choice: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    stream: bool = False
    reasoning: ReasoningEffort | None = None
    stop: list[str] | None = None
    # JSON Schema the answer must follow (structured output / grammar-constrained decoding).
    response_schema: dict[str, Any] | None = None
    # Merged last into the wire body: the escape hatch for provider options we do not model.
    extra: dict[str, Any] = Field(default_factory=dict)


class ChatResponse(_Record):
    """A whole answer; ``finish_reason`` normalised, the provider's own value in ``raw_finish_reason``."""

    text: str = ""
    reasoning: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: FinishReason = "stop"
    raw_finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    model: str = ""
    provider: str = ""
    attempts: list[Attempt] = Field(default_factory=list)
    # Provider-opaque state to send back with this turn (see Message.opaque).
    opaque: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def make(
        cls,
        text: str,
        reasoning: str | None,
        tool_calls: list[ToolCall],
        finish_reason: FinishReason,
        raw_finish_reason: str | None,
        usage: Usage,
        model: str,
        provider: str,
        attempts: list[Attempt],
        opaque: dict[str, Any],
    ) -> ChatResponse:
        """Build without validation, every field given: for an answer a client assembled itself (once
        per call, so several times cheaper than ``model_construct`` matters)."""
        response = _new(cls)
        _set(response, "__dict__", {"text": text, "reasoning": reasoning, "tool_calls": tool_calls,
                                    "finish_reason": finish_reason, "raw_finish_reason": raw_finish_reason,
                                    "usage": usage, "model": model, "provider": provider, "attempts": attempts,
                                    "opaque": opaque})
        _set(response, "__pydantic_fields_set__", set(_RESPONSE_FIELDS))
        _set(response, "__pydantic_extra__", None)
        _set(response, "__pydantic_private__", None)
        return response

    def to_message(self) -> Message:
        """The assistant turn to append to the history."""
        return Message.model_construct(
            role="assistant",
            content=self.text,
            attachments=[],  # given: a missing default_factory costs model_construct an inspect.signature
            tool_calls=list(self.tool_calls),
            tool_call_id=None,
            name=None,
            reasoning=self.reasoning,
            opaque=dict(self.opaque),
        )


_RESPONSE_FIELDS = frozenset(("text", "reasoning", "tool_calls", "finish_reason", "raw_finish_reason", "usage", "model",
                              "provider", "attempts", "opaque"))


class StreamEvent(_Record):
    """One streamed piece; the last event is ``done`` and carries the whole response.

    ``status`` events are the router's and agent's progress notes (a wait, a model switch, a
    compaction); they carry ``text`` for people and ``attempt`` when they report a hop.
    """

    type: Literal["text", "reasoning", "tool_call", "usage", "done", "status"]
    text: str | None = None
    tool_call: ToolCall | None = None
    usage: Usage | None = None
    response: ChatResponse | None = None
    attempt: Attempt | None = None

    @classmethod
    def make(
        cls,
        type: str,
        text: str | None = None,
        tool_call: ToolCall | None = None,
        usage: Usage | None = None,
        response: ChatResponse | None = None,
        attempt: Attempt | None = None,
    ) -> StreamEvent:
        """Build an event without validation: the hot path of every stream (4x cheaper than
        ``model_construct``). Only for values the engine itself produced."""
        event = _new(cls)
        _set(event, "__dict__", {"type": type, "text": text, "tool_call": tool_call, "usage": usage,
                                 "response": response, "attempt": attempt})
        _set(event, "__pydantic_fields_set__", {"type"})
        _set(event, "__pydantic_extra__", None)
        _set(event, "__pydantic_private__", None)
        return event


class ModelInfo(_Record):
    """What is known about one model; every fact keeps where it came from in ``source``."""

    id: str
    provider: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool | None = None
    supports_vision: bool | None = None
    supports_pdf: bool | None = None  # reads PDF documents natively
    free: bool | None = None
    pricing: dict[str, float] | None = None
    source: str = ""
    # Unix time the facts were read; 0 for the static seed.
    fetched_at: float = 0.0

    @property
    def model_id(self) -> str:
        """The router's id: ``provider/model``."""
        return f"{self.provider}/{self.id}"


def new_call_id(prefix: str = "call") -> str:
    """A fresh id for a tool call whose provider sent none (Ollama, Gemini); unique across processes,
    so a restored history never holds two calls with the same id."""
    return f"{prefix}_{secrets.token_hex(8)}"
