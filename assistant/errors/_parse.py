"""Read a provider's error answer into one ``ErrorPayload``, whatever shape it came in.

Shapes seen in the wild: OpenAI-style ``{"error": {...}}``, Anthropic ``{"type": "error", "error": {...}}``,
Google ``{"error": {"status", "details": [...]}}`` (sometimes wrapped in a JSON array), bare
``{"error": "text"}`` (Ollama, xAI), top-level ``{"message": ...}`` (Mistral, Cohere, Bedrock),
problem+json ``{"title", "detail", "status"}`` (NVIDIA), an SSE ``data:`` payload, HTML gateway pages and
plain text. Gateways wrap the upstream answer: OpenRouter in ``error.metadata.raw``, LiteLLM and
gemini-cli as JSON inside the message string. Every layer found is kept (``layers``) so the rules can
see the upstream code as well as the gateway's.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

__all__ = ["ErrorLayer", "ErrorPayload", "parse_error_body"]

_MAX_DEPTH = 4
_MAX_EMBEDDED = 20_000
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>|<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_HTML_STARTS = ("<!doctype", "<html", "<head", "<body")
# Google's Candidate.FinishReason values that mean a safety system stopped the answer (Gemini API and
# Vertex AI, which adds MODEL_ARMOR); any promptFeedback.blockReason means the prompt was refused.
_SAFETY_REASONS = frozenset({
    "safety", "recitation", "language", "blocklist", "prohibited_content", "spii", "model_armor", "image_safety",
    "image_prohibited_content", "image_recitation",
})


class ErrorLayer(BaseModel):
    """One error object: the outer answer, or an upstream answer a gateway wrapped inside it."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    message: str = ""
    code: str | None = None
    type: str | None = None
    # Google's canonical status ("RESOURCE_EXHAUSTED"), NVIDIA's problem title.
    status_text: str | None = None
    # A numeric status the body itself states (``error.code: 429``, ``status_code: 400``).
    status: int | None = None
    # Google ErrorInfo reasons, ``errors[].reason``, Azure ``innererror.code``, safety block reasons.
    reasons: tuple[str, ...] = ()
    # Google ErrorInfo.reason ("API_KEY_INVALID"): the most specific code a Google error carries.
    info_reason: str | None = None
    retry_delay: str | None = None
    prompt_tokens: int | None = None
    context_window: int | None = None
    # Response headers a gateway copied into the body (OpenRouter ``metadata.headers``).
    headers: dict[str, str] = {}


class ErrorPayload(BaseModel):
    """Everything the rules look at, flattened over all layers (outer first)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    text: str
    is_html: bool = False
    layers: tuple[ErrorLayer, ...] = ()

    @property
    def message(self) -> str:
        """The provider's own words: the outer message, with the upstream one after a generic wrapper."""
        messages = [layer.message for layer in self.layers if layer.message]
        if not messages:
            return _html_summary(self.text) if self.is_html else self.text
        return ": ".join(_dedupe(messages))

    @property
    def haystack(self) -> str:
        """Every message, for phrase rules (the raw text when the body had no error object)."""
        messages = [layer.message for layer in self.layers if layer.message]
        return "\n".join(messages) if messages else self.text

    def codes(self) -> frozenset[str]:
        """Lower-cased codes, Google statuses and reasons of every layer (HTTP numbers excluded)."""
        found: set[str] = set()
        for layer in self.layers:
            for value in (layer.code, layer.status_text, *layer.reasons):
                if value and not _is_http_number(value):
                    found.add(value.strip().lower())
        return frozenset(found)

    def types(self) -> frozenset[str]:
        return frozenset(layer.type.strip().lower() for layer in self.layers if layer.type)

    def embedded_status(self) -> int | None:
        for layer in self.layers:
            if layer.status is not None:
                return layer.status
        return None

    def first(self, field: str) -> Any:
        """The first non-empty value of a layer field, outer layer first."""
        for layer in self.layers:
            value = getattr(layer, field)
            if value not in (None, "", {}, ()):
                return value
        return None

    def display_code(self) -> str | None:
        """The provider's code for ``LLMError.code``: a named code, then a Google status, then a type."""
        for layer in self.layers:
            if layer.code and not _is_http_number(layer.code):
                return layer.code
        statuses = [layer.status_text for layer in self.layers if layer.status_text]
        canonical = next((status for status in statuses if _is_canonical(status)), None)
        return self.first("info_reason") or canonical or self.first("status_text") or self.first("type")


def parse_error_body(body: str | bytes) -> ErrorPayload:
    """Decode and parse an error body of any shape; never raises.

        payload = parse_error_body(b'{"error": {"message": "Overloaded", "type": "overloaded_error"}}')
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, (bytes, bytearray)) else str(body or "")
    text = text.lstrip("\ufeff").strip()
    document = _load_document(text)
    if document is None:
        is_html = text[:200].lower().startswith(_HTML_STARTS) or "</html>" in text[-200:].lower()
        return ErrorPayload(text=text, is_html=is_html, layers=() if is_html or not text else (ErrorLayer(message=text),))
    return ErrorPayload(text=text, layers=tuple(_layers(document, 0)))


def _load_document(text: str) -> Any:
    if not text:
        return None
    data_lines = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    if data_lines:
        # An SSE body: the error is the data payload that carries one (Groq ``event: error``,
        # OpenRouter's error chunk, Anthropic's ``event: error``).
        parsed = [doc for doc in map(_loads, data_lines) if isinstance(doc, (dict, list))]
        for doc in parsed:
            if _error_object(doc) is not None:
                return doc
        return parsed[-1] if parsed else None
    doc = _loads(text)
    if isinstance(doc, (dict, list)):
        return doc
    return _embedded_document(text)


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError):
        return None


def _embedded_document(text: str) -> Any:
    """JSON (or a Python dict repr, as LiteLLM prints it) inside a longer string."""
    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start or end - start > _MAX_EMBEDDED:
        return None
    chunk = text[start : end + 1]
    doc = _loads(chunk)
    if doc is None:
        try:
            doc = ast.literal_eval(chunk)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            return None
    return doc if isinstance(doc, dict) else None


def _error_object(doc: Any) -> dict[str, Any] | None:
    """The dict that describes the error, or None when the document is not an error."""
    if isinstance(doc, list):
        # Gemini sometimes answers ``[{"error": {...}}]``.
        for item in doc:
            found = _error_object(item)
            if found is not None:
                return found
        return None
    if not isinstance(doc, dict):
        return None
    error = doc.get("error")
    if isinstance(error, dict):
        return error
    if isinstance(error, str) and error:
        return doc
    response = doc.get("response")
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        # OpenAI Responses API: ``{"type": "response.failed", "response": {"error": {...}}}``.
        return response["error"]
    if any(isinstance(doc.get(key), (str, list, dict)) for key in ("message", "Message", "detail", "msg", "error_message")):
        return doc
    errors = doc.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and "message" in errors[0]:
        # Cloudflare Workers AI: {"success": false, "errors": [{"code": 3036, "message": "..."}]}
        return errors[0]
    if isinstance(doc.get("promptFeedback"), dict) or isinstance(doc.get("candidates"), list):
        return doc
    return None


def _layers(doc: Any, depth: int) -> Iterator[ErrorLayer]:
    err = _error_object(doc)
    if err is None:
        return
    outer = doc if isinstance(doc, dict) else {}
    layer, nested = _read_layer(err, outer)
    yield layer
    if depth >= _MAX_DEPTH:
        return
    for inner in nested:
        yield from _layers(inner, depth + 1)


def _read_layer(err: dict[str, Any], outer: dict[str, Any]) -> tuple[ErrorLayer, list[Any]]:
    nested: list[Any] = []
    raw_message = _first_present(err, ("message", "Message", "error", "detail", "msg", "error_message", "title"))
    message = _message_text(raw_message)
    embedded = _embedded_document(message) if "{" in message else None
    if embedded is not None and _error_object(embedded) is not None:
        nested.append(embedded)
        message = _strip_embedded(message)

    code_value = err.get("code") if "code" in err else outer.get("code")
    code, status = _code_and_status(code_value)
    status = status or _int(err.get("status_code")) or _int(outer.get("status_code")) or _int(err.get("raw_status_code"))
    status_field = err.get("status")
    status_text = status_field if isinstance(status_field, str) and not _is_http_number(status_field) else None
    if isinstance(status_field, int) and status is None:
        status = status_field
    if status_text is None and isinstance(err.get("title"), str) and isinstance(err.get("detail"), str):
        status_text = err["title"]
    err_type = err.get("type") if isinstance(err.get("type"), str) and err.get("type") not in ("None", "null", "error") else None

    reasons: list[str] = []
    retry_delay: str | None = None
    info_reason: str | None = None
    for detail in err.get("details") or ():
        if not isinstance(detail, dict):
            continue
        if isinstance(detail.get("reason"), str):
            reasons.append(detail["reason"])
            info_reason = info_reason or detail["reason"]
        if isinstance(detail.get("retryDelay"), str):
            retry_delay = detail["retryDelay"]
        metadata = detail.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("quotaResetDelay"), str):
            retry_delay = retry_delay or metadata["quotaResetDelay"]
        for violation in detail.get("violations") or ():
            if isinstance(violation, dict) and isinstance(violation.get("quotaId"), str):
                reasons.append(violation["quotaId"])
    for item in err.get("errors") or ():
        if isinstance(item, dict) and isinstance(item.get("reason"), str):
            reasons.append(item["reason"])
    for holder in (err, err.get("provider_specific_fields") or {}):
        inner = holder.get("innererror") if isinstance(holder, dict) else None
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            reasons.append(inner["code"])
    reasons.extend(_safety_reasons(err))

    headers: dict[str, str] = {}
    metadata = err.get("metadata")
    if isinstance(metadata, dict):
        raw = metadata.get("raw")
        if isinstance(raw, str) and raw.strip():
            inner_doc = _loads(raw.strip()) or _embedded_document(raw)
            nested.append(inner_doc if inner_doc is not None else {"error": {"message": raw.strip()}})
        elif isinstance(raw, dict):
            nested.append(raw if _error_object(raw) is not None else {"error": raw})
        if isinstance(metadata.get("headers"), dict):
            headers = {str(k).lower(): str(v) for k, v in metadata["headers"].items()}
        if isinstance(metadata.get("reasons"), list) and metadata["reasons"]:
            # OpenRouter moderation: ``metadata.reasons: ["violence"]``.
            reasons.append("moderation_flagged")

    layer = ErrorLayer(
        message=message,
        code=code,
        type=err_type,
        status_text=status_text,
        status=status,
        reasons=tuple(reasons),
        info_reason=info_reason,
        retry_delay=retry_delay,
        prompt_tokens=_int(err.get("n_prompt_tokens")),
        context_window=_int(err.get("n_ctx")),
        headers=headers,
    )
    return layer, nested


def _safety_reasons(err: dict[str, Any]) -> list[str]:
    found: list[str] = []
    feedback = err.get("promptFeedback")
    if isinstance(feedback, dict) and isinstance(feedback.get("blockReason"), str):
        found.append("safety_block")
    for candidate in err.get("candidates") or ():
        reason = candidate.get("finishReason") if isinstance(candidate, dict) else None
        if isinstance(reason, str) and reason.lower() in _SAFETY_REASONS:
            found.append("safety_block")
    return found


def _first_present(err: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = err.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _message_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        # FastAPI / Mistral validation errors: ``[{"loc": [...], "msg": "..."}]``.
        parts = [str(item.get("msg") or item.get("message") or "") if isinstance(item, dict) else str(item) for item in value]
        return "; ".join(p for p in parts if p) or orjson.dumps(value).decode()
    if isinstance(value, dict):
        nested = next((value[key] for key in ("message", "detail", "error", "msg") if key in value), None)
        return _message_text(nested) if nested is not None else orjson.dumps(value).decode()
    return str(value).strip()


def _strip_embedded(message: str) -> str:
    """``"litellm.BadRequestError: AnthropicException - {...}"`` keeps only the words before the JSON."""
    prefix = message[: message.find("{")].strip().rstrip("-:").strip()
    return prefix


def _code_and_status(value: Any) -> tuple[str | None, int | None]:
    if value is None or isinstance(value, bool):
        return None, None
    if isinstance(value, int):
        return str(value), value if 100 <= value <= 599 else None
    text = str(value).strip()
    if not text or text in ("None", "null"):
        return None, None
    return text, int(text) if _is_http_number(text) else None


def _is_canonical(value: str) -> bool:
    # Google's canonical codes read like "RESOURCE_EXHAUSTED"; gateways put "Too Many Requests" in the same field.
    return value.replace("_", "").isalpha() and value.isupper()


def _is_http_number(value: str) -> bool:
    return value.isdigit() and len(value) == 3 and 100 <= int(value) <= 599


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _dedupe(messages: list[str]) -> list[str]:
    kept: list[str] = []
    for message in messages:
        if not any(message in other for other in kept):
            kept.append(message)
    return kept


def _html_summary(text: str) -> str:
    match = _HTML_TITLE.search(text)
    title = next((g for g in match.groups() if g), "") if match else ""
    return " ".join(_TAG.sub(" ", title).split()) or "HTML error page"
