"""The provider row: ``ProviderSpec``, one frozen record per provider, and the env names it reads.

Quirks are capability flags, never ``if provider == ...`` in code. A user's ``[providers.lab]`` table
becomes the same row through ``ProviderSpec.derive``.
"""

from __future__ import annotations

import os
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from ..errors import UsageError

__all__ = ["ProviderSpec", "Family", "ReasoningStyle", "env_name"]

Family = Literal["openai", "anthropic", "gemini", "ollama", "bedrock", "cohere"]
# How an OpenAI-shape provider takes a reasoning level (see providers.reasoning for each mapping).
ReasoningStyle = Literal[
    "none", "openai", "openrouter", "groq", "llama", "deepseek", "zai", "qwen", "minimax", "ark", "venice", "perplexity"
]
_PLACEHOLDER = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")


class ProviderSpec(BaseModel):
    """One provider. ``base_url`` is what the vendor's SDK takes (OpenAI shape: ends in its API prefix).

    ``{VAR}`` in ``base_url`` is filled from the environment (Cloudflare's ``{CLOUDFLARE_ACCOUNT_ID}``).
    """

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    name: str
    family: Family
    base_url: str
    # Path appended when a user gives a bare server root for an OpenAI-shape provider.
    api_prefix: str = "/v1"
    key_env: tuple[str, ...] = ()
    key_required: bool = True
    # "aws": credentials come from the AWS chain (env, ~/.aws files) unless a bearer key is set.
    auth: Literal["key", "aws"] = "key"
    local: bool = False
    max_concurrency: int | None = None
    connect_timeout: float = 10.0
    # The longest gap between two chunks (and, without streaming, the wait for the answer).
    read_timeout: float = 120.0
    total_timeout: float | None = 600.0
    # Wire quirks.
    supports_tools: bool = True
    supports_tool_choice: bool = True
    supports_tool_choice_required: bool = True
    supports_stream_usage: bool = True
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    reasoning_style: ReasoningStyle = "none"
    # llama-cpp-python and some servers reject null content on assistant tool-call turns.
    empty_content_with_tool_calls: bool = True
    # Send reasoning back on assistant turns (DeepSeek thinking mode requires it with tool calls).
    echo_reasoning: bool = False
    supports_json_schema: bool = True
    models_path: str = "/models"
    extra_headers: tuple[tuple[str, str], ...] = ()
    # Request jitter (seconds) the router adds before each call (OpenRouter asks for spreading).
    jitter: tuple[float, float] = (0.0, 0.0)
    free_suffix: str | None = None
    # The model a bare provider name means ("default_provider = 'groq'" with no model).
    default_model: str | None = None
    # Model-name prefixes that get prompt-cache breakpoints (``_cache_control``); "" is every model.
    # A user turns them off with `cache_breakpoints = []` in [providers.NAME].
    cache_breakpoints: tuple[str, ...] = ()
    # OpenRouter's usage accounting: {"usage": {"include": true}} returns usage.cost and cache tokens.
    usage_accounting: bool = False
    kind: str = ""

    def derive(self, name: str, **changes: object) -> ProviderSpec:
        """A named provider over this kind (``[providers.big] kind = "llama"``)."""
        return self.model_copy(update={"name": name, "kind": self.kind or self.name, **changes})

    @property
    def wire_kind(self) -> str:
        return self.kind or self.name

    def key_names(self) -> tuple[str, ...]:
        """Environment variables read for the key, in order."""
        return (env_name(self.name, "API_KEY"), *self.key_env)

    def api_key(self, explicit: str | None = None) -> str | None:
        if explicit:
            return explicit
        for var in self.key_names():
            value = os.environ.get(var)
            if value and value.strip():
                return value.strip()
        return None

    def resolve_base_url(self, explicit: str | None = None) -> str:
        """Explicit argument, then ``<NAME>_BASE_URL``, then the default; trailing slash and a
        redundant ``/v1`` on root-taking servers are tolerated."""
        url = explicit or os.environ.get(env_name(self.name, "BASE_URL")) or self.base_url
        url = _fill(url.strip().rstrip("/"), self.name)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"base URL {url!r} for provider {self.name!r} is not an http(s) URL; "
                f"set {env_name(self.name, 'BASE_URL')} like {self.base_url!r}"
            )
        if self.family == "openai":
            if parts.path in ("", "/") and self.api_prefix:
                url += _fill(self.api_prefix, self.name)
        elif url.endswith("/v1") or url.endswith("/v1beta") or (self.family == "cohere" and url.endswith("/v2")):
            url = url.rsplit("/", 1)[0]
        if self.family == "openai" and self.api_prefix == "" and url.endswith("/v1"):
            url = url[:-3]
        return url.rstrip("/")


def _fill(url: str, provider: str) -> str:
    def value(m: re.Match[str]) -> str:
        found = os.environ.get(m.group(1), "").strip()
        if not found:
            raise UsageError(
                f"provider {provider!r} needs {m.group(1)} for its URL ({url}); set it, "
                f"or set {env_name(provider, 'BASE_URL')} to the full URL"
            )
        return found

    return _PLACEHOLDER.sub(value, url)


def env_name(provider: str, suffix: str) -> str:
    """``env_name("kimi-code", "API_KEY")`` -> ``"KIMI_CODE_API_KEY"``."""
    return re.sub(r"[^A-Z0-9]+", "_", provider.upper()).strip("_") + "_" + suffix
