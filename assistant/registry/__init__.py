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

Keys are kept only in memory, never in a record, repr or error.

    registry = LLMRegistry.from_env()
    client, model = registry.resolve("openrouter/z-ai/glm-5")   # model == "z-ai/glm-5"

Part: provider settings and clients keyed by ``provider/model`` ids, from the environment and
``config.toml``. May import: messages, errors, files, providers, local.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import UsageError
from ..errors.redact import register_secret
from ..files.paths import config_path as _default_config_path
from ..messages import ChatRequest, ChatResponse, Message, StreamEvent
from ..providers import LLMClient, ProviderSpec, create_client, declare, get_spec
from ..providers.specs import PROVIDERS, env_name, nearest, normalize_name, provider_names
from .config import ConfigFile, load_config

__all__ = ["LLMRegistry", "ProviderSettings", "ConfigFile", "split_model_id"]

_LIMIT_FIELDS = ("rpm", "rpd", "credits", "disabled")
_SPEC_FIELDS = frozenset(ProviderSpec.model_fields) - {"name", "kind", "base_url"}
_TABLE_FIELDS = frozenset({"kind", "base_url", "api_key", "api_keys", *_LIMIT_FIELDS}) | _SPEC_FIELDS
# A custom:<url> provider in a model id ends at its API version segment (/v1, /v4, /v1beta) or, with no
# such segment, at the host; "#" ends it explicitly: "custom:https://h/api#my-model".
_CUSTOM_ID = re.compile(r"^((?:anthropic-)?custom:https?://[^/#]+(?:/(?:[^/#]+/)*?v\d+[a-z]*)?)/(.+)$", re.IGNORECASE)
_TRUE = {"1", "true", "yes", "on"}


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


class LLMRegistry:
    """Providers, keys and clients. ``from_env`` reads the environment and the config file."""

    def __init__(self, settings: Mapping[str, ProviderSettings] | None = None) -> None:
        self._settings: dict[str, ProviderSettings] = dict(settings or {})
        self._resolved: dict[str, ProviderSettings] = {}
        self._keys: dict[str, tuple[str, ...]] = {}
        self._custom: dict[str, LLMClient] = {}
        self._clients: dict[tuple[str, str, str], LLMClient] = {}
        # Hot-path memos (the router asks these on every call); add_provider clears them.
        self._names: dict[str, str] = {}
        self._ids: dict[str, tuple[str, str]] = {}
        self._configured: dict[str, bool] = {}
        self._by_key: dict[tuple[str, str | None], LLMClient] = {}
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

    def apply_config(self, config: ConfigFile) -> None:
        """Take providers, keys, URLs and routes from a checked config (``registry.config`` keeps it).

            registry.apply_config(parse_config('default_provider = "groq"'))
        """
        where = str(config.path or "config")
        for name, table in config.providers.items():
            if not isinstance(table, dict):
                raise UsageError(f"{where}: [providers.{name}] must be a table")
            self.add_provider(name, _source=f"{where}: [providers.{name}]", **table)
        rel = config.reliability
        if config.default_provider:
            primary = self._provider_arg(config.default_provider, f"{where}: default_provider")
            if config.api_key or config.api_url or rel.api_keys:
                # zeroclaw: api_key is the primary provider's own (first); reliability.api_keys rotate after it.
                keys = [config.api_key] if config.api_key else list(self.keys(primary))
                self._merge(primary, where, base_url=config.api_url, keys=[*keys, *rel.api_keys])
        for entry in rel.fallback_providers:
            self._provider_arg(entry, f"{where}: reliability.fallback_providers")
        for entry, key in rel.fallback_api_keys.items():
            self._merge(self._provider_arg(entry, f"{where}: reliability.fallback_api_keys"), where, keys=[key])
        for route in config.model_routes:
            provider = self._provider_arg(route.provider, f"{where}: [[model_routes]] hint {route.hint!r}")
            if route.api_key:
                self.add_provider(_route_provider(route.hint, provider), kind=provider, api_key=route.api_key,
                                  _source=f"{where}: [[model_routes]] hint {route.hint!r}")
        self.config = config

    def _provider_arg(self, name: str, where: str) -> str:
        try:
            return self.canonical(name)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None

    def _merge(self, provider: str, where: str, *, base_url: str | None = None, keys: Sequence[str] = ()) -> None:
        """Add a base URL and keys to a provider, keeping whatever its [providers.NAME] table set."""
        current = self._settings.get(provider) or ProviderSettings(spec=get_spec(provider))
        if base_url:
            current.spec.resolve_base_url(base_url)  # a bad URL fails here, naming the provider
            current = current.model_copy(update={"base_url": base_url})
        self._settings[provider] = current
        if provider not in PROVIDERS:
            declare(current.spec)
        merged = tuple(dict.fromkeys(k.strip() for k in [*keys, *self._keys.get(provider, ())] if k and k.strip()))
        if merged:
            self._keys[provider] = merged
            for key in merged:
                register_secret(key)
        for memo in (self._resolved, self._names, self._ids, self._configured, self._by_key):
            memo.clear()

    # --- what a model id means ------------------------------------------------------------------

    def provider_default(self, provider: str) -> str | None:
        """The model a bare provider name means: the config's ``default_model`` when ``provider`` is its
        ``default_provider``, a ``[providers.NAME] default_model``, else the built-in row's."""
        name = self.canonical(provider)
        cfg = self.config
        if cfg.default_provider and cfg.default_model and self._same(cfg.default_provider, name):
            return cfg.default_model
        return self.spec(name).default_model

    def default_model_id(self) -> str | None:
        """``default_provider`` + ``default_model`` of the config as one id (None when unset)."""
        cfg = self.config
        if not cfg.default_provider:
            if cfg.default_model and "/" in cfg.default_model:
                return cfg.default_model
            return None
        model = cfg.default_model or self.provider_default(cfg.default_provider)
        if not model:
            raise UsageError(f"{cfg.path}: default_provider {cfg.default_provider!r} has no default model; set default_model")
        return f"{self.canonical(cfg.default_provider)}/{model}"

    def expand(self, model_id: str) -> list[str]:
        """The ids one asked-for model stands for, in order: a ``hint:`` route's target, then the model,
        the same model on each ``fallback_providers`` entry, and its ``model_fallbacks``.

            registry.expand("openai/gpt-4o")  # ["openai/gpt-4o", "anthropic/...", "openai/gpt-4-turbo"]
        """
        cfg = self.config
        if model_id.startswith("hint:"):
            hint = model_id[5:]
            route = next((r for r in cfg.model_routes if r.hint == hint), None)
            if route is None:
                known = [r.hint for r in cfg.model_routes]
                raise UsageError(f"no [[model_routes]] entry with hint {hint!r}; known hints: {', '.join(known) or '(none)'}")
            provider = self.canonical(route.provider)
            return [f"{_route_provider(hint, provider) if route.api_key else provider}/{route.model}"]
        if "/" not in model_id:
            model = self.provider_default(model_id)
            if not model:
                raise UsageError(f"provider {model_id!r} has no default model; give one as {model_id}/MODEL")
            model_id = f"{self.canonical(model_id)}/{model}"
        provider, model = self.parse(model_id)
        rel = cfg.reliability
        chain = [f"{provider}/{model}"]
        if cfg.default_provider and self._same(cfg.default_provider, provider):
            for entry in rel.fallback_providers:
                other = self.canonical(entry)
                # zeroclaw sends the same model name to every fallback provider; a name from another
                # vendor only earns a 404 there, so the provider's own default is used unless the
                # config remaps it (model_fallbacks keyed by the provider name, zeroclaw's rule).
                remap = rel.model_fallbacks.get(entry) or rel.model_fallbacks.get(other)
                chain.append(f"{other}/{remap[0] if remap else self.provider_default(other) or model}")
        full = rel.model_fallbacks.get(f"{provider}/{model}")
        if full is not None:
            chain += [m if "/" in m and self._known(m.partition('/')[0]) else f"{provider}/{m}" for m in full]
        else:
            # zeroclaw keys name the provider's own model; the alternatives are on the same provider.
            chain += [f"{provider}/{m}" for m in rel.model_fallbacks.get(model, [])]
        return list(dict.fromkeys(chain))

    def _same(self, name: str, canonical: str) -> bool:
        try:
            return self.canonical(name) == canonical
        except UsageError:
            return False

    def _known(self, name: str) -> bool:
        try:
            self.canonical(name)
        except UsageError:
            return False
        return True

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
        for memo in (self._resolved, self._names, self._ids, self._configured, self._by_key):
            memo.clear()
        if spec.name not in PROVIDERS:
            declare(spec)
        if isinstance(api_keys, str):
            api_keys = api_keys.split(",")
        keys = [k.strip() for k in ([api_key] if api_key else []) + list(api_keys or []) if k and k.strip()]
        if keys:
            self._keys[spec.name] = tuple(dict.fromkeys(keys))
            for key in keys:
                register_secret(key)
        else:
            self._keys.pop(spec.name, None)
        if client is not None:
            self._custom[spec.name] = client
        return spec

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
            found = self._keys[name] = tuple(dict.fromkeys(k.strip() for k in [spec.api_key() or "", *listed] if k.strip()))
            for key in found:
                register_secret(key)
        return list(found)

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
        url = settings.spec.resolve_base_url(settings.base_url)
        cache_key = (name, url, key or "")
        found = self._clients.get(cache_key)
        if found is None:
            found = self._clients[cache_key] = create_client(settings.spec, api_key=key, base_url=url)
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


def _route_provider(hint: str, provider: str) -> str:
    # A route with its own key is its own provider over the route's kind ("groq-route-fast/...").
    return f"{provider}-route-{hint}".lower()


def _aws_ready(spec: ProviderSpec) -> bool:
    if spec.auth != "aws":
        return False
    from ..providers.bedrock_auth import has_credentials

    return has_credentials()


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
