"""Numbers a provider puts in its error: how long to wait, and how big the prompt and window were.

Retry hints, strongest first: ``retry-after-ms``, ``Retry-After`` (seconds or an HTTP date), Google's
``RetryInfo.retryDelay``, the body's own words ("Please try again in 7m12.864s", "Please retry after 6
seconds"), then rate-limit reset headers (``x-ratelimit-reset-*``, ``anthropic-ratelimit-*-reset``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

__all__ = ["parse_duration", "retry_after_from_headers", "retry_after_from_text", "reset_from_headers", "token_numbers"]

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "m": 60.0, "min": 60.0,
          "mins": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hr|h)(?![a-z])", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hr|h)\s*)+$", re.IGNORECASE)
# "Please try again in 16.24s", "Please retry in 10.689924287s.", "try again in 1m0.363s",
# "Please retry after 6 seconds." (Azure), "please try again after 1 seconds" (Moonshot), "in 500ms",
# "Please wait 52 seconds before retrying." (GitHub Models).
_TEXT_HINT = re.compile(
    r"(?:(?:try\s+again|retry)\s+(?:in|after|for)|wait(?:\s+(?:for|in))?)\s+"
    r"((?:\d+(?:\.\d+)?\s*(?:ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hr|h)(?![a-z])\s*)+)",
    re.IGNORECASE,
)
_RESET_PREFIXES = ("x-ratelimit-reset", "anthropic-ratelimit-", "ratelimit-reset")


def parse_duration(text: str) -> float | None:
    """Seconds in a Go/Google style duration: ``"16s"``, ``"0.5s"``, ``"1m30s"``, ``"500ms"``, ``"6m0s"``.

        parse_duration("2m59.56s")  # 179.56
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    if not _DURATION.match(text):
        return None
    return sum(float(num) * _UNITS[unit.lower()] for num, unit in _DURATION_PART.findall(text))


def retry_after_from_headers(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """``retry-after-ms`` or ``Retry-After`` (delta seconds or HTTP date), in seconds from ``now``."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    return _until(_http_date(value), now)


def retry_after_from_text(text: str) -> float | None:
    """A wait the provider wrote into its message ("Please try again in 7.66s")."""
    match = _TEXT_HINT.search(text or "")
    return parse_duration(match.group(1)) if match else None


def reset_from_headers(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until the exhausted rate-limit window resets.

    Prefers the windows whose ``remaining`` is 0 and waits for the latest of them; with no ``remaining``
    information it takes the soonest reset (the caller learns more on the next answer).
    """
    resets: dict[str, float] = {}
    for name, value in headers.items():
        if not name.startswith(_RESET_PREFIXES) or "reset" not in name:
            continue
        seconds = _reset_seconds(value, now)
        if seconds is not None:
            resets[name] = seconds
    if not resets:
        return None
    exhausted = [seconds for name, seconds in resets.items() if headers.get(_remaining_name(name), "").strip() == "0"]
    return max(exhausted) if exhausted else min(resets.values())


def _remaining_name(reset_name: str) -> str:
    # x-ratelimit-reset-tokens -> x-ratelimit-remaining-tokens; anthropic-ratelimit-tokens-reset -> ...-remaining.
    if reset_name.endswith("-reset"):
        return reset_name[: -len("reset")] + "remaining"
    return reset_name.replace("reset", "remaining", 1)


def _reset_seconds(value: str, now: float | None) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        seconds = parse_duration(value)
        if seconds is not None:
            return seconds
        return _until(_iso_date(value) or _http_date(value), now)
    # A reset given as a Unix time (OpenRouter sends milliseconds) or as seconds to wait.
    if number > 1e12:
        return _until(number / 1000.0, now)
    if number > 1e9:
        return _until(number, now)
    return max(number, 0.0)


def _until(epoch: float | None, now: float | None) -> float | None:
    if epoch is None:
        return None
    return max(epoch - (time.time() if now is None else now), 0.0)


def _http_date(value: str) -> float | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _iso_date(value: str) -> float | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


_N = r"(\d[\d,]*)"
# (pattern, which group is the prompt, which is the window) - each quotes the message it reads.
_TOKEN_PATTERNS: tuple[tuple[re.Pattern[str], int | None, int | None], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE | re.DOTALL), prompt, window)
    for pattern, prompt, window in (
        # llama.cpp: "request (3031 tokens) exceeds the available context size (2048 tokens)"
        (rf"request \({_N} tokens\) exceeds the available context size \({_N} tokens\)", 1, 2),
        # Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"
        (rf"prompt is too long: {_N} tokens > {_N}", 1, 2),
        # Anthropic: "input length and `max_tokens` exceed context limit: 179413 + 32768 > 200000"
        (rf"exceed context limit: {_N} \+ {_N} > {_N}", 1, 3),
        # Gemini: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)"
        (rf"input token count \({_N}\) exceeds the maximum number of tokens allowed \({_N}\)", 1, 2),
        (rf"input token count exceeds the maximum number of tokens allowed \(?{_N}", None, 1),
        # xAI: "This model's maximum prompt length is 131072 but the request contains 136973 tokens."
        (rf"maximum prompt length is {_N} but the request contains {_N} tokens", 2, 1),
        # OpenAI / DeepSeek / vLLM / Groq / OpenRouter: "This model's maximum context length is 4097 tokens.
        # However, you requested 4203 tokens (3703 in the messages, 500 in the completion)."
        (rf"maximum context length is {_N} tokens?.{{0,120}}?\({_N} (?:in the messages|in your prompt|of text input)", 2, 1),
        # "... However, your messages resulted in 9000 tokens."
        (rf"maximum context length is {_N} tokens?.{{0,80}}?(?:messages resulted in|your request has|contains at least) {_N}", 2, 1),
        (rf"maximum context length is {_N} tokens?.{{0,80}}?(?:you requested|requested about) {_N}", 2, 1),
        (rf"maximum context length is {_N}", None, 1),
        # Azure: "Input tokens exceed the configured limit of 272000 tokens. Your messages resulted in 509178 tokens."
        (rf"configured limit of {_N} tokens.{{0,40}}?resulted in {_N}", 2, 1),
        # Mistral: "Prompt contains 40046 tokens and 0 draft tokens, too large for model with 32768 maximum context length"
        (rf"Prompt contains {_N} tokens.{{0,60}}?model with {_N} maximum context", 1, 2),
        # Moonshot: "Your request exceeded model token limit: 262144 (requested: 269030)"
        (rf"model token limit: {_N} \(requested: {_N}\)", 2, 1),
        # Cerebras: "Please reduce the length of the messages or completion. Current length is 42328 while limit is 40000"
        (rf"Current length is {_N} while limit is {_N}", 1, 2),
        # TGI / Together: "`inputs` tokens + `max_new_tokens` must be <= 8192. Given: 6204 `inputs` tokens"
        (rf"must be <= {_N}\. Given: {_N} `inputs` tokens", 2, 1),
        # LM Studio: "Trying to keep the first 15857 tokens when context the overflows. However, the model is
        # loaded with context length of only 4096 tokens"
        (rf"keep the first {_N} tokens.{{0,120}}?context length of only {_N}", 1, 2),
        # Cohere: "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4500"
        (rf"cannot exceed {_N} - received {_N}", 2, 1),
        # sglang: "The input (131073 tokens) is longer than the model's context length (131072 tokens)."
        (rf"input \({_N} tokens\) is longer than the model's context length \({_N}", 1, 2),
        # vLLM: "The prompt (total length 25938) is too long to fit into the model (context length 4096)."
        (rf"total length {_N}\) is too long to fit into the model \(context length {_N}", 1, 2),
        # Fireworks: "The prompt is too long: 40000, model maximum context length: 32768"
        (rf"prompt is too long: {_N}, model maximum context length: {_N}", 1, 2),
        # "Input length (265330) exceeds model's maximum context length (262144)."
        (rf"Input length \(?{_N}\)? exceeds (?:the )?(?:model's )?maximum (?:context length|allowed input length of) \(?{_N}", 1, 2),
        # "prompt token count of 265330 exceeds the limit of 262144"
        (rf"prompt token count of {_N} exceeds the limit of {_N}", 1, 2),
        # "Prompt has 213462 tokens, but the configured context size is 200000 tokens"
        (rf"Prompt has {_N} tokens, but the configured context size is {_N}", 1, 2),
    )
)


def token_numbers(text: str) -> tuple[int | None, int | None]:
    """(prompt_tokens, context_window) stated in an overflow message; either may be None.

        token_numbers("prompt is too long: 210000 tokens > 200000 maximum")  # (210000, 200000)
    """
    prompt: int | None = None
    window: int | None = None
    for pattern, prompt_group, window_group in _TOKEN_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        if prompt is None and prompt_group is not None:
            prompt = _number(match.group(prompt_group))
        if window is None and window_group is not None:
            window = _number(match.group(window_group))
        if prompt is not None and window is not None:
            break
    return prompt, window


def _number(text: str) -> int:
    return int(text.replace(",", ""))
