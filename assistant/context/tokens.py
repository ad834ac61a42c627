"""How many tokens a prompt is, before sending it.

``estimate_tokens`` is sync, never touches the network and is cheap enough to run for every router
candidate: per-message counts are cached. The method depends on the model:

- OpenAI models: tiktoken's encoding when its file is already on disk (see ``assistant.context._encodings``);
  until it is loaded in the background, or without the file, the character estimate below.
- Everything else: a character estimate calibrated against SmolLM2's tokenizer (49k vocabulary, so
  bigger-vocabulary models come out lower), with a 10% safety margin. Plain letters count 1/4 token,
  symbols 0.8, digits 1, and each UTF-8 byte beyond the first of a character 0.7 (CJK, Cyrillic).
  Over 165 samples (prose, code, JSON, logs, CJK) it overestimates by 24% at the median and
  underestimates 5% of them by at most 22% (hex digests); ``scripts/bench_context.py`` re-measures it.

``count_tokens_exact`` asks a llama.cpp server to render and tokenize the prompt (exact, one request).

    n = estimate_tokens(messages, tools, model_id="openai/gpt-4o-mini")
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import orjson

from ..errors import UsageError
from ..messages import Message, ToolSpec
from ..providers.timeouts import Timeouts
from . import _encodings

__all__ = [
    "estimate_tokens",
    "estimate_text",
    "heuristic_text_tokens",
    "counting_method",
    "count_tokens_exact",
    "preload_encoding",
    "MESSAGE_OVERHEAD",
    "REPLY_OVERHEAD",
]

# Chat templates wrap every turn (SmolLM2: "<|im_start|>user\n" ... "<|im_end|>\n" is 5 tokens; OpenAI
# documents 3-4) and prime the reply ("<|im_start|>assistant\n").
MESSAGE_OVERHEAD = 5
REPLY_OVERHEAD = 4
TOOL_CALL_OVERHEAD = 8
TOOL_SPEC_OVERHEAD = 10

_LETTER = 0.25
_SYMBOL = 0.8
_DIGIT = 1.0
_EXTRA_BYTE = 0.7
_MARGIN = 1.10
_SYMBOLS = b"\"{}[]:,()=.;<>@/\\-_*#|'`!?+&%$~^"
_DIGITS = b"0123456789"

_CACHE_LIMIT = 8192
# (id(obj), method) -> (weak ref to obj, content object, tool_calls object, count). The entry leaves
# when obj is collected (so an id is never reused while cached, and no big text is kept alive); the
# content object comparison catches a message whose text was replaced in place.
_counts: dict[tuple[int, str], tuple[weakref.ref[Any], Any, Any, int]] = {}
_methods: dict[str | None, str] = {}


def heuristic_text_tokens(text: str) -> int:
    """The calibrated character estimate for one string (margin included)."""
    if not text:
        return 0
    n = len(text)
    # bytes.translate is a C table walk; multi-byte UTF-8 never contains an ASCII byte, so symbol and
    # digit counts are exact on the encoded text.
    data = text.encode("utf-8", "surrogatepass")
    no_symbols = data.translate(None, _SYMBOLS)
    symbols = len(data) - len(no_symbols)
    digits = len(no_symbols) - len(no_symbols.translate(None, _DIGITS))
    extra = len(data) - n
    letters = n - symbols - digits
    return int((letters * _LETTER + symbols * _SYMBOL + digits * _DIGIT + extra * _EXTRA_BYTE) * _MARGIN) + 1


def counting_method(model_id: str | None = None) -> str:
    """``"tiktoken:<encoding>"`` when that encoding is loaded for this model, else ``"heuristic"``.

        counting_method("openai/gpt-4o")   # "heuristic" until o200k_base is on disk and loaded
    """
    method = _methods.get(model_id)
    if method is not None:
        return method
    name = _encodings.encoding_for_model(model_id)
    if name is None:
        _methods[model_id] = "heuristic"
        return "heuristic"
    if _encodings.loaded(name) is not None:
        method = f"tiktoken:{name}"
    elif _encodings.settled(name):
        method = "heuristic"  # no usable file on disk
    else:
        return "heuristic"  # still loading in the background: ask again next time
    _methods[model_id] = method
    return method


def preload_encoding(model_id: str | None, timeout: float = 2.0) -> bool:
    """Wait up to ``timeout`` seconds for this model's tiktoken file to load; True when it is in use.

        preload_encoding("openai/gpt-4o", timeout=1.0)
    """
    name = _encodings.encoding_for_model(model_id)
    return name is not None and _encodings.wait_for(name, timeout) is not None


def estimate_text(text: str, *, model_id: str | None = None) -> int:
    """Tokens in one string for ``model_id`` (no chat-template overhead).

        estimate_text("hello world", model_id="groq/llama-3.3-70b-versatile")
    """
    return _text_counter(counting_method(model_id))(text)


def estimate_tokens(messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *, model_id: str | None = None) -> int:
    """Prompt tokens for ``messages`` plus ``tools`` on ``model_id``: content, per-message template
    overhead, tool calls and tool specs. Sync, no I/O; repeated messages cost a dict lookup.

        if estimate_tokens(msgs, tools, model_id=mid) + max_tokens > window: skip(mid)
    """
    method = counting_method(model_id)
    counts = _counts
    total = REPLY_OVERHEAD
    counter = None
    for message in messages:
        entry = counts.get((id(message), method))
        if entry is not None and entry[0]() is message and entry[1] is message.content and entry[2] is message.tool_calls:
            total += entry[3]
            continue
        counter = counter or _text_counter(method)
        n = _message_tokens(message, counter)
        _remember(message, message.content, message.tool_calls, method, n)
        total += n
    for spec in tools:
        entry = counts.get((id(spec), method))
        if entry is not None and entry[0]() is spec and entry[1] is spec.description and entry[2] is spec.parameters:
            total += entry[3]
            continue
        counter = counter or _text_counter(method)
        n = TOOL_SPEC_OVERHEAD + counter(spec.name) + counter(spec.description) + counter(_dumps(spec.parameters))
        _remember(spec, spec.description, spec.parameters, method, n)
        total += n
    return total


def _message_tokens(message: Message, counter: Any) -> int:
    n = MESSAGE_OVERHEAD + counter(message.content)
    if message.name:
        n += counter(message.name) + 1
    if message.tool_call_id:
        n += 2
    for call in message.tool_calls:
        n += TOOL_CALL_OVERHEAD + counter(call.name) + counter(_dumps(call.arguments))
    return n


def _remember(obj: Any, content: Any, extra: Any, method: str, n: int) -> None:
    if len(_counts) >= _CACHE_LIMIT:
        for key in list(_counts)[: _CACHE_LIMIT // 2]:
            _counts.pop(key, None)
    key = (id(obj), method)
    _counts[key] = (weakref.ref(obj, lambda _ref: _counts.pop(key, None)), content, extra, n)


def _text_counter(method: str) -> Any:
    if method.startswith("tiktoken:"):
        enc = _encodings.loaded(method[9:])
        if enc is not None:
            return lambda text: len(enc.encode_ordinary(text)) if text else 0
    return heuristic_text_tokens


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _reset() -> None:
    """Forget cached counts and methods (tests switch encodings on and off)."""
    _counts.clear()
    _methods.clear()
    _encodings._reset()


async def count_tokens_exact(client_or_url: Any, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> int:
    """Exact prompt tokens from a llama.cpp server: ``/apply-template`` renders the prompt with the
    model's own chat template, ``/tokenize`` counts it (what ``/v1/chat/completions`` would see).
    ``client_or_url`` is the server root URL, an ``HTTPClient`` (the ``llama`` provider's client is
    one) or anything with a ``base_url``. Raises ``LLMError`` when the server cannot answer.

        n = await count_tokens_exact("http://127.0.0.1:8080", messages)
    """
    from ..providers._http import HTTPClient

    if isinstance(client_or_url, HTTPClient):
        http, owned = client_or_url, False
    else:
        url = client_or_url if isinstance(client_or_url, str) else getattr(client_or_url, "base_url", None)
        if not url:
            raise UsageError(f"count_tokens_exact needs a llama.cpp server URL or client, got {client_or_url!r}")
        http, owned = HTTPClient("llama", _server_root(url), timeouts=Timeouts(connect=5.0, read=30.0, total=60.0)), True
    try:
        body: dict[str, Any] = {"messages": [_wire_message(m) for m in messages]}
        if tools:
            body["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in tools
            ]
        root = _server_root(http.base_url)
        rendered = await http.post_json(root + "/apply-template", body)
        tokenized = await http.post_json(root + "/tokenize", {"content": rendered.get("prompt", ""), "add_special": True})
        return len(tokenized.get("tokens") or [])
    finally:
        if owned:
            await http.aclose()


def _server_root(url: str) -> str:
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


def _wire_message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _dumps(c.arguments)}}
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if message.name:
        out["name"] = message.name
    return out
