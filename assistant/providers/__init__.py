"""Provider clients: one ``LLMClient`` per wire family, built from a ``ProviderSpec`` row.

    client = create_client("openrouter")          # key from OPENROUTER_API_KEY
    resp = await client.chat(ChatRequest(model="z-ai/glm-5", messages=[Message.user("hi")]))

Part: the wire clients, one module per wire format, plus the provider table (``specs``), the one HTTP
session and the translation of foreign exceptions (``_http``), and request timeouts (``timeouts``). They only
map; no retry, fallback or sleep. May import: messages, errors, files.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import UsageError
from .base import LLMClient
from .specs import ALIASES, PROVIDERS, ProviderSpec, declare, env_name, get_spec, provider_names
from .timeouts import Timeouts

__all__ = ["LLMClient", "create_client", "ProviderSpec", "get_spec", "provider_names", "PROVIDERS", "ALIASES", "declare"]


def create_client(
    provider: str | ProviderSpec,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    **options: Any,
) -> LLMClient:
    """A client for ``provider`` (a name, alias, declared name or a spec). Explicit arguments win over
    ``<NAME>_API_KEY`` / ``<NAME>_BASE_URL``. Options: ``timeouts``, ``max_concurrency``, ``headers``.

        client = create_client("llama", base_url="http://127.0.0.1:8080")
    """
    spec = provider if isinstance(provider, ProviderSpec) else get_spec(provider)
    if isinstance(provider, str) and provider.lower() != spec.name and base_url is None:
        base_url = os.environ.get(env_name(provider, "BASE_URL")) or None
    key = spec.api_key(api_key)
    if spec.auth == "aws":
        from .bedrock_auth import check_credentials, fill_region

        if not key:
            check_credentials()
        spec = fill_region(spec)
    elif spec.key_required and not key:
        names = ", ".join(spec.key_names())
        raise UsageError(f"provider {spec.name!r} needs an API key: set {names} or pass api_key=")
    url = spec.resolve_base_url(base_url)
    timeouts = options.pop("timeouts", None) or Timeouts(
        connect=spec.connect_timeout, read=spec.read_timeout, total=spec.total_timeout
    )
    unknown = set(options) - {"max_concurrency", "headers"}
    if unknown:
        raise UsageError(f"create_client got unknown options {sorted(unknown)}; use timeouts=, max_concurrency=, headers=")
    kwargs = dict(
        api_key=key,
        base_url=url,
        timeouts=timeouts,
        max_concurrency=options.get("max_concurrency", spec.max_concurrency),
        headers=options.get("headers"),
    )
    if spec.family == "openai":
        from .openai_compat import OpenAICompatClient

        return OpenAICompatClient(spec, **kwargs)
    if spec.family == "anthropic":
        from .anthropic import AnthropicClient

        return AnthropicClient(spec, **kwargs)
    if spec.family == "gemini":
        from .gemini import GeminiClient

        return GeminiClient(spec, **kwargs)
    if spec.family == "ollama":
        from .ollama import OllamaClient

        return OllamaClient(spec, **kwargs)
    if spec.family == "bedrock":
        from .bedrock import BedrockClient

        return BedrockClient(spec, **kwargs)
    if spec.family == "cohere":
        from .cohere import CohereClient

        return CohereClient(spec, **kwargs)
    raise UsageError(f"provider {spec.name!r} has unknown wire family {spec.family!r}")  # pragma: no cover
