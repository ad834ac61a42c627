"""Model roles: which model id does which job, and what a bare provider name means.

Roles and where each is read:

- ``default``: ``Agent()`` and ``assistant run/chat`` without a model (falls back to zeroclaw's top-level
  ``default_provider`` / ``default_model``, then the free chain).
- ``high_end``: ``Agent(model="high_end")`` / ``--model high_end``: any role name works as a model.
- ``flash_fallback``, ``free_fallback``: appended (in that order) to an explicit model's chain, so a
  paid or slow model that fails falls to a fast one, then a free one.
- ``overflow``: tried when the prompt fits no candidate's window, before the history is compacted.
- ``summary``: compaction summaries. ``translation``, ``refinement``: ``ChatSession`` helpers and
  callers that translate or polish a reply. ``stt``: speech-to-text for bots that take voice.
- ``interim``, ``greeting``: the chat asides (else the free list's ``interim``/``greeting`` entries).

A role resolves, first match wins, from ``ASSISTANT_MODEL_<ROLE>``, the ``[models]`` table of the config
file (``high_end = "openrouter/z-ai/glm-5"``; ``high-end`` works too), then its default. Every default
is ``"auto"``: the free-model chain, which with no key at all still reaches the embedded local model.

A value may be ``auto``, ``provider/model``, ``hint:<route>`` or a bare provider name, which resolves in
Flowfile's order (``resolve_model``): explicit model, the credential's default (``default_model`` of the
``default_provider``, or ``[providers.NAME] default_model``), the surface's model if it is in the
curated list (``[models.curated] groq = [...]``), the first curated model, the surface's default, the
provider's built-in default.

    model = model_for_role("summary")      # "auto" unless configured
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..errors import UsageError
from ..files.paths import config_path
from ..providers.specs import get_spec, nearest, normalize_name
from ..registry.config import ConfigFile, load_config

__all__ = ["ROLES", "Role", "RoleSetting", "model_for_role", "configured_role", "role_settings", "config_section",
           "resolve_model", "curated_models"]

Role = Literal["default", "high_end", "free_fallback", "flash_fallback", "summary", "translation", "refinement",
               "stt", "interim", "greeting", "overflow"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
_MODELS_KEYS = (*ROLES, "curated")

_DEFAULTS: dict[str, str] = {role: "auto" for role in ROLES}


class RoleSetting(BaseModel):
    """Where a role's model came from: ``source`` is ``env:<VAR>``, ``config:<path>`` or ``default``."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    role: str
    model: str
    source: str


def model_for_role(role: str) -> str:
    """The model id (or ``"auto"``) configured for ``role``.

        model_for_role("translation")  # -> "auto"
    """
    return _resolve(_role_name(role)).model


def configured_role(role: str) -> str | None:
    """The role's model when the user set one (environment or config file); None for the default."""
    setting = _resolve(_role_name(role))
    return None if setting.source == "default" else setting.model


def role_settings() -> list[RoleSetting]:
    """Every role with its model and where that came from (for ``assistant doctor``)."""
    return [_resolve(role) for role in ROLES]


def is_role(name: str) -> bool:
    return name.strip().lower().replace("-", "_") in ROLES


def _role_name(role: str) -> str:
    name = role.strip().lower().replace("-", "_")
    if name not in ROLES:
        hint = nearest(name, ROLES)
        raise UsageError(f"unknown model role {role!r}{f' (did you mean {hint!r}?)' if hint else ''}; "
                         f"roles are: {', '.join(ROLES)}")
    return name


def _config() -> ConfigFile:
    return load_config(config_path())


_memo: dict[str, tuple[str, ConfigFile, RoleSetting]] = {}


def _resolve(role: str) -> RoleSetting:
    # Asked on every router call: the answer is kept while the variable and the (mtime-cached) file stay.
    var = f"ASSISTANT_MODEL_{role.upper()}"
    value = os.environ.get(var, "").strip()
    config = _config()
    hit = _memo.get(role)
    if hit is not None and hit[0] == value and hit[1] is config:
        return hit[2]
    setting = _resolve_now(role, var, value, config)
    _memo[role] = (value, config, setting)
    return setting


def _resolve_now(role: str, var: str, value: str, config: ConfigFile) -> RoleSetting:
    if value:
        return RoleSetting(role=role, model=_checked(value, var), source=f"env:{var}")
    table = _models_table(config)
    for key in (role, role.replace("_", "-")):
        if key in table:
            where = f"[models] {key} in {config.path}"
            value = table[key]
            if not isinstance(value, str):
                raise UsageError(f"{where} must be a string model id like \"openrouter/z-ai/glm-5\", got {value!r}")
            return RoleSetting(role=role, model=_checked(value.strip(), where), source=f"config:{config.path}")
    if role == "default" and (config.default_provider or config.default_model):
        return RoleSetting(role=role, model=_zeroclaw_default(config), source=f"config:{config.path}")
    return RoleSetting(role=role, model=_DEFAULTS[role], source="default")


def _zeroclaw_default(config: ConfigFile) -> str:
    if config.default_provider:
        provider = normalize_name(config.default_provider)
        return f"{get_spec(provider).name if ':' not in provider else provider}/" + (
            config.default_model or resolve_model(provider)
        )
    model = config.default_model or ""
    return _checked(model, f"default_model in {config.path}")


def _models_table(config: ConfigFile) -> dict[str, Any]:
    table = config.models
    for key in table:
        if key.replace("-", "_") not in _MODELS_KEYS:
            hint = nearest(key.replace("-", "_"), _MODELS_KEYS)
            raise UsageError(f"{config.path}: unknown key {key!r} in [models]{f' (did you mean {hint!r}?)' if hint else ''}; "
                             f"known: {', '.join(_MODELS_KEYS)}")
    return table


def _checked(value: str, where: str) -> str:
    provider, slash, model = value.partition("/")
    if value == "auto" or value.startswith("hint:") or is_role(value):
        return value
    if slash and provider and model and not any(c.isspace() for c in value):
        return value
    if not slash and value and not any(c.isspace() for c in value):
        try:
            spec = get_spec(value)
        except UsageError:
            pass
        else:
            return f"{spec.name}/{resolve_model(spec.name)}"
    raise UsageError(f"{where} = {value!r} is not a model id: use \"auto\", \"provider/model\" (e.g. \"llama/smollm2\") "
                     "or a provider name")


def curated_models(provider: str) -> list[str]:
    """The config's curated list for ``provider`` (``[models.curated] groq = ["a", "b"]``)."""
    curated = _config().models.get("curated") or {}
    if not isinstance(curated, dict):
        raise UsageError(f"{_config().path}: [models.curated] must be a table of provider = [model, ...]")
    name = normalize_name(provider)
    for key, models in curated.items():
        if normalize_name(key) == name or _canonical(key) == _canonical(name):
            if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
                raise UsageError(f"{_config().path}: [models.curated] {key} must be a list of model names")
            return list(models)
    return []


def _canonical(name: str) -> str:
    try:
        return get_spec(name).name
    except UsageError:
        return name


def resolve_model(
    provider: str,
    *,
    explicit: str | None = None,
    surface_model: str | None = None,
    surface_default: str | None = None,
) -> str:
    """The model name to use on ``provider``, in Flowfile's order: explicit, the credential's default,
    the surface's model when curated, the first curated, the surface's default, the provider's default.

        resolve_model("groq")   # "llama-3.3-70b-versatile" unless the config says otherwise
    """
    if explicit:
        return explicit
    config = _config()
    name = _canonical(normalize_name(provider))
    if config.default_provider and config.default_model and _canonical(normalize_name(config.default_provider)) == name:
        return config.default_model
    for key, table in config.providers.items():
        if _canonical(normalize_name(key)) == name and isinstance(table, dict) and table.get("default_model"):
            return str(table["default_model"])
    curated = curated_models(name)
    if surface_model and surface_model in curated:
        return surface_model
    if curated:
        return curated[0]
    if surface_default:
        return surface_default
    found = get_spec(name).default_model
    if not found:
        raise UsageError(f"provider {provider!r} has no default model: name one (\"{name}/MODEL\"), set "
                         f"[providers.{name}] default_model, or list it under [models.curated]")
    return found


def config_section(name: str) -> dict[str, Any]:
    """The ``[name]`` table of the config file ({} when the file or table is missing); cached by mtime.

    A file that does not parse, or has an unknown table or key, raises ``UsageError`` naming it.
    """
    config = _config()
    value = getattr(config, name, None) if name in ConfigFile.model_fields else None
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True)
    return value if isinstance(value, dict) else {}
