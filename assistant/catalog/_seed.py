"""The catalog's static seed: facts about well-known models, so the first lookup answers instantly.

One row per model: ``(id, context_window, max_output_tokens, tools, vision, input $/1M, output $/1M,
free)``. ``None`` means unknown. ``free`` is true when the model can be used at no cost (a ``:free``
variant, a free tier reachable with a free key, or a local model); ``pricing`` stays the paid price,
stored like OpenRouter's ``/models`` answer (``{"prompt": ..., "completion": ...}`` in USD per token).
Every group says where its facts were read (November 2026); a live refresh overrides them.
"""

from __future__ import annotations

from typing import TypeAlias

from ..messages import ModelInfo

__all__ = ["SEED_SOURCES", "seed_models"]

Row: TypeAlias = tuple[str, int | None, int | None, bool | None, bool | None, float | None, float | None, bool | None]

_M = 1_048_576  # Gemini's and DeepSeek V4's "1M" windows

SEED_SOURCES: dict[str, tuple[str, list[Row]]] = {
    "openai": ("platform.openai.com/docs/models", [
        ("gpt-4o", 128_000, 16_384, True, True, 2.50, 10.00, False),
        ("gpt-4o-mini", 128_000, 16_384, True, True, 0.15, 0.60, False),
        ("gpt-4.1", 1_047_576, 32_768, True, True, 2.00, 8.00, False),
        ("gpt-4.1-mini", 1_047_576, 32_768, True, True, 0.40, 1.60, False),
        ("gpt-4.1-nano", 1_047_576, 32_768, True, True, 0.10, 0.40, False),
        ("gpt-5", 400_000, 128_000, True, True, 1.25, 10.00, False),
        ("gpt-5-mini", 400_000, 128_000, True, True, 0.25, 2.00, False),
        ("gpt-5-nano", 400_000, 128_000, True, True, 0.05, 0.40, False),
        ("o4-mini", 200_000, 100_000, True, True, 1.10, 4.40, False),
    ]),
    "anthropic": ("docs.anthropic.com/en/docs/about-claude/models/overview", [
        ("claude-sonnet-4-5", 200_000, 64_000, True, True, 3.00, 15.00, False),
        ("claude-haiku-4-5", 200_000, 64_000, True, True, 1.00, 5.00, False),
        ("claude-opus-4-1", 200_000, 32_000, True, True, 15.00, 75.00, False),
    ]),
    "google": ("ai.google.dev/gemini-api/docs/models and /pricing (free tier: Flash, Flash-Lite)", [
        ("gemini-2.5-pro", _M, 65_536, True, True, 1.25, 10.00, False),
        ("gemini-2.5-flash", _M, 65_536, True, True, 0.30, 2.50, True),
        ("gemini-2.5-flash-lite", _M, 65_536, True, True, 0.10, 0.40, True),
        ("gemini-3.1-flash-lite", _M, 65_536, True, True, 0.25, 1.50, True),
        ("gemini-3.5-flash", _M, 65_536, True, True, 1.50, 9.00, False),
    ]),
    "groq": ("console.groq.com/docs/models (free plan, rate-limited)", [
        ("openai/gpt-oss-120b", 131_072, 65_536, True, False, 0.15, 0.60, True),
        ("openai/gpt-oss-20b", 131_072, 65_536, True, False, 0.075, 0.30, True),
        ("llama-3.3-70b-versatile", 131_072, 32_768, True, False, 0.59, 0.79, True),
        ("llama-3.1-8b-instant", 131_072, 131_072, True, False, 0.05, 0.08, True),
        ("qwen/qwen3-32b", 131_072, 40_960, True, False, 0.29, 0.59, True),
        ("moonshotai/kimi-k2-instruct-0905", 262_144, 16_384, True, False, 1.00, 3.00, True),
        ("meta-llama/llama-4-scout-17b-16e-instruct", 131_072, 8_192, True, True, 0.11, 0.34, True),
    ]),
    "cerebras": ("inference-docs.cerebras.ai/models/overview (free tier window 65K; 131K paid)", [
        ("gpt-oss-120b", 65_536, None, True, False, None, None, True),
    ]),
    "openrouter": ("openrouter.ai/models :free variants (via models.dev)", [
        ("qwen/qwen3-coder:free", 262_000, 262_000, True, False, 0.0, 0.0, True),
        ("z-ai/glm-4.5-air:free", 131_072, 96_000, True, False, 0.0, 0.0, True),
        ("openai/gpt-oss-120b:free", 131_072, 4_096, True, False, 0.0, 0.0, True),
        ("openai/gpt-oss-20b:free", 131_072, 128_000, True, False, 0.0, 0.0, True),
        ("nvidia/nemotron-3-super-120b-a12b:free", 262_144, 235_929, True, False, 0.0, 0.0, True),
        ("deepseek/deepseek-v4-flash:free", _M, 384_000, True, False, 0.0, 0.0, True),
        ("meta-llama/llama-3.3-70b-instruct:free", 65_536, None, True, False, 0.0, 0.0, True),
    ]),
    "nvidia": ("docs.api.nvidia.com/nim (build.nvidia.com free developer access, via models.dev)", [
        ("nvidia/nemotron-3-super-120b-a12b", 262_144, None, True, False, None, None, True),
        ("qwen/qwen3.5-397b-a17b", 262_144, 81_920, True, True, 0.0, 0.0, True),
        ("deepseek-ai/deepseek-v4-flash", _M, 393_216, True, False, None, None, True),
    ]),
    "ollama": ("ollama.com/library model pages (context, capabilities)", [
        ("qwen3:8b", 40_960, None, True, False, 0.0, 0.0, True),
        ("llama3.2:3b", 131_072, None, True, False, 0.0, 0.0, True),
        ("qwen2.5:7b", 32_768, None, True, False, 0.0, 0.0, True),
        ("gemma3:4b", 131_072, None, False, True, 0.0, 0.0, True),
    ]),
    # assistant.local starts it at DEFAULT_CTX 8192; the running server's own n_ctx (/props) wins.
    "llama": ("embedded llama.cpp server: SmolLM2-135M-Instruct at --ctx-size 8192 (n_ctx_train 8192)", [
        ("smollm2", 8_192, None, False, False, 0.0, 0.0, True),
    ]),
}


# Who reads PDFs natively: Claude (docs.anthropic.com/en/docs/build-with-claude/pdf-support), Gemini
# (ai.google.dev/gemini-api/docs/document-processing), OpenAI's vision models
# (platform.openai.com/docs/guides/pdf-files), and OpenRouter for every model (it parses the PDF for a
# model without file input: openrouter.ai/docs/features/multimodal/pdfs).
_PDF_PROVIDERS = frozenset({"anthropic", "google", "openrouter"})


def seed_models() -> list[ModelInfo]:
    """Every seed row as a ``ModelInfo`` with ``source="seed: <where>"`` and ``fetched_at=0``."""
    models = []
    for provider, (where, rows) in SEED_SOURCES.items():
        for model, window, max_out, tools, vision, price_in, price_out, free in rows:
            pdf = True if provider in _PDF_PROVIDERS or (provider == "openai" and vision) else None
            pricing = None
            if price_in is not None and price_out is not None:
                pricing = {"prompt": price_in / 1e6, "completion": price_out / 1e6}
            models.append(ModelInfo(
                id=model, provider=provider, context_window=window, max_output_tokens=max_out,
                supports_tools=tools, supports_vision=vision, supports_pdf=pdf, free=free, pricing=pricing,
                source=f"seed: {where}", fetched_at=0.0,
            ))
    return models
