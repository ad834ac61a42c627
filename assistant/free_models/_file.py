"""The free-model list's file format: the ``FreeModel`` entry, the document around it, its migrations.

A document is ``{"version": 1, "notes": [...], "models": [entry, ...]}``. ``parse`` validates a
loaded document and reports the first problem with the line it sits on; ``document`` is the inverse.
Entries read from disk may name a provider that is declared only at run time (a ``[providers.x]``
table the registry reads), so the provider check is skipped there and kept for new input.

    contents = parse(json_document, raw_text, path)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import UsageError
from ..files.store import BrokenFileError, Migration, line_of, migrate
from ..providers.specs import get_spec
from ..registry import split_model_id
from .roles import config_section

__all__ = ["FreeModel", "FreeRole", "FREE_ROLES", "CURRENT_VERSION", "MIGRATIONS", "Contents", "parse", "document",
           "validated"]

FreeRole = Literal["interim", "greeting"]
FREE_ROLES: tuple[str, ...] = FreeRole.__args__  # type: ignore[attr-defined]
CURRENT_VERSION = 1
_LENIENT = {"lenient_providers": True}


class FreeModel(BaseModel):
    """One entry. ``local`` defaults from the provider (llama, ollama, lmstudio, vllm); ``flash``
    defaults to true when the model name contains "flash". Lower ``priority`` runs earlier."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    id: StrictStr
    priority: StrictInt = 100
    enabled: StrictBool = True
    local: StrictBool = False
    supports_tools: StrictBool = False
    flash: StrictBool = False
    context_window: StrictInt | None = Field(default=None, gt=0)
    roles: tuple[FreeRole, ...] = ()
    notes: StrictStr = ""

    @property
    def provider(self) -> str:
        return split_model_id(self.id)[0]

    @property
    def model(self) -> str:
        """The provider's own model name (what goes into ``ChatRequest.model``)."""
        return split_model_id(self.id)[1]

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_id(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            return data
        provider, _, model = _split(data["id"])
        data = dict(data)
        if "local" not in data:
            data["local"] = _provider_is_local(provider)
        if "flash" not in data:
            data["flash"] = "flash" in model.lower()
        return data

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str, info: ValidationInfo) -> str:
        provider, slash, model = _split(value)
        if not slash or not provider or not model or any(c.isspace() for c in value):
            raise ValueError(f'id {value!r} must be "provider/model", e.g. "openrouter/z-ai/glm-4.5-air:free"')
        if not (info.context or {}).get("lenient_providers"):
            _check_provider(provider)
        return value

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))


def _split(model_id: str) -> tuple[str, str, str]:
    # custom:<url> ids hold slashes inside the provider; the registry knows where the URL ends.
    try:
        provider, model = split_model_id(model_id)
    except UsageError:
        return model_id.partition("/")
    return provider, "/", model


def _provider_is_local(provider: str) -> bool:
    try:
        return get_spec(provider).local
    except UsageError:
        return False


def _check_provider(provider: str) -> None:
    try:
        get_spec(provider)
    except UsageError:
        if provider not in config_section("providers"):
            raise


def _v0_wrap_bare_list(raw: Any) -> Any:
    """Before versions existed people wrote a bare list of entries or of id strings."""
    entries = raw if isinstance(raw, list) else raw.get("models", [])
    notes = [] if isinstance(raw, list) else raw.get("notes", [])
    models = [{"id": e} if isinstance(e, str) else e for e in entries]
    return {"version": 1, "notes": notes, "models": models}


MIGRATIONS: tuple[Migration, ...] = (Migration(0, "wrap_bare_list", _v0_wrap_bare_list),)


@dataclass(frozen=True, slots=True)
class Contents:
    """A parsed file: entries in priority order (stable) and the top-level notes."""

    models: tuple[FreeModel, ...]
    notes: list[str]


def parse(raw: Any, text: str, path: Path) -> Contents:
    """Migrate and validate a loaded file (``text`` is its source, for line numbers); the first
    problem raises ``BrokenFileError`` naming its line."""
    doc = migrate(raw, MIGRATIONS, CURRENT_VERSION, path=path)
    if not isinstance(doc, dict):
        raise BrokenFileError(path, 'the top level must be an object with "version" and "models"', line=1)
    extra = set(doc) - {"version", "notes", "models"}
    if extra:
        key = sorted(extra)[0]
        raise BrokenFileError(path, f'unknown top-level key "{key}" (allowed: version, notes, models)',
                              line=line_of(text, f'"{key}"'))
    notes, entries = doc.get("notes", []), doc.get("models", [])
    if isinstance(notes, str):
        notes = [notes]
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise BrokenFileError(path, '"notes" must be a list of strings', line=line_of(text, '"notes"'))
    if not isinstance(entries, list):
        raise BrokenFileError(path, '"models" must be a list of entries', line=line_of(text, '"models"'))
    models: list[FreeModel] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        model_id = entry.get("id") if isinstance(entry, dict) else None
        quoted = f'"{model_id}"' if isinstance(model_id, str) else None
        line = line_of(text, quoted) if quoted else line_of(text, '"models"')
        try:
            model = FreeModel.model_validate(entry, context=_LENIENT)
        except ValidationError as exc:
            raise BrokenFileError(path, f"entry {index + 1} ({model_id or 'no id'}): {_describe(exc)}", line=line) from None
        if model.id in seen:
            first = text.find(quoted) if quoted else -1
            raise BrokenFileError(path, f"entry {index + 1}: duplicate id {model.id!r}",
                                  line=line_of(text, quoted, first + 1) if quoted else line)
        seen.add(model.id)
        models.append(model)
    return Contents(tuple(sorted(models, key=lambda m: m.priority)), notes)


def _describe(exc: ValidationError) -> str:
    """A pydantic error as one line naming the field: ``priority: Input should be a valid integer``."""
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "entry"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown field (fields are: {', '.join(FreeModel.model_fields)})"
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def document(contents: Contents) -> dict[str, Any]:
    """The JSON document for ``contents`` at the current version (every field of every entry)."""
    return {
        "version": CURRENT_VERSION,
        "notes": contents.notes,
        "models": [m.model_dump(mode="json") for m in contents.models],
    }


def validated(data: Mapping[str, Any], *, strict_provider: bool = True) -> FreeModel:
    """``data`` as a ``FreeModel``, or ``UsageError`` naming the entry and the field that is wrong."""
    try:
        return FreeModel.model_validate(data, context=None if strict_provider else _LENIENT)
    except ValidationError as exc:
        model_id = data.get("id") if isinstance(data, Mapping) else None
        raise UsageError(f"invalid free-model entry {model_id!r}: {_describe(exc)}") from None
