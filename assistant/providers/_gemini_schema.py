"""JSON Schema -> the OpenAPI 3.0 subset Gemini accepts for tool parameters and ``responseSchema``.

Gemini rejects whole requests over one unknown keyword, so every rule below answers a real 400:

- ``Invalid JSON payload received. Unknown name "additionalProperties" at
  'tools[0].function_declarations[3].parameters.properties[1].value.items': Cannot find field.``
  -> keywords outside the subset (``additionalProperties``, ``$schema``, ``title``, ``default``, ...) are dropped.
- ``parameters.properties[description].type: must be specified when not using one_of, any_of or all_of fields``
  -> every node gets a type (inferred from ``properties`` / ``items`` / ``enum``, else STRING).
- ``parameters.properties[data].properties: only allowed for OBJECT type`` -> object keywords only on objects.
- ``parameters.properties: should be non-empty for OBJECT type`` -> an empty ``properties`` map is omitted.
- ``property is not defined`` -> ``required`` keeps only names that exist in ``properties``.

``$ref`` / ``$defs`` are inlined (a recursive reference stops at its second visit), ``anyOf`` with
``null`` and type lists with ``"null"`` become ``nullable``, ``const`` becomes a one-value ``enum``,
``allOf`` is merged.

    to_gemini_schema({"type": ["string", "null"], "format": "email"})  # {"type": "STRING", "nullable": True}
"""

from __future__ import annotations

from typing import Any

__all__ = ["to_gemini_schema", "is_empty_object"]

_TYPES = {"string": "STRING", "number": "NUMBER", "integer": "INTEGER", "boolean": "BOOLEAN",
          "array": "ARRAY", "object": "OBJECT"}
# Formats the Gemini API documents per type; any other value is a 400 on some models.
_FORMATS = {"STRING": {"enum", "date-time"}, "NUMBER": {"float", "double"}, "INTEGER": {"int32", "int64"}}
# Keywords copied as they are (after the structural ones are handled).
_PASSTHROUGH = ("description", "pattern", "example")
_COUNTS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
_BOUNDS = ("minimum", "maximum")


def to_gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Convert one JSON Schema (with its own ``$defs``) to Gemini's dialect; the input is not modified.

        params = to_gemini_schema(tool.parameters)
    """
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return _convert(schema, defs, ())


def is_empty_object(schema: dict[str, Any] | None) -> bool:
    """True for a parameter schema with nothing in it (Gemini wants ``parameters`` left out then).

        is_empty_object({"type": "object", "properties": {}})  # True
    """
    if not schema:
        return True
    return schema.get("type") in ("object", "OBJECT", None) and not schema.get("properties") and not any(
        k in schema for k in ("anyOf", "oneOf", "allOf", "$ref", "items", "enum")
    )


def _convert(node: Any, defs: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(node, dict):
        # JSON Schema allows ``true`` (anything) as a subschema; Gemini needs a type.
        return {"type": "STRING"}
    node, stack = _resolve(node, defs, stack)
    if "allOf" in node:
        node, stack = _merge_all_of(node, defs, stack)
    out: dict[str, Any] = {}
    nullable = False

    union = node.get("anyOf") or node.get("oneOf")
    if union:
        branches = [b for b in union if not (isinstance(b, dict) and b.get("type") == "null")]
        nullable = len(branches) < len(union)
        if len(branches) == 1:
            inner = _convert(branches[0], defs, stack)
            if node.get("description") and "description" not in inner:
                inner["description"] = node["description"]
            if nullable:
                inner["nullable"] = True
            return inner
        if branches:
            out["anyOf"] = [_convert(b, defs, stack) for b in branches]

    kind = node.get("type")
    if kind == "null":
        nullable, kind = True, None
    elif isinstance(kind, list):
        nullable = nullable or "null" in kind
        kind = next((t for t in kind if t != "null"), None)
    gemini_type = _TYPES.get(kind) if isinstance(kind, str) else None
    if gemini_type is None and "anyOf" not in out:
        gemini_type = _infer_type(node)
    if gemini_type:
        out["type"] = gemini_type

    for key in _PASSTHROUGH:
        if key in node:
            out[key] = node[key]
    for key in _COUNTS:
        if isinstance(node.get(key), int):
            # The API types these as int64, which proto JSON spells as a string.
            out[key] = str(node[key])
    for key in _BOUNDS:
        if isinstance(node.get(key), (int, float)):
            out[key] = node[key]
    if "minimum" not in out and isinstance(node.get("exclusiveMinimum"), (int, float)):
        out["minimum"] = node["exclusiveMinimum"]
    if "maximum" not in out and isinstance(node.get("exclusiveMaximum"), (int, float)):
        out["maximum"] = node["exclusiveMaximum"]

    fmt = node.get("format")
    if gemini_type in _FORMATS and fmt in _FORMATS[gemini_type]:
        out["format"] = fmt

    values = [node["const"]] if "const" in node else node.get("enum")
    if values is not None:
        _apply_enum(out, values)

    if gemini_type == "OBJECT":
        _convert_object(node, out, defs, stack)
    elif gemini_type == "ARRAY":
        items = node.get("items")
        if isinstance(items, list):  # tuple form: Gemini has no tuples; the first shape stands for all
            items = items[0] if items else None
        if items is None and isinstance(node.get("prefixItems"), list) and node["prefixItems"]:
            items = node["prefixItems"][0]
        # "items: missing field" for an ARRAY without them.
        out["items"] = _convert(items, defs, stack) if items is not None else {"type": "STRING"}
    if nullable:
        out["nullable"] = True
    return out


def _convert_object(node: dict[str, Any], out: dict[str, Any], defs: dict[str, Any], stack: tuple[str, ...]) -> None:
    props = node.get("properties")
    if isinstance(props, dict) and props:
        out["properties"] = {name: _convert(sub, defs, stack) for name, sub in props.items()}
        required = [name for name in node.get("required", []) if name in props]
        if required:
            out["required"] = required


def _apply_enum(out: dict[str, Any], values: list[Any]) -> None:
    present = [v for v in values if v is not None]
    if len(present) < len(values):
        out["nullable"] = True
    if not present:
        return
    if all(isinstance(v, str) for v in present):
        out["enum"] = present
        out.setdefault("type", "STRING")
        return
    # Gemini's enum is a list of strings; a number or bool enum would change the argument type the
    # model sends back, so the allowed values go into the description instead.
    allowed = ", ".join(str(v) for v in present)
    note = f"One of: {allowed}."
    out["description"] = f"{out['description']} {note}" if out.get("description") else note


def _infer_type(node: dict[str, Any]) -> str:
    if "properties" in node or "required" in node or "additionalProperties" in node:
        return "OBJECT"
    if "items" in node or "prefixItems" in node:
        return "ARRAY"
    values = [node["const"]] if "const" in node else node.get("enum")
    if values:
        sample = next((v for v in values if v is not None), "")
        if isinstance(sample, bool):
            return "BOOLEAN"
        if isinstance(sample, int):
            return "INTEGER"
        if isinstance(sample, float):
            return "NUMBER"
    return "STRING"


_Node = tuple[dict[str, Any], tuple[str, ...]]


def _resolve(node: dict[str, Any], defs: dict[str, Any], stack: tuple[str, ...]) -> _Node:
    while "$ref" in node:
        ref = node["$ref"]
        name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
        target = defs.get(name)
        if target is None or name in stack:
            # A dangling or recursive reference (a tree of nodes): Gemini has no $ref, so the
            # recursion stops here as an object described in words.
            desc = node.get("description") or (target or {}).get("description") or f"A {name or 'nested'} object."
            return {"type": "object", "description": desc}, stack
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **siblings}
        stack = (*stack, name)
    return node, stack


def _merge_all_of(node: dict[str, Any], defs: dict[str, Any], stack: tuple[str, ...]) -> _Node:
    merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    for part in node["allOf"]:
        if not isinstance(part, dict):
            continue
        part, stack = _resolve(part, defs, stack)
        if "allOf" in part:
            part, stack = _merge_all_of(part, defs, stack)
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged, stack
