"""Model roles: which model id does which job (the everyday default, summaries, translation, ...).

A role resolves, first match wins, from ``ASSISTANT_MODEL_<ROLE>`` (``ASSISTANT_MODEL_HIGH_END``), the
``[models]`` table of the config file (``high_end = "openrouter/z-ai/glm-5"``; ``high-end`` works
too), then the default. Every default is ``"auto"``: the free-model chain, which with no key at all
still reaches the embedded local model, so nothing here needs a key to work.

    model = model_for_role("summary")      # "auto" unless configured
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..errors import UsageError
from ..files.paths import config_path

__all__ = ["ROLES", "Role", "RoleSetting", "model_for_role", "role_settings", "config_section"]

Role = Literal["default", "high_end", "free_fallback", "flash_fallback", "summary", "translation", "refinement"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]

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


def role_settings() -> list[RoleSetting]:
    """Every role with its model and where that came from (for ``assistant doctor``)."""
    return [_resolve(role) for role in ROLES]


def _role_name(role: str) -> str:
    name = role.strip().lower().replace("-", "_")
    if name not in ROLES:
        raise UsageError(f"unknown model role {role!r}; roles are: {', '.join(ROLES)}")
    return name


def _resolve(role: str) -> RoleSetting:
    var = f"ASSISTANT_MODEL_{role.upper()}"
    value = os.environ.get(var, "").strip()
    if value:
        return RoleSetting(role=role, model=_checked(value, var), source=f"env:{var}")
    table = config_section("models")
    for key in (role, role.replace("_", "-")):
        if key in table:
            where = f"[models] {key} in {config_path()}"
            value = table[key]
            if not isinstance(value, str):
                raise UsageError(f"{where} must be a string model id like \"openrouter/z-ai/glm-5\", got {value!r}")
            return RoleSetting(role=role, model=_checked(value.strip(), where), source=f"config:{config_path()}")
    return RoleSetting(role=role, model=_DEFAULTS[role], source="default")


def _checked(value: str, where: str) -> str:
    provider, slash, model = value.partition("/")
    if value == "auto" or (slash and provider and model and not any(c.isspace() for c in value)):
        return value
    raise UsageError(f"{where} = {value!r} is not a model id: use \"auto\" or \"provider/model\" (e.g. \"llama/smollm2\")")


_config_cache: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


def config_section(name: str) -> dict[str, Any]:
    """The ``[name]`` table of the config file ({} when the file or table is missing); cached by mtime.

    A file that does not parse raises ``UsageError`` naming its line (tomllib says where).
    """
    path = config_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}
    signature = (stat.st_mtime_ns, stat.st_size)
    cached = _config_cache.get(path)
    if cached is None or cached[0] != signature:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
        cached = (signature, document)
        _config_cache[path] = cached
    section = cached[1].get(name, {})
    if not isinstance(section, dict):
        raise UsageError(f"config file {path}: [{name}] must be a table")
    return section
