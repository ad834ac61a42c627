"""What the router needs to send to one candidate that only the registry decides: its breaker key, spec
and settings, keys, client-side request limits, and whether the config rules it out. Worked out once
per candidate and registry generation (``Routes``), not on every call: nothing here can change while
the registry's providers and config stay the same.

    route = routes.of(cand)      # route.circuit, route.spec, route.rules, route.unusable ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..registry import LLMRegistry
from ._candidates import Candidate
from .health import circuit_key
from .ratelimit import Rule, limit_rules

__all__ = ["Route", "Routes"]

_MEMO_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Route:
    """One candidate as the registry sees it (see the module docstring)."""

    circuit: str
    settings: Any  # registry.config.ProviderSettings
    spec: Any  # providers.ProviderSpec
    keys: tuple[str, ...]
    rules: tuple[Rule, ...]
    # Why the registry rules the candidate out (no key, disabled in the config file), as ``screen`` says it.
    unusable: tuple[str, str] | None
    ollama: bool
    local: bool
    jitter: bool


class Routes:
    """``Route`` per candidate for one registry, forgotten whenever ``registry.generation`` moves."""

    def __init__(self, registry: LLMRegistry) -> None:
        self.registry = registry
        self._generation = registry.generation
        self._routes: dict[str, Route] = {}
        self._circuits: dict[str, str] = {}

    def of(self, cand: Candidate) -> Route:
        registry = self.registry
        if registry.generation != self._generation:
            self._forget()
        found = self._routes.get(cand.model_id)
        if found is None:
            if len(self._routes) >= _MEMO_SIZE:
                self._routes.clear()
            found = self._routes[cand.model_id] = self._route(cand)
        return found

    def circuit(self, provider: str) -> str:
        """The breaker key of ``provider``'s endpoint: two servers behind one name are two circuits."""
        if self.registry.generation != self._generation:
            self._forget()
        found = self._circuits.get(provider)
        if found is None:
            settings = self.registry.settings(provider)
            try:
                url: str | None = settings.spec.resolve_base_url(settings.base_url)
            except UsageError:
                url = None
            found = self._circuits[provider] = circuit_key(provider, url)
        return found

    def _forget(self) -> None:
        self._routes.clear()
        self._circuits.clear()
        self._generation = self.registry.generation

    def _route(self, cand: Candidate) -> Route:
        registry, provider = self.registry, cand.provider
        settings = registry.settings(provider)
        spec = settings.spec
        unusable: tuple[str, str] | None = None
        if not registry.configured(provider):
            unusable = ("auth", f"no API key for {provider}")
        elif settings.disabled:
            unusable = ("auth", f"{provider} is disabled in the config file")
        rules = limit_rules(provider, cand.model, local=spec.local, rpm=settings.rpm, rpd=settings.rpd,
                            free_suffix=spec.free_suffix, credits=settings.credits)
        return Route(
            circuit=self.circuit(provider), settings=settings, spec=spec,
            keys=tuple(registry.keys(provider)) if unusable is None else (), rules=rules, unusable=unusable,
            ollama=spec.family == "ollama", local=spec.local, jitter=spec.jitter[1] > 0,
        )
