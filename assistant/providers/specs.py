"""Every known provider as a row, and how a name a user types finds its row.

A name resolves, first match wins: a provider declared at run time, a built-in row (``_rows``), an exact
alias (``claude``, ``lm-studio``, ``aws-bedrock``), an alias family (a family stem plus region or login
suffixes: ``kimi-cn``, ``minimax-oauth-cn``, ``dashscope-us``), or a URL provider: ``custom:<url>``
(OpenAI shape) and ``anthropic-custom:<url>`` (Anthropic shape), as zeroclaw names them.

    get_spec("minimax-portal-cn").base_url   # "https://api.minimaxi.com/v1"
    get_spec("custom:https://llm.lan/v1").family   # "openai"
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..errors import UsageError, declare_family
from ._rows import ALIASES, ROWS
from ._spec import ProviderSpec, env_name

__all__ = [
    "ProviderSpec", "PROVIDERS", "ALIASES", "CUSTOM_PREFIXES", "get_spec", "provider_names", "env_name",
    "normalize_name", "nearest", "declare", "is_url_provider",
]

PROVIDERS: dict[str, ProviderSpec] = {s.name: s for s in ROWS}

# zeroclaw's URL providers: "custom:<url>" speaks OpenAI chat, "anthropic-custom:<url>" the Messages API.
CUSTOM_PREFIXES: dict[str, str] = {"custom:": "openai", "anthropic-custom:": "anthropic"}

# Alias families: stem -> (row, {region suffix: row}). zeroclaw lists every spelling exactly
# (provider_aliases.rs); matching the stem plus known suffixes accepts the same spellings and the
# combinations people write from them ("kimi-cn", "minimax-oauth-cn", "dashscope-us").
_FAMILIES: dict[str, tuple[str, dict[str, str]]] = {
    "kimi": ("kimi", {"cn": "kimi-cn", "china": "kimi-cn"}),
    "moonshot": ("kimi", {"cn": "kimi-cn", "china": "kimi-cn"}),
    "glm": ("zai", {"cn": "bigmodel", "china": "bigmodel"}),
    "zhipu": ("zai", {"cn": "bigmodel", "china": "bigmodel"}),
    "zhipuai": ("bigmodel", {}),
    "bigmodel": ("bigmodel", {}),
    "zai": ("zai", {"cn": "zai-coding-cn", "china": "zai-coding-cn"}),
    "z.ai": ("zai", {"cn": "zai-coding-cn", "china": "zai-coding-cn"}),
    "minimax": ("minimax", {"cn": "minimax-cn", "china": "minimax-cn"}),
    "minimaxi": ("minimax-cn", {}),
    "qwen": ("qwen", {"cn": "qwen-cn", "china": "qwen-cn", "us": "qwen-us"}),
    "dashscope": ("qwen", {"cn": "qwen-cn", "china": "qwen-cn", "us": "qwen-us"}),
    "qianfan": ("qianfan", {}),
    "baidu": ("qianfan", {}),
    "doubao": ("ark", {}),
    "volcengine": ("ark", {}),
    "ark": ("ark", {}),
}
_NEUTRAL_SUFFIXES = frozenset({"intl", "international", "global", "io", "oauth", "portal", "api"})
_SPLIT = re.compile(r"[-_]")

# Declared by the user at run time (registry.add_provider / [providers.x] tables).
_declared: dict[str, ProviderSpec] = {}


def declared_count() -> int:
    """How many names ``declare`` has made known: it only grows, so memos of name lookups key on it."""
    return len(_declared)


def declare(spec: ProviderSpec) -> None:
    """Make a named provider known process-wide (so free-models ids and create_client accept it)."""
    _declared[spec.name] = spec
    declare_family(spec.name, _error_family(spec.family))


def _error_family(family: str):  # type: ignore[no-untyped-def]
    # Bedrock and Cohere errors are read by the shared code/header rules (x-amzn-errortype, status).
    return family if family in ("openai", "anthropic", "gemini", "ollama") else "openai"


for _name, _spec in PROVIDERS.items():
    declare_family(_name, _error_family(_spec.family))
for _alias, _name in ALIASES.items():
    declare_family(_alias, _error_family(PROVIDERS[_name].family))


def provider_names() -> list[str]:
    return sorted({*PROVIDERS, *ALIASES, *_declared})


def normalize_name(name: str) -> str:
    """The lookup form of a provider name: lower case, except the path of a ``custom:`` URL."""
    name = name.strip()
    for prefix in CUSTOM_PREFIXES:
        if name.lower().startswith(prefix):
            parts = urlsplit(name[len(prefix):].strip())
            path = parts.path.rstrip("/")
            return f"{prefix}{parts.scheme.lower()}://{parts.netloc.lower()}{path}"
    return name.lower()


def is_url_provider(name: str) -> bool:
    """True for ``custom:<url>`` / ``anthropic-custom:<url>`` names (resolved from the name itself, so
    never declared process-wide)."""
    return name.strip().lower().startswith(tuple(CUSTOM_PREFIXES))


def get_spec(name: str) -> ProviderSpec:
    """The row for a provider name, alias, family spelling or ``custom:`` URL; a clear error naming the
    nearest known name otherwise."""
    key = normalize_name(name)
    if key in _declared:
        return _declared[key]
    canonical = ALIASES.get(key) or (key if key in PROVIDERS else None) or _family_row(key)
    if canonical is not None:
        spec = PROVIDERS[canonical]
        if key != canonical:
            # The spelling reads its own env names too (GEMINI_API_KEY, XAI_API_KEY).
            return spec.model_copy(update={"key_env": (*spec.key_env, env_name(key, "API_KEY"))})
        return spec
    custom = _custom_spec(key)
    if custom is not None:
        return custom
    hint = nearest(key, provider_names())
    raise UsageError(
        f"unknown provider {name!r}{f' (did you mean {hint!r}?)' if hint else ''}. "
        f"Known providers: {', '.join(n for n in provider_names() if n in PROVIDERS or n in _declared)}; "
        "or use custom:https://host/v1 (OpenAI shape) / anthropic-custom:https://host, or declare your own "
        "with registry.add_provider(name, kind=..., base_url=...) or a [providers.NAME] table."
    )


def nearest(word: str, known: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The closest known spelling to a mistyped one (for "did you mean" in errors)."""
    import difflib  # by the first mistake, not at import (cold start)

    found = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return found[0] if found else None


def _family_row(key: str) -> str | None:
    for stem, (row, regions) in _FAMILIES.items():
        if key != stem and not (key.startswith(stem) and key[len(stem)] in "-_"):
            continue
        suffixes = [s for s in _SPLIT.split(key[len(stem):]) if s]
        chosen = row
        for suffix in suffixes:
            if suffix in regions:
                chosen = regions[suffix]
            elif suffix not in _NEUTRAL_SUFFIXES:
                return None
        return chosen
    return None


def _custom_spec(key: str) -> ProviderSpec | None:
    for prefix, family in CUSTOM_PREFIXES.items():
        if not key.startswith(prefix):
            continue
        url = key[len(prefix):]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"provider {key!r}: {prefix} needs an http(s) URL, e.g. {prefix}https://llm.example.com/v1")
        local = (parts.hostname or "") in ("127.0.0.1", "localhost", "::1")
        return ProviderSpec(
            name=key, family=family, base_url=url, kind=family if family == "openai" else "anthropic",  # type: ignore[arg-type]
            # A custom endpoint never gets a vendor's key: only its own or CUSTOM_API_KEY.
            key_env=("CUSTOM_API_KEY",) if family == "openai" else ("ANTHROPIC_CUSTOM_API_KEY",),
            key_required=False, local=local, read_timeout=600.0 if local else 300.0, total_timeout=2700.0,
            supports_tool_choice_required=family == "anthropic",
        )
    return None
