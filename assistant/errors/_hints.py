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
# (pattern, the groups that add up to the prompt, the window's group) - each quotes the message it reads.
# The prompt is every input token (messages plus tool schemas), never the output budget: when a message only
# states the total with the output ("answering your request will take 39732 tokens"), the prompt stays unknown.
_TOKEN_PATTERNS: tuple[tuple[re.Pattern[str], tuple[int, ...], int | None], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE | re.DOTALL), prompt, window)
    for pattern, prompt, window in (
        # OpenAI / DeepSeek / vLLM / Groq: "This model's maximum context length is 4097 tokens. However, you requested
        # 4203 tokens (3703 in the messages, 500 in the completion)."; with tools "(P in the messages, F in the
        # functions, and C in the completion)"; OpenRouter "(7884 of text input, 120 of tool input, 131072 in the output)".
        (rf"maximum context length is {_N} tokens?.{{0,120}}?\({_N} (?:in the messages|of text input), {_N} "
         rf"(?:in the functions|of tool input)", (2, 3), 1),
        (rf"maximum context length is {_N} tokens?.{{0,120}}?\({_N} (?:in the messages|in your prompt|of text input)", (2,), 1),
        # "... However, your messages resulted in 9000 tokens."; vLLM "your prompt contains at least 134145 input
        # tokens", "your request has 3500 input tokens".
        (rf"maximum context length is {_N} tokens?.{{0,80}}?(?:messages resulted in|your request has|contains at least) {_N}", (2,), 1),
        (rf"maximum context length is {_N} tokens?.{{0,80}}?(?:you requested|requested about) {_N} tokens?(?! \()", (2,), 1),
        # SGLang: "Requested token count exceeds the model's maximum context length of 1000 tokens. You requested a
        # total of 1205 tokens: 5 tokens from the input messages and 1200 tokens for the completion."
        (rf"{_N} tokens from the input messages", (1,), None),
        # vLLM: "The decoder prompt (length 2048) plus the number of requested output tokens (at least 1) is longer
        # than the maximum model length of 2048."
        (rf"decoder prompt \(length {_N}\)", (1,), None),
        # SambaNova: "The maximum context length of DeepSeek-V3-0324 is 32768. However, answering your request will take
        # 39732 tokens." (the total includes the output budget: no prompt)
        (rf"maximum context length (?:is|of \S+ is) {_N}", (), 1),
        # Anthropic: "input length and `max_tokens` exceed context limit: 179413 + 32768 > 200000"; TabbyAPI "Request
        # length 71599 + 2048 is greater than max_seq_len 65536".
        (rf"{_N} \+ {_N} (?:>|is greater than \w+) {_N}", (1,), 3),
        # TGI / Together: "`inputs` tokens + `max_new_tokens` must be <= 8192. Given: 6204 `inputs` tokens" (also with
        # the backticks mistyped); "`inputs` must have less than 4096 tokens. Given: 4545".
        (rf"must be <= {_N}\. Given: {_N}\b", (2,), 1),
        (rf"must have less than {_N} tokens\. Given: {_N}", (2,), 1),
        (rf"max_new_tokens`?\s+must be\s*<=\s*{_N}", (), 1),
        # vLLM / NVIDIA NIM: "You passed 170753 input tokens and requested 32000 output tokens. However, the model's
        # context length is only 202752 tokens" (a count of input *characters* is not a prompt size).
        (rf"passed {_N} input tokens.{{0,120}}?context length is only {_N}", (1,), 2),
        (rf"context length (?:is|of) only {_N}", (), 1),
        # LM Studio: "Trying to keep the first 15857 tokens when context the overflows. However, the model is loaded
        # with context length of only 4096 tokens"; "(n_keep: 10136>= n_ctx: 7866)".
        (rf"keep the first {_N} tokens.{{0,120}}?context length of only {_N}", (1,), 2),
        (rf"n_keep: {_N}\s*>=?\s*n_ctx: {_N}", (1,), 2),
        # xAI: "This model's maximum prompt length is 131072 but the request contains 136973 tokens."
        (rf"maximum prompt length is {_N} but the request contains {_N} tokens", (2,), 1),
        # Azure: "Input tokens exceed the configured limit of 272000 tokens. Your messages resulted in 509178 tokens."
        (rf"configured limit of {_N} tokens.{{0,40}}?resulted in {_N}", (2,), 1),
        # Mistral: "Prompt contains 40046 tokens and 0 draft tokens, too large for model with 32768 maximum context length"
        (rf"Prompt contains {_N} tokens.{{0,60}}?model with {_N} maximum context", (1,), 2),
        # Moonshot: "Your request exceeded model token limit: 262144 (requested: 269030)"
        (rf"model token limit: {_N} \(requested: {_N}\)", (2,), 1),
        # Cerebras: "Current length is 42328 while limit is 40000"; Cohere "cannot exceed 4081 - received 4500"
        (rf"Current length is {_N} while limit is {_N}", (1,), 2),
        (rf"cannot exceed {_N} - received {_N}", (2,), 1),
        # vLLM: "The prompt (total length 25938) is too long to fit into the model (context length 4096)."
        (rf"total length {_N}\) is too long to fit into the model \(context length {_N}", (1,), 2),
        # Fireworks: "The prompt is too long: 40000, model maximum context length: 32768"
        (rf"prompt is too long: {_N}, model maximum context length: {_N}", (1,), 2),
        # Gemini / Vertex: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)";
        # GitHub Copilot "prompt token count of 265330 exceeds the limit of 262144".
        (rf"token count (?:of )?\(?{_N}\)? exceeds the (?:maximum number of tokens allowed|limit of) \(?{_N}", (1,), 2),
        (rf"token count exceeds the maximum number of tokens allowed \(?{_N}", (), 1),
        # Bedrock Titan: "Too many input tokens. Max input tokens: 8192, request input token count: 9000"
        (rf"max input tokens: {_N}, request input token count: {_N}", (2,), 1),
        # "Prompt has 213462 tokens, but the configured context size is 200000 tokens"
        (rf"Prompt has {_N} tokens, but the configured context size is {_N}", (1,), 2),
        # A count over a limit, in the shapes many servers share. Anthropic "prompt is too long: 210000 tokens >
        # 200000 maximum"; llama.cpp "request (3031 tokens) exceeds the available context size (2048 tokens)"; SGLang
        # "The input (131073 tokens) is longer than the model's context length (131072 tokens)".
        (rf"{_N}(?: input| prompt)? tokens?\)?\s*(?:>|exceeds?|exceeded|is (?:longer|greater|more) than|is too long)"
         rf"[^\d]{{0,80}}?{_N}", (1,), 2),
        # llama-cpp-python "Requested tokens (2285) exceed context window of 2048"; SiliconFlow "length of prompt_tokens
        # (57535) must be less than max_seq_len (32768)"; vLLM "The decoder prompt (length 163840) is longer than the
        # maximum model length of 131072"; DeepInfra "Requested input length 99009 exceeds maximum input length 8192";
        # SGLang "Input length (160062 tokens) exceeds the maximum allowed length (59862 tokens)".
        (rf"(?:\((?:length )?|length ){_N}(?: tokens)?\)?\s*(?:exceeds?|is (?:longer|greater) than|must be less than)"
         rf"[^\d]{{0,60}}?{_N}", (1,), 2),
        # DashScope: "Range of input length should be [1, 204800]"
        (rf"input (?:length|tokens?) (?:should|must) be (?:in |within )?\[\d+,\s*{_N}\]", (), 1),
        # The window named with its size: "max_model_len of 4096", "context window of 8192 tokens".
        (rf"(?:context (?:length|window|size)|max_model_len|max_seq_len|n_ctx|maximum (?:model|sequence) length)"
         rf"(?: is| of| =|:) \(?{_N}", (), 1),
    )
)


def token_numbers(text: str) -> tuple[int | None, int | None]:
    """(prompt_tokens, context_window) stated in an overflow message; either may be None.

        token_numbers("prompt is too long: 210000 tokens > 200000 maximum")  # (210000, 200000)
    """
    prompt: int | None = None
    window: int | None = None
    for pattern, prompt_groups, window_group in _TOKEN_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        if prompt is None and prompt_groups:
            prompt = sum(_number(match.group(g)) for g in prompt_groups)
        if window is None and window_group is not None:
            window = _number(match.group(window_group))
        if prompt is not None and window is not None:
            break
    return prompt, window


def _number(text: str) -> int:
    return int(text.replace(",", ""))
