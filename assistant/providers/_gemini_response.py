"""Reading Gemini answers: a whole ``generateContent`` answer, or a ``streamGenerateContent`` stream a
network read at a time (SSE payloads or the elements of a growing JSON array). ``thought: true`` parts are
reasoning; thought signatures and Gemini's own call ids are kept in ``opaque`` for the next request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import LLMError, TransientError, classify_error
from ..messages import ChatResponse, FinishReason, StreamEvent, ToolCall, Usage, new_call_id
from .base import ResponseBuilder, parse_arguments

__all__ = ["FINISH_REASONS", "AnswerReader"]

# Every documented Candidate.FinishReason: the Gemini API's (ai.google.dev/api/generate-content#FinishReason)
# and Vertex AI's (aiplatform v1 Candidate.FinishReason, which adds MODEL_ARMOR). Each safety system's stop
# (safety, recitation, blocklist, prohibited content, SPII, Model Armor, unsupported language, image safety)
# is a content_filter.
FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
    "IMAGE_OTHER": "error",
    "NO_IMAGE": "error",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
    "MALFORMED_RESPONSE": "error",
    "OTHER": "error",
}

_loads = orjson.loads


def _usage(meta: Mapping[str, Any]) -> Usage:
    return Usage(
        input_tokens=meta.get("promptTokenCount") or 0,
        output_tokens=meta.get("candidatesTokenCount") or 0,
        cached_tokens=meta.get("cachedContentTokenCount") or 0,
        reasoning_tokens=meta.get("thoughtsTokenCount") or 0,
    )


class AnswerReader:
    """Folds answer chunks (a whole answer is one chunk) into a ``ResponseBuilder``. A stream comes a
    network read at a time (``read``): text parts in a row become one ``text`` event, and an error is
    left in ``failure``, to raise after passing on the events before it."""

    def __init__(self, provider: str, model: str) -> None:
        self.builder = ResponseBuilder(provider, model, split_think=False)
        self.blocked = False
        self.finished = False
        self.failure: BaseException | None = None
        self._model = model
        self._usage: Mapping[str, Any] | None = None
        self._text_signature: str | None = None
        self._call_ids: list[str] = []

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        """One chunk, or a whole answer; an error in it raises."""
        events = self.read_values([chunk])
        if self.failure is not None:
            raise self.failure
        return events

    def read(self, payloads: list[bytes]) -> list[StreamEvent]:
        """The events of one read's SSE payloads (``[DONE]`` and empty events are skipped)."""
        events: list[StreamEvent] = []
        text: list[str] = []
        for data in payloads:
            try:
                chunk = _loads(data)
            except orjson.JSONDecodeError as exc:
                if data.strip() in (b"", b"[DONE]"):
                    continue
                self.failure = exc
                break
            if not self._chunk(chunk, events, text):
                break
        return self._flush(events, text)

    def read_values(self, chunks: list[Any]) -> list[StreamEvent]:
        """The events of the elements of a JSON-array stream that one read completed."""
        events: list[StreamEvent] = []
        text: list[str] = []
        for chunk in chunks:
            if not self._chunk(chunk, events, text):
                break
        return self._flush(events, text)

    def _flush(self, events: list[StreamEvent], text: list[str]) -> list[StreamEvent]:
        if text:
            events += self.builder.add_text("".join(text))
            text.clear()
        return events

    def _chunk(self, chunk: Any, events: list[StreamEvent], text: list[str]) -> bool:
        """One chunk into ``events``, its plain text parts into ``text``; False when it ends the stream."""
        builder = self.builder
        if not isinstance(chunk, dict):
            self._flush(events, text)
            self.failure = self.fail(TransientError("Gemini streamed an element that is not a JSON object",
                                                    provider=builder.provider, model=self._model))
            return False
        if "error" in chunk:
            self._flush(events, text)
            error = chunk["error"] if isinstance(chunk["error"], Mapping) else {"message": str(chunk["error"])}
            status = error.get("code") if isinstance(error.get("code"), int) else 500
            self.failure = self.fail(classify_error(builder.provider, status, orjson.dumps(chunk)))
            return False
        if chunk.get("modelVersion"):
            builder.model = chunk["modelVersion"]
        usage = chunk.get("usageMetadata")
        if usage:
            # Every chunk repeats the running totals; the last one is the answer's (read at the end).
            self._usage = usage
        block = (chunk.get("promptFeedback") or {}).get("blockReason")
        if block:
            self.blocked = True
            self.finished = True
            builder.raw_finish = block
        candidates = chunk.get("candidates") or []
        if not candidates:
            return True
        candidate = candidates[0]
        for part in (candidate.get("content") or {}).get("parts") or []:
            if len(part) == 1 and "text" in part:
                # Most parts of most streams: answer text alone (no thought, signature or call).
                if part["text"]:
                    text.append(part["text"])
                continue
            self._flush(events, text)
            events += self._part(part)
        if candidate.get("finishReason"):
            self.finished = True
            builder.raw_finish = candidate["finishReason"]
        return True

    def _settle(self) -> None:
        if self._usage is not None:
            self.builder.usage = _usage(self._usage)
            self._usage = None

    def fail(self, err: LLMError) -> LLMError:
        """Attach what arrived so far to ``err`` and return it for ``raise``."""
        self._settle()
        return self.builder.fail(err, FINISH_REASONS)

    def _part(self, part: Mapping[str, Any]) -> list[StreamEvent]:
        signature = part.get("thoughtSignature")
        call = part.get("functionCall")
        if call is not None:
            if call.get("id"):
                self._call_ids.append(call["id"])
            tool_call = ToolCall.model_construct(
                id=call.get("id") or new_call_id(),
                name=call.get("name", ""),
                arguments=parse_arguments(call.get("args")),
                signature=signature,
            )
            return [self.builder.add_tool_call(tool_call)]
        if signature and not part.get("thought"):
            self._text_signature = signature
        text = part.get("text")
        if not text:
            return []
        if part.get("thought"):
            return self.builder.add_reasoning(text)
        return self.builder.add_text(text)

    def response(self) -> ChatResponse:
        self._settle()
        builder = self.builder
        signed = self._text_signature or any(c.signature for c in builder.tool_calls)
        if signed or self._call_ids:
            state: dict[str, Any] = {"model": builder.model}
            if self._text_signature:
                state["text_signature"] = self._text_signature
            if self._call_ids:
                state["call_ids"] = list(self._call_ids)
            builder.opaque[builder.provider] = state
        response = builder.response(FINISH_REASONS)
        if self.blocked:
            # promptFeedback.blockReason: the prompt itself was refused, whatever the reason's name.
            response.finish_reason = "content_filter"
        return response


