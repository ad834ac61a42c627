"""Asking a local server which context window it really runs with.

A model's trained window says little about a local server: llama.cpp runs ``--ctx-size``, Ollama the
``num_ctx`` of the request, LM Studio the length the model was loaded with, vLLM ``--max-model-len``.
Each says so over loopback, cheaply:

- llama.cpp: ``GET /props`` -> ``default_generation_settings.n_ctx`` (older builds: top-level ``n_ctx``),
  else ``GET /v1/models`` -> ``data[].meta.n_ctx``;
- Ollama: ``POST /api/show`` -> ``model_info["<arch>.context_length"]``, capped at the ``num_ctx`` the
  engine sends (``OLLAMA_NUM_CTX_CAP``): without one Ollama cuts prompts silently;
- LM Studio: ``GET /api/v0/models`` -> ``loaded_context_length`` (the model as loaded), else
  ``max_context_length`` (lmstudio.ai/docs/developer/rest/endpoints);
- vLLM and other OpenAI-shape local servers: ``GET /v1/models`` -> ``max_model_len``.

A server that does not answer (down, an older build, a proxy) gives None: the window stays unknown.

    found = await probe_window(registry, "small/smollm2")    # (512, "small /props") or None
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import LLMError

__all__ = ["probe_window", "window_from", "OLLAMA_NUM_CTX_CAP", "PROBE_TTL", "PROBE_FAILURE_TTL", "PROBE_TIMEOUT"]

# Ollama sizes its KV cache (and so its memory) by num_ctx and reloads the model when it changes, so
# the engine sends one stable value: the model's window, capped here.
OLLAMA_NUM_CTX_CAP = 32768
# A server may be restarted with another window: its answer is asked again after a minute.
PROBE_TTL = 60.0
PROBE_FAILURE_TTL = 30.0
PROBE_TIMEOUT = 3.0

_ERRORS = (LLMError, OSError, ValueError, TypeError, AttributeError, asyncio.TimeoutError)


async def probe_window(registry: Any, model_id: str) -> tuple[int, str] | None:
    """``(window, where it was read)`` from ``model_id``'s own server when its provider is a local
    server (llama.cpp, Ollama, LM Studio, vLLM or a named provider over one); else None."""
    provider, _, model = model_id.partition("/")
    try:
        spec = registry.spec(provider)
        if not spec.local:
            return None
        client = registry.client(provider)
    except Exception:  # an unknown provider or a caller's double: nothing to ask
        return None
    get = getattr(client, "get_json", None)
    base = getattr(client, "base_url", None)
    if get is None or not isinstance(base, str):
        return None
    root = base.rstrip("/").removesuffix("/v1")
    kind = spec.wire_kind if spec.wire_kind in _ROUTES else spec.family
    for path, method in _ROUTES.get(kind, _ROUTES["openai"]):
        try:
            if method == "POST":
                answer = await asyncio.wait_for(client.post_json(root + path, {"model": model}, model=model), PROBE_TIMEOUT)
            else:
                answer = await asyncio.wait_for(get(root + path, timeout=PROBE_TIMEOUT), PROBE_TIMEOUT)
        except _ERRORS:
            continue
        window = window_from(kind, path, answer, model)
        if window:
            return window, f"{provider} {path}"
    return None


def window_from(kind: str, path: str, answer: Any, model: str) -> int | None:
    """The window in one server answer (see the module docstring), or None."""
    if not isinstance(answer, dict):
        return None
    if path == "/props":
        settings = answer.get("default_generation_settings") or {}
        return _positive(settings.get("n_ctx") if isinstance(settings, dict) else None) or _positive(answer.get("n_ctx"))
    if path == "/api/show":
        info = answer.get("model_info") or {}
        arch = info.get("general.architecture") if isinstance(info, dict) else None
        window = _positive(info.get(f"{arch}.context_length")) if arch else None
        return min(window, OLLAMA_NUM_CTX_CAP) if window else None
    item = _item(answer, model, any_single=kind == "llama")
    if item is None:
        return None
    if path == "/api/v0/models":
        return _positive(item.get("loaded_context_length")) or _positive(item.get("max_context_length"))
    meta = item.get("meta") or {}
    return (_positive(item.get("max_model_len")) or _positive(meta.get("n_ctx") if isinstance(meta, dict) else None)
            or _positive(item.get("context_length")))


_ROUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "llama": (("/props", "GET"), ("/v1/models", "GET")),
    "ollama": (("/api/show", "POST"),),
    "lmstudio": (("/api/v0/models", "GET"), ("/v1/models", "GET")),
    "openai": (("/v1/models", "GET"),),
}


def _item(answer: dict[str, Any], model: str, *, any_single: bool) -> dict[str, Any] | None:
    items = [i for i in answer.get("data") or [] if isinstance(i, dict)]
    for item in items:
        if model in (item.get("id"), item.get("model"), item.get("name")) or model in (item.get("aliases") or ()):
            return item
    # llama.cpp serves its one model under whatever name a request gives.
    return items[0] if any_single and len(items) == 1 else None


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
