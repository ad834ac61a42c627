"""Argument values that arrive as text (the XML-style formats: Qwen3-Coder, GLM, MiniMax M2, Step-3,
DeepSeek DSML, Seed-OSS) and their types: the tool's JSON Schema decides, as vLLM and SGLang do;
without a schema a value that is JSON (a number, ``true``, an object) becomes that value.

    typed_arguments({"days": RawText("3")}, {"properties": {"days": {"type": "string"}}})  # {"days": "3"}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from .lenient_json import loads_lenient

__all__ = ["RawText", "typed_arguments"]


class RawText(str):
    """An argument value written as text, to be typed once the tool (and its schema) is known."""

    __slots__ = ()


_MISSING = object()


def typed_arguments(args: dict[str, Any], parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """``args`` with every ``RawText`` value typed by the schema ``parameters`` (or guessed from JSON)."""
    props = (parameters or {}).get("properties") or {}
    out: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, RawText):
            schema = props.get(key) if isinstance(props, Mapping) else None
            value = _by_schema(str(value), schema) if isinstance(schema, Mapping) else _guess(str(value))
        out[key] = value
    return out


def _guess(text: str) -> Any:
    stripped = text.strip()
    if not stripped:
        return text
    if stripped in ("True", "False"):
        # Python-style booleans, as models trained on Python write them (SGLang qwen3coder test).
        return stripped == "True"
    value = _json(stripped, containers_only=False)
    return text if value is _MISSING or isinstance(value, str) else value


def _json(text: str, *, containers_only: bool) -> Any:
    if containers_only and text[:1] not in "[{":
        return _MISSING
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    if text[:1] in "[{":
        # GLM-4.7 writes JSON values with escaped quotes (SGLang test_glm47_moe_detector).
        for attempt in (text, text.replace('\\"', '"')):
            try:
                return loads_lenient(attempt)
            except ValueError:
                continue
    return _MISSING


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    found: list[str] = []
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key) or []:
            if isinstance(option, Mapping):
                found.extend(_types(option))
    if not found and ("properties" in schema):
        found.append("object")
    if not found and schema.get("enum") and all(isinstance(v, str) for v in schema["enum"]):
        found.append("string")
    return found


def _by_schema(text: str, schema: Mapping[str, Any]) -> Any:
    kinds = _types(schema)
    if not kinds:
        return _guess(text)
    stripped = text.strip()
    for kind in [k for k in kinds if k != "string"] + (["string"] if "string" in kinds else []):
        value = _convert(kind, text, stripped)
        if value is not _MISSING:
            return value
    return _guess(text)


def _convert(kind: str, text: str, stripped: str) -> Any:
    if kind == "string":
        return text
    if kind == "integer":
        try:
            return int(stripped)
        except ValueError:
            number = _json(stripped, containers_only=False)
            return int(number) if isinstance(number, float) and number.is_integer() else _MISSING
    if kind == "number":
        number = _json(stripped, containers_only=False)
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            return number
        try:
            return float(stripped)
        except ValueError:
            return _MISSING
    if kind == "boolean":
        lowered = stripped.lower()
        return {"true": True, "false": False, "1": True, "0": False}.get(lowered, _MISSING)
    if kind == "null":
        return None if stripped.lower() in ("null", "none") else _MISSING
    if kind in ("object", "array"):
        value = _json(stripped, containers_only=True)
        wanted = dict if kind == "object" else list
        return value if isinstance(value, wanted) else _MISSING
    return _MISSING
