"""Every known provider as a row: wire family, default URL, key variable and declared quirks.

Quirks are capability flags, never ``if provider == ...`` in code. A user's ``[providers.lab]`` table
becomes the same row through ``ProviderSpec.derive``.
"""

from __future__ import annotations

import os
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from ..errors import UsageError, declare_family

__all__ = ["ProviderSpec", "PROVIDERS", "ALIASES", "get_spec", "provider_names", "env_name"]

Family = Literal["openai", "anthropic", "gemini", "ollama"]
ReasoningStyle = Literal["none", "openai", "openrouter", "groq", "llama", "deepseek", "zai"]


class ProviderSpec(BaseModel):
    """One provider. ``base_url`` is what the vendor's SDK takes (OpenAI shape: ends in its API prefix)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    name: str
    family: Family
    base_url: str
    # Path appended when a user gives a bare server root for an OpenAI-shape provider.
    api_prefix: str = "/v1"
    key_env: tuple[str, ...] = ()
    key_required: bool = True
    local: bool = False
    max_concurrency: int | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    total_timeout: float | None = 600.0
    # OpenAI-shape quirks.
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
    kind: str = ""

    def derive(self, name: str, **changes: object) -> ProviderSpec:
        """A named provider over this kind (``[providers.big] kind = "llama"``)."""
        return self.model_copy(update={"name": name, "kind": self.kind or self.name, **changes})

    @property
    def wire_kind(self) -> str:
        return self.kind or self.name

    def api_key(self, explicit: str | None = None) -> str | None:
        if explicit:
            return explicit
        for var in (env_name(self.name, "API_KEY"), *self.key_env):
            value = os.environ.get(var)
            if value:
                return value.strip()
        return None

    def resolve_base_url(self, explicit: str | None = None) -> str:
        """Explicit argument, then ``<NAME>_BASE_URL``, then the default; trailing slash and a
        redundant ``/v1`` on root-taking servers are tolerated."""
        url = explicit or os.environ.get(env_name(self.name, "BASE_URL")) or self.base_url
        url = url.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"base URL {url!r} for provider {self.name!r} is not an http(s) URL; "
                f"set {env_name(self.name, 'BASE_URL')} like {self.base_url!r}"
            )
        if self.family == "openai":
            if parts.path in ("", "/") and self.api_prefix:
                url += self.api_prefix
        elif url.endswith("/v1") or url.endswith("/v1beta"):
            url = url.rsplit("/", 1)[0]
        if self.family == "openai" and self.api_prefix == "" and url.endswith("/v1"):
            url = url[:-3]
        return url


def env_name(provider: str, suffix: str) -> str:
    return provider.upper().replace("-", "_").replace(".", "_") + "_" + suffix


_OPENAI = dict(family="openai")
_LOCAL = dict(key_required=False, local=True, max_concurrency=1, read_timeout=600.0, total_timeout=None, connect_timeout=3.0)

PROVIDERS: dict[str, ProviderSpec] = {
    s.name: s
    for s in [
        ProviderSpec(name="openai", base_url="https://api.openai.com/v1", max_tokens_field="max_completion_tokens",
                     reasoning_style="openai", **_OPENAI),
        ProviderSpec(name="openrouter", base_url="https://openrouter.ai/api/v1", reasoning_style="openrouter",
                     jitter=(0.1, 0.4), free_suffix=":free", models_path="/models",
                     extra_headers=(("X-Title", "assistant"),), **_OPENAI),
        ProviderSpec(name="groq", base_url="https://api.groq.com/openai/v1", reasoning_style="groq", **_OPENAI),
        ProviderSpec(name="mistral", base_url="https://api.mistral.ai/v1", supports_tool_choice_required=True,
                     supports_stream_usage=False, **_OPENAI),
        ProviderSpec(name="deepseek", base_url="https://api.deepseek.com/v1", reasoning_style="deepseek",
                     echo_reasoning=True, supports_json_schema=False, **_OPENAI),
        ProviderSpec(name="grok", base_url="https://api.x.ai/v1", key_env=("XAI_API_KEY",), reasoning_style="openai", **_OPENAI),
        ProviderSpec(name="kimi", base_url="https://api.moonshot.ai/v1", key_env=("MOONSHOT_API_KEY",),
                     supports_tool_choice_required=False, **_OPENAI),
        ProviderSpec(name="nvidia", base_url="https://integrate.api.nvidia.com/v1", key_env=("NVIDIA_NIM_API_KEY",), **_OPENAI),
        ProviderSpec(name="inception", base_url="https://api.inceptionlabs.ai/v1", **_OPENAI),
        ProviderSpec(name="zai", base_url="https://api.z.ai/api/paas/v4", api_prefix="/api/paas/v4",
                     key_env=("ZHIPUAI_API_KEY", "Z_AI_API_KEY"), reasoning_style="zai",
                     supports_tool_choice_required=False, **_OPENAI),
        ProviderSpec(name="together", base_url="https://api.together.xyz/v1", key_env=("TOGETHER_AI_API_KEY",), **_OPENAI),
        ProviderSpec(name="fireworks", base_url="https://api.fireworks.ai/inference/v1", **_OPENAI),
        ProviderSpec(name="cerebras", base_url="https://api.cerebras.ai/v1", supports_tool_choice_required=True, **_OPENAI),
        ProviderSpec(name="vllm", base_url="http://127.0.0.1:8000/v1", **{**_LOCAL, "max_concurrency": 8}, **_OPENAI),
        ProviderSpec(name="lmstudio", base_url="http://127.0.0.1:1234/v1", **_LOCAL, **_OPENAI),
        # llama.cpp's server takes its root; the OpenAI routes live under /v1.
        ProviderSpec(name="llama", base_url="http://127.0.0.1:8080", api_prefix="", reasoning_style="llama",
                     **_LOCAL, **_OPENAI),
        ProviderSpec(name="anthropic", family="anthropic", base_url="https://api.anthropic.com", reasoning_style="none"),
        ProviderSpec(name="google", family="gemini", base_url="https://generativelanguage.googleapis.com",
                     key_env=("GEMINI_API_KEY", "GOOGLE_GENERATIVE_AI_API_KEY")),
        ProviderSpec(name="ollama", family="ollama", base_url="http://127.0.0.1:11434", **_LOCAL),
    ]
}

ALIASES: dict[str, str] = {"gemini": "google", "xai": "grok", "moonshot": "kimi", "llamacpp": "llama", "llama.cpp": "llama"}

# Declared by the user at run time (registry.add_provider / [providers.x] tables).
_declared: dict[str, ProviderSpec] = {}


def declare(spec: ProviderSpec) -> None:
    """Make a named provider known process-wide (so free-models ids and create_client accept it)."""
    _declared[spec.name] = spec
    declare_family(spec.name, spec.family)


for _name, _spec in PROVIDERS.items():
    declare_family(_name, _spec.family)
for _alias, _name in ALIASES.items():
    declare_family(_alias, PROVIDERS[_name].family)


def provider_names() -> list[str]:
    return sorted({*PROVIDERS, *ALIASES, *_declared})


def get_spec(name: str) -> ProviderSpec:
    """The row for a provider name or alias; a clear error listing the known names otherwise."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key in _declared:
        return _declared[key]
    if key in PROVIDERS:
        spec = PROVIDERS[key]
        if name.lower() != key and name.lower() in ALIASES:
            # The alias reads its own env names too (GEMINI_API_KEY, XAI_BASE_URL).
            return spec.model_copy(update={"key_env": (*spec.key_env, env_name(name, "API_KEY"))})
        return spec
    raise UsageError(
        f"unknown provider {name!r}. Known providers: {', '.join(provider_names())}. "
        "Declare your own with registry.add_provider(name, kind=..., base_url=...) or a [providers.NAME] table."
    )
