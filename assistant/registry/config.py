"""The config file: read, checked against the known shape, and handed to whoever applies each part.

Shape (``ASSISTANT_CONFIG`` or ``config.toml`` in the config dir; ``${VAR}`` / ``${VAR:-default}``
interpolation). zeroclaw's top level, ``[reliability]`` and ``[[model_routes]]`` are read as-is::

    default_provider = "openai"            # a provider name, alias, custom:<url> or anthropic-custom:<url>
    default_model = "gpt-4o"               # the default role; a bare default_provider means its default model
    default_temperature = 0.7
    api_key = "${OPENAI_KEY}"              # the default provider's key (first in rotation)
    api_url = "http://10.0.0.5:11434"      # the default provider's base URL

    [reliability]
    provider_retries = 2                   # retries of one candidate on transient errors
    provider_backoff_ms = 500              # first backoff step
    fallback_providers = ["anthropic", "groq"]
    fallback_api_keys = { groq = "${GROQ_KEY}" }
    api_keys = ["${OPENAI_KEY_2}"]         # more keys for the default provider (rotated on 429)
    circuit_breaker_threshold = 5
    circuit_breaker_cooldown_ms = 60000
    [reliability.model_fallbacks]
    "gpt-4o" = ["gpt-4-turbo"]             # whenever gpt-4o is asked for, these follow it

    [[model_routes]]                       # model "hint:fast" -> groq/llama-3.3-70b-versatile
    hint = "fast"
    provider = "groq"
    model = "llama-3.3-70b-versatile"

    [providers.NAME]                       # per-provider settings (see the registry)
    [models]                               # model roles (see free_models.roles)
    [state]                                # url = "redis://host:6379/0" for a fleet (see router.shared)
    [mcp.servers.NAME]                     # MCP tool servers (see agent.mcp)

An unknown table or key is a ``UsageError`` naming it and the nearest known spelling.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import UsageError
from ..providers import ProviderSpec
from ..providers.specs import nearest

__all__ = ["ConfigFile", "Reliability", "ModelRoute", "ProviderSettings", "load_config", "parse_config", "TOP_LEVEL",
           "interpolate"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ProviderSettings(BaseModel):
    """One provider as the registry knows it: its spec row, an explicit base URL, client-side limits."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    spec: ProviderSpec
    base_url: str | None = None
    rpm: int | None = None
    rpd: int | None = None
    # OpenRouter: at least 10 credits ever purchased lifts the :free daily limit from 50 to 1000.
    credits: bool = False
    disabled: bool = False


class Reliability(BaseModel):
    """zeroclaw's ``[reliability]``: retries, backoff, fallback providers, extra keys, model fallbacks."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    provider_retries: int = Field(2, ge=0, le=20)
    provider_backoff_ms: int = Field(500, ge=0)
    fallback_providers: list[str] = Field(default_factory=list)
    fallback_api_keys: dict[str, str] = Field(default_factory=dict)
    api_keys: list[str] = Field(default_factory=list)
    model_fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    circuit_breaker_threshold: int | None = Field(None, ge=0)
    circuit_breaker_cooldown_ms: int | None = Field(None, ge=0)

    def __repr__(self) -> str:  # keys never in a repr
        return f"Reliability(provider_retries={self.provider_retries}, fallback_providers={self.fallback_providers!r})"


class ModelRoute(BaseModel):
    """One ``[[model_routes]]`` entry: model id ``hint:<hint>`` means ``provider/model`` (own key optional)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    hint: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    api_key: str | None = Field(None, repr=False)


class StateTable(BaseModel):
    """``[state]``: where a fleet keeps routing state and chat histories (``url = "redis://..."``)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    url: str | None = None


class ConfigFile(BaseModel):
    """The whole file, checked. ``path`` is where it came from (None: no file)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    default_provider: str | None = None
    default_model: str | None = None
    default_temperature: float | None = Field(None, ge=0.0, le=2.0)
    api_key: str | None = Field(None, repr=False)
    api_url: str | None = None
    reliability: Reliability = Field(default_factory=Reliability)
    model_routes: list[ModelRoute] = Field(default_factory=list)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    models: dict[str, Any] = Field(default_factory=dict)
    state: StateTable = Field(default_factory=StateTable)
    # [mcp.servers.NAME] tables: checked by assistant.agent.mcp, which owns their shape.
    mcp: dict[str, Any] = Field(default_factory=dict)
    path: Path | None = None

    def set_here(self, field: str) -> bool:
        """True when the file itself set ``field`` (not a default)."""
        return field in self.model_fields_set


TOP_LEVEL = tuple(f for f in ConfigFile.model_fields if f != "path")
_TABLES = {"reliability": Reliability, "model_routes": ModelRoute, "state": StateTable}

_cache: dict[Path, tuple[tuple[int, int], ConfigFile]] = {}


@functools.cache
def _empty() -> ConfigFile:
    # No file: one shared empty config (callers key caches on it). Built on first use, not at import: its
    # defaults validate, which builds pydantic schemas (cold start).
    return ConfigFile.model_construct()


def load_config(path: Path) -> ConfigFile:
    """The checked config at ``path`` (an empty one when the file does not exist); cached by mtime.

        cfg = load_config(config_path()); cfg.reliability.fallback_providers
    """
    cached = _cache.get(path)
    # Most machines have no config file: asked on every router call, so no FileNotFoundError each time.
    if cached is None and not os.access(path, os.F_OK):
        return _empty()
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        _cache.pop(path, None)
        return _empty()
    signature = (stat.st_mtime_ns, stat.st_size)
    if cached is not None and cached[0] == signature:
        return cached[1]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from None
    config = parse_config(text, path)
    _cache[path] = (signature, config)
    return config


def parse_config(text: str, path: Path | None = None) -> ConfigFile:
    """Parse and check a config document (``path`` only names it in errors)."""
    import tomllib  # with the first config file, not at import (cold start)

    where = str(path) if path else "config"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {where} is not valid TOML: {exc}. Fix the TOML or point ASSISTANT_CONFIG elsewhere.") from None
    _check_keys(data, where)
    data = interpolate(data)
    try:
        return ConfigFile.model_validate({**data, "path": path})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "value"
        raise UsageError(f"{where}: {loc}: {err['msg']}") from None


def _check_keys(data: dict[str, Any], where: str) -> None:
    for key, value in data.items():
        if key not in TOP_LEVEL:
            kind = "table" if isinstance(value, (dict, list)) and not isinstance(value, str) else "key"
            shown = f"[{key}]" if kind == "table" else repr(key)
            raise UsageError(f"{where}: unknown {kind} {shown}{_hint(key, TOP_LEVEL)}; known: {', '.join(TOP_LEVEL)}")
    for table, model in _TABLES.items():
        value = data.get(table)
        entries = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        known = tuple(model.model_fields)
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            for key in entry:
                if key not in known:
                    raise UsageError(f"{where}: unknown key {key!r} in [{table}]{_hint(key, known)}; known: {', '.join(known)}")


def _hint(word: str, known: tuple[str, ...]) -> str:
    found = nearest(word, known)
    return f" (did you mean {found!r}?)" if found else ""


def interpolate(value: Any) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` replaced from the environment, in strings at any depth."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value
