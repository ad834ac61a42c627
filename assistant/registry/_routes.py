"""What the config file means for providers and model ids: zeroclaw's default provider, key and URL,
fallback providers and keys, per-model fallbacks and ``hint:`` routes, and bare provider names.

``LLMRegistry`` inherits these; they only use its public lookups (``canonical``, ``parse``, ``spec``,
``keys``, ``add_provider``) and its settings tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..errors.redact import register_secret
from ..providers import declare, get_spec
from ..providers.specs import PROVIDERS, is_url_provider
from .config import ConfigFile, ProviderSettings

if TYPE_CHECKING:
    from ..providers import ProviderSpec

__all__ = ["ConfigRoutes"]


class ConfigRoutes:
    """Mixin of ``LLMRegistry``: applying a ``ConfigFile`` and expanding model ids through it."""

    config: ConfigFile
    _settings: dict[str, ProviderSettings]
    _keys: dict[str, tuple[str, ...]]

    if TYPE_CHECKING:  # provided by LLMRegistry
        def canonical(self, provider: str) -> str: ...
        def parse(self, model_id: str) -> tuple[str, str]: ...
        def spec(self, provider: str) -> ProviderSpec: ...
        def keys(self, provider: str) -> list[str]: ...
        def add_provider(self, name: str, **kw: Any) -> ProviderSpec: ...
        def _forget(self) -> None: ...

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
        self._forget()

    def _provider_arg(self, name: str, where: str) -> str:
        try:
            return self.canonical(name)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None

    def _merge(self, provider: str, where: str, *, base_url: str | None = None, keys: Sequence[str] = ()) -> None:
        """Add a base URL and keys to a provider, keeping whatever its [providers.NAME] table set."""
        current = self._settings.get(provider) or _settings_for(provider)
        if base_url:
            current.spec.resolve_base_url(base_url)  # a bad URL fails here, naming the provider
            current = current.model_copy(update={"base_url": base_url})
        self._settings[provider] = current
        if provider not in PROVIDERS and not is_url_provider(provider):
            declare(current.spec)
        merged = tuple(dict.fromkeys(k.strip() for k in [*keys, *self._keys.get(provider, ())] if k and k.strip()))
        if merged:
            self._keys[provider] = merged
            for key in merged:
                register_secret(key)
        self._forget()

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



def _route_provider(hint: str, provider: str) -> str:
    # A route with its own key is its own provider over the route's kind ("groq-route-fast/...").
    return f"{provider}-route-{hint}".lower()



def _settings_for(provider: str) -> ProviderSettings:
    return ProviderSettings(spec=get_spec(provider))
