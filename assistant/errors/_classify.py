"""Turn a provider's "no" into the right ``LLMError``: the engine of ``errors.classify_error``.

Order of evidence: structured codes (``error.code``, Google ``status`` and ``details[].reason``), then
``error.type``, then the provider's words, then the HTTP status (see ``_rules`` for the order of the
tables). Body parsing lives in ``_parse`` and the numbers (waits, token counts) in ``_hints``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus

from ._dialects import declared_family
from ._hints import (
    parse_duration,
    reset_from_headers,
    retry_after_from_headers,
    retry_after_from_text,
    token_numbers,
)
from ._parse import ErrorPayload, parse_error_body
from ._rules import FAMILIES, GENERIC_TYPE_KINDS, Family, Rule, rules_for_family, status_kind
from .hierarchy import ErrorKind, LLMError, UsageError, error_for_kind

__all__ = ["classify"]

_MESSAGE_LIMIT = 1000
_RETRY_KINDS = frozenset({"rate_limit", "transient"})
_RULES_BY_FAMILY: dict[Family, tuple[Rule, ...]] = {family: rules_for_family(family) for family in FAMILIES}


def classify(
    provider: str,
    status: int,
    body: str | bytes,
    headers: Mapping[str, str] | None = None,
    *,
    now: float | None = None,
) -> LLMError:
    """The typed error for one error answer (HTTP status, body, headers). Pure: no I/O, never raises.

        err = classify("groq", 413, body, {"retry-after": "7"})
    """
    payload = parse_error_body(body)
    headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    status = status or 0
    # Errors inside a 200 stream carry their own code ({"error": {"code": 400, ...}}); callers pass 0 or 200.
    effective = status if status >= 400 else (payload.embedded_status() or status)
    codes = payload.codes() | _header_codes(headers)
    types = payload.types()
    haystack = payload.haystack
    matched = _match(_RULES_BY_FAMILY[_family(provider)], codes, types, effective, haystack)
    if matched is not None:
        kind: ErrorKind = matched.kind
        never_passes = matched.never_passes
        if kind == "auth" and effective >= 500 and matched.tier == 2:
            # A 5xx is the server's failure even when its words mention keys or authentication (a proxy whose
            # credential pool is empty: 500 "auth_unavailable: no auth available"). Only a 401/403, or a code
            # that says so, disables a provider.
            kind = "transient"
    else:
        kind = _fallback_kind(effective, codes | types)
        never_passes = False

    extra: dict[str, object] = {}
    if kind == "context_overflow":
        prompt, window = token_numbers(haystack)
        extra["prompt_tokens"] = payload.first("prompt_tokens") or prompt
        extra["context_window"] = payload.first("context_window") or window
    if kind == "rate_limit":
        extra["never_passes"] = never_passes
    retry_after = _retry_after(kind, payload, headers, now) if kind in _RETRY_KINDS and not never_passes else None

    return error_for_kind(
        kind,
        _message(payload, effective),
        provider=provider,
        status=effective if effective >= 400 else None,
        retry_after=retry_after,
        body=payload.text,
        code=payload.display_code(),
        **extra,
    )


def _match(
    ordered: Iterable[Rule], codes: frozenset[str], types: frozenset[str], status: int, haystack: str
) -> Rule | None:
    """The first rule that applies: code rules, then type rules, then phrase rules, each in table order."""
    for tier in (0, 1, 2):
        for candidate in ordered:
            if candidate.tier == tier and _applies(candidate, codes, types, status, haystack):
                return candidate
    return None


def _applies(rule: Rule, codes: frozenset[str], types: frozenset[str], status: int, haystack: str) -> bool:
    if rule.codes and rule.codes.isdisjoint(codes):
        return False
    if rule.types and rule.types.isdisjoint(types):
        return False
    if rule.status and status not in rule.status:
        return False
    if rule.phrase is not None and not rule.phrase.search(haystack):
        return False
    return rule.unless is None or not rule.unless.search(haystack)


def _fallback_kind(status: int, tokens: frozenset[str]) -> ErrorKind:
    by_status = status_kind(status)
    if by_status is not None:
        return by_status
    for token in sorted(tokens):
        if token in GENERIC_TYPE_KINDS:
            return GENERIC_TYPE_KINDS[token]
    # An error event inside a 200 stream that says nothing more: the server failed mid-answer.
    return "transient"


def _family(provider: str) -> Family:
    name = provider.lower()
    declared = declared_family(name)
    if declared is not None:
        return declared
    if any(hint in name for hint in ("gemini", "google", "vertex")):
        return "gemini"
    if any(hint in name for hint in ("anthropic", "claude")):
        return "anthropic"
    if "ollama" in name:
        return "ollama"
    return "openai"


def _header_codes(headers: Mapping[str, str]) -> frozenset[str]:
    # Bedrock: "x-amzn-errortype: ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    value = headers.get("x-amzn-errortype", "")
    return frozenset({value.split(":", 1)[0].strip().lower()}) if value else frozenset()


def _retry_after(kind: ErrorKind, payload: ErrorPayload, headers: Mapping[str, str], now: float | None) -> float | None:
    found = retry_after_from_headers(headers, now)
    if found is None:
        delay = payload.first("retry_delay")
        found = parse_duration(delay) if delay else None
    if found is None:
        found = retry_after_from_text(payload.haystack)
    if found is None and kind == "rate_limit":
        found = reset_from_headers(headers, now)
        body_headers = payload.first("headers")
        if found is None and body_headers:
            # OpenRouter copies the limit headers into the body: metadata.headers.X-RateLimit-Reset.
            found = reset_from_headers(body_headers, now)
    return found


def _message(payload: ErrorPayload, status: int) -> str:
    message = payload.message.strip()
    if not message:
        try:
            phrase = HTTPStatus(status).phrase if status else ""
        except ValueError:
            phrase = ""
        message = f"HTTP {status} {phrase}".strip() if status else "the provider reported an error without details"
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 3].rstrip() + "..."
    return message
