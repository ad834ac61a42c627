"""Which providers exist, which keys they have, and one cached client per (provider, base URL, key).

Sources, later wins: the built-in provider table, the environment (``<NAME>_API_KEY``,
``<NAME>_API_KEYS`` comma-separated for rotation, ``<NAME>_BASE_URL``, ``ASSISTANT_<NAME>_RPM`` /
``_RPD``), the TOML config file (``ASSISTANT_CONFIG`` or ``config.toml`` in the config dir, with
``${VAR}`` and ``${VAR:-default}`` interpolation), and ``add_provider`` calls::

    [providers.big]                 # a named provider over a kind: model ids "big/..."
    kind = "llama"
    base_url = "http://10.0.0.5:8080"
    read_timeout = 900
    max_concurrency = 2

    [providers.groq]                # settings for a built-in provider
    api_keys = ["${GROQ_KEY_1}", "${GROQ_KEY_2}"]
    rpm = 30

The whole file's shape (zeroclaw's top level, ``[reliability]``, ``[[model_routes]]``) is checked in
``config``; what it means for providers and model ids (default provider, fallbacks, ``hint:`` routes,
bare provider names) is applied in ``_routes``. Keys are kept only in memory, never in a record, repr
or error. A provider with no key in the config or the environment falls back to the encrypted key
store (``keystore``, ``assistant keys set NAME``).

    registry = LLMRegistry.from_env()
    client, model = registry.resolve("openrouter/z-ai/glm-5")   # model == "z-ai/glm-5"

Part: provider settings and clients keyed by ``provider/model`` ids, from the environment and
``config.toml``. May import: messages, errors, files, providers, local.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import UsageError
from ..errors.redact import register_secret
from ..files.paths import config_path as _default_config_path
from ..messages import ChatRequest, ChatResponse, Message, StreamEvent
from ..providers import LLMClient, ProviderSpec, create_client, declare, get_spec
from ..providers.specs import PROVIDERS, env_name, is_url_provider, nearest, normalize_name, provider_names
from ._routes import ConfigRoutes
from .config import ConfigFile, ProviderSettings, load_config
from ._embedded import EmbeddedClient

__all__ = ["LLMRegistry", "ProviderSettings", "ConfigFile", "split_model_id"]

_LIMIT_FIELDS = ("rpm", "rpd", "credits", "disabled")
_SPEC_FIELDS = frozenset(ProviderSpec.model_fields) - {"name", "kind", "base_url"}
_TABLE_FIELDS = frozenset({"kind", "base_url", "api_key", "api_keys", *_LIMIT_FIELDS}) | _SPEC_FIELDS
# A custom:<url> provider in a model id ends at its API version segment (/v1, /v4, /v1beta) or, with no
# such segment, at the host; "#" ends it explicitly: "custom:https://h/api#my-model".
_CUSTOM_ID = re.compile(r"^((?:anthropic-)?custom:https?://[^/#]+(?:/(?:[^/#]+/)*?v\d+[a-z]*)?)/(.+)$", re.IGNORECASE)
_TRUE = {"1", "true", "yes", "on"}
_log = logging.getLogger(__name__)


def split_model_id(model_id: str) -> tuple[str, str]:
    """``"openrouter/z-ai/glm-5"`` -> ``("openrouter", "z-ai/glm-5")``: split at the FIRST slash."""
    text = model_id.strip()
    lowered = text.lower()
    if lowered.startswith(("custom:", "anthropic-custom:")):
        url, sep, model = text.partition("#")
        if sep and model:
            return normalize_name(url), model
        custom = _CUSTOM_ID.match(text)
        if custom is not None:
            return normalize_name(custom.group(1)), custom.group(2)
    provider, sep, model = model_id.strip().partition("/")
    if not sep or not provider or not model:
        raise UsageError(
            f"model id {model_id!r} needs the form provider/model, e.g. 'openrouter/z-ai/glm-5' or 'llama/smollm2'"
        )
    return provider.lower(), model


class LLMRegistry(ConfigRoutes):
    """Providers, keys and clients. ``from_env`` reads the environment and the config file."""

    def __init__(self, settings: Mapping[str, ProviderSettings] | None = None) -> None:
        self._settings: dict[str, ProviderSettings] = dict(settings or {})
        self._resolved: dict[str, ProviderSettings] = {}
        self._keys: dict[str, tuple[str, ...]] = {}
        self._key_sources: dict[str, str] = {}
        self._stored: dict[str, str] | None = None
        self._custom: dict[str, LLMClient] = {}
        self._clients: dict[tuple[str, str, str], LLMClient] = {}
        # Hot-path memos (the router asks these on every call); add_provider clears them.
        self._names: dict[str, str] = {}
        self._ids: dict[str, tuple[str, str]] = {}
        self._configured: dict[str, bool] = {}
        self._by_key: dict[tuple[str, str | None], LLMClient] = {}
        # Counts changes to providers and config, so callers can key their own memos on it.
        self.generation = 0
        self.config = ConfigFile()

    def __repr__(self) -> str:
        return f"LLMRegistry(providers={self.providers()!r})"

    @classmethod
    def from_env(cls, config_path: str | Path | None = None) -> LLMRegistry:
        """The registry for this machine: environment plus the config file (if it exists).

            registry = LLMRegistry.from_env()
        """
        registry = cls()
        named = config_path is not None or bool(os.environ.get("ASSISTANT_CONFIG"))
        path = Path(config_path) if config_path is not None else _default_config_path()
        if path.is_file():
            registry._load_config(path)
        elif named:
            raise UsageError(f"config file {path} does not exist; fix ASSISTANT_CONFIG / config_path or create the file")
        return registry

    def _load_config(self, path: Path) -> None:
        self.apply_config(load_config(path))

    def add_provider(
        self,
        name: str,
        *,
        kind: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        api_keys: Sequence[str] | None = None,
        client: LLMClient | None = None,
        _source: str = "",
        **options: Any,
    ) -> ProviderSpec:
        """Declare a named provider over ``kind`` (or change a built-in one). Options: ``rpm``,
        ``rpd``, ``credits``, ``disabled`` and any ``ProviderSpec`` field (``read_timeout``,
        ``max_concurrency``, ...). ``client`` plugs in a ready ``LLMClient`` (tests, custom wires).

            registry.add_provider("big", kind="llama", base_url="http://10.0.0.5:8080", read_timeout=900)
        """
        where = _source or f"add_provider({name!r})"
        name = normalize_name(name)
        unknown = sorted(set(options) - _TABLE_FIELDS)
        if unknown:
            hint = nearest(unknown[0], _TABLE_FIELDS)
            raise UsageError(f"{where}: unknown setting(s) {unknown}{f' (did you mean {hint!r}?)' if hint else ''}; "
                             f"allowed: {', '.join(sorted(_TABLE_FIELDS))}")
        limits = {k: options.pop(k) for k in _LIMIT_FIELDS if k in options}
        spec = _make_spec(name, kind, base_url, options, where)
        try:
            settings = ProviderSettings(spec=spec, base_url=base_url or None, **limits)
        except ValidationError as exc:
            raise UsageError(f"{where}: {_first_error(exc)}") from None
        self._settings[spec.name] = settings
        self._forget()
        if spec.name not in PROVIDERS and not is_url_provider(spec.name):
            declare(spec)
        if isinstance(api_keys, str):
            api_keys = api_keys.split(",")
        keys = [k.strip() for k in ([api_key] if api_key else []) + list(api_keys or []) if k and k.strip()]
        if keys:
            self._keys[spec.name] = tuple(dict.fromkeys(keys))
            self._key_sources[spec.name] = "config" if _source else "argument"
            for key in keys:
                register_secret(key)
        else:
            self._keys.pop(spec.name, None)
            self._key_sources.pop(spec.name, None)
        if client is not None:
            self._custom[spec.name] = client
        return spec

    def _forget(self) -> None:
        for memo in (self._resolved, self._names, self._ids, self._configured, self._by_key):
            memo.clear()
        self.generation += 1

    # --- lookups --------------------------------------------------------------------------------

    def canonical(self, provider: str) -> str:
        """The registry's name for a provider or alias (``gemini`` -> ``google``)."""
        found = self._names.get(provider)
        if found is not None:
            return found
        key = normalize_name(provider)
        if key not in self._settings:
            try:
                key = get_spec(key).name
            except UsageError:
                hint = nearest(key, [*provider_names(), *self._settings])
                raise UsageError(
                    f"unknown provider {provider!r}{f' (did you mean {hint!r}?)' if hint else ''}. Configured providers: {', '.join(self.providers()) or '(none)'}. "
                    "Declare one with registry.add_provider(name, kind=..., base_url=...) or a [providers.NAME] table."
                ) from None
        self._names[provider] = key
        return key

    def parse(self, model_id: str) -> tuple[str, str]:
        """``"Gemini/gemini-2.5-flash"`` -> ``("google", "gemini-2.5-flash")``: canonical provider, model."""
        found = self._ids.get(model_id)
        if found is None:
            provider, model = split_model_id(model_id)
            found = self._ids[model_id] = (self.canonical(provider), model)
        return found

    def settings(self, provider: str) -> ProviderSettings:
        """Spec, base URL and limits of a provider, environment limits folded in.

            registry.settings("groq").rpm   # ASSISTANT_GROQ_RPM or the config's rpm
        """
        name = self.canonical(provider)
        found = self._resolved.get(name)
        if found is None:
            found = self._settings.get(name) or ProviderSettings(spec=get_spec(name))
            env: dict[str, Any] = {}
            if found.rpm is None:
                env["rpm"] = _env_int(f"ASSISTANT_{env_name(name, 'RPM')}")
            if found.rpd is None:
                env["rpd"] = _env_int(f"ASSISTANT_{env_name(name, 'RPD')}")
            if not found.credits and _env_flag(env_name(name, "CREDITS")):
                env["credits"] = True
            found = self._resolved[name] = found.model_copy(update={k: v for k, v in env.items() if v is not None})
        return found

    def spec(self, provider: str) -> ProviderSpec:
        return self.settings(provider).spec

    def keys(self, provider: str) -> list[str]:
        """Every key configured for ``provider``, in rotation order (first is the default)."""
        name = self.canonical(provider)
        found = self._keys.get(name)
        if found is None:
            spec = self.spec(name)
            listed = os.environ.get(env_name(name, "API_KEYS"), "").split(",")
            found = tuple(dict.fromkeys(k.strip() for k in [spec.api_key() or "", *listed] if k.strip()))
            source = "env"
            if not found and spec.key_required:
                stored = self._stored_keys().get(name)
                found, source = ((stored,), "keystore") if stored else ((), "")
            self._keys[name] = found
            self._key_sources[name] = source if found else ""
            for key in found:
                register_secret(key)
        return list(found)

    def key_source(self, provider: str) -> str:
        """Where ``provider``'s key comes from: "config", "env", "keystore", "argument", or "" (none)."""
        name = self.canonical(provider)
        self.keys(name)
        return self._key_sources.get(name, "")

    def _stored_keys(self) -> dict[str, str]:
        if self._stored is None:
            from .keystore import KeyStore

            self._stored = {}
            store = KeyStore()
            if store.exists():
                try:
                    self._stored = store.all()
                except UsageError as exc:
                    # An unreadable store must not stop providers keyed by env or config from working.
                    _log.warning("key store not used: %s", exc)
        return self._stored

    def configured(self, provider: str) -> bool:
        """True when ``provider`` is known and has a key (or needs none: local servers)."""
        found = self._configured.get(provider)
        if found is None:
            try:
                name = self.canonical(provider)
            except UsageError:
                return False
            spec = self.spec(name)
            found = name in self._custom or bool(self.keys(name)) or not spec.key_required or _aws_ready(spec)
            self._configured[provider] = found
        return found

    def providers(self) -> list[str]:
        """Names of the configured providers (built-in, declared and from the config file)."""
        names = {n for n in provider_names() if _is_canonical(n)} | set(self._settings)
        return sorted(n for n in names if self.configured(n))

    def client(self, provider: str, key: str | None = None) -> LLMClient:
        """The cached client for ``provider`` with ``key`` (default: its first key).

            client = registry.client("groq", registry.keys("groq")[1])
        """
        found = self._by_key.get((provider, key))
        if found is not None:
            return found
        name = self.canonical(provider)
        custom = self._custom.get(name)
        if custom is not None:
            return custom
        settings = self.settings(name)
        if key is None:
            keys = self.keys(name)
            key = keys[0] if keys else None
        if settings.spec.key_required and not key and not _aws_ready(settings.spec):
            raise UsageError(
                f"provider {name!r} has no API key: set {env_name(name, 'API_KEY')} (or {env_name(name, 'API_KEYS')} "
                f"for several). Configured providers: {', '.join(self.providers()) or '(none)'}"
            )
        embedded = _embedded_llama(name, settings)
        url = "embedded" if embedded else settings.spec.resolve_base_url(settings.base_url)
        cache_key = (name, url, key or "")
        found = self._clients.get(cache_key)
        if found is None:
            found = self._clients[cache_key] = (
                EmbeddedClient(settings.spec) if embedded else create_client(settings.spec, api_key=key, base_url=url))
        self._by_key[(provider, key)] = found
        return found

    def resolve(self, model_id: str) -> tuple[LLMClient, str]:
        """``"provider/model"`` -> (client, the provider's own model name).

            client, model = registry.resolve("groq/llama-3.3-70b-versatile")
        """
        provider, model = self.parse(model_id)
        return self.client(provider), model

    # --- calls ----------------------------------------------------------------------------------

    async def chat(self, model_id: str, messages: Sequence[Message], **kw: Any) -> ChatResponse:
        """One call, no fallback (that is the router's job).

            resp = await registry.chat("llama/smollm2", [Message.user("hi")], max_tokens=20)
        """
        client, model = self.resolve(model_id)
        return await client.chat(ChatRequest(model=model, messages=list(messages), **kw))

    async def stream(self, model_id: str, messages: Sequence[Message], **kw: Any) -> AsyncIterator[StreamEvent]:
        """Stream one call, no fallback."""
        client, model = self.resolve(model_id)
        async for event in client.stream(ChatRequest(model=model, messages=list(messages), stream=True, **kw)):
            yield event

    async def aclose(self) -> None:
        """Close every client this registry made or was given."""
        clients = {id(c): c for c in [*self._clients.values(), *self._custom.values()]}
        self._clients.clear()
        self._by_key.clear()
        for client in clients.values():
            await client.aclose()


def _aws_ready(spec: ProviderSpec) -> bool:
    if spec.auth != "aws":
        return False
    from ..providers.bedrock_auth import has_credentials

    return has_credentials()


def _embedded_llama(name: str, settings: ProviderSettings) -> bool:
    """The built-in ``llama`` provider with no URL of its own means the embedded server (``local``)."""
    return name == "llama" and not settings.base_url and not os.environ.get(env_name(name, "BASE_URL"))


def _is_canonical(name: str) -> bool:
    try:
        return get_spec(name).name == name
    except UsageError:  # pragma: no cover - provider_names() only lists known names
        return False


def _make_spec(name: str, kind: str | None, base_url: str | None, fields: dict[str, Any], where: str) -> ProviderSpec:
    if kind:
        base = get_spec(kind)
        # A named provider reads only its own <NAME>_API_KEY, not its kind's aliases.
        values = {**base.model_dump(), "key_env": (), **fields, "name": name, "kind": base.wire_kind}
    else:
        try:
            base = get_spec(name)
        except UsageError:
            raise UsageError(f"{where}: {name!r} is not a built-in provider; add kind = \"openai\" (or llama, ollama, ...)") from None
        values = {**base.model_dump(), **fields}
    if base_url:
        values["base_url"] = base_url
    try:
        return ProviderSpec.model_validate(values)
    except ValidationError as exc:
        raise UsageError(f"{where}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "value"
    return f"{field}: {err['msg']}"


def _env_int(var: str) -> int | None:
    raw = os.environ.get(var, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"{var}={raw!r} is not a whole number of requests") from None


def _env_flag(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in _TRUE
