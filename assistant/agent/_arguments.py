"""Arguments as models send them, made safe to validate, store and resend.

    json_safe({"n": 2**70})   # {"n": "1180591620717411303424"}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..messages import ToolCall
from ..toolcall_text.lenient_json import loads_lenient

__all__ = ["json_safe", "safe_call", "show", "expected", "describe_invalid", "unwrap_json_strings"]


def show(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        text = f"a number of about {value.bit_length() * 30103 // 100000} digits" if isinstance(value, int) else type(value).__name__
    return text[:200]


_INT64 = 1 << 63


def json_safe(value: Any) -> Any:
    """``value`` with what JSON encoders refuse made plain: integers past 64 bits become decimal
    strings (validation turns them back into ints where an int is expected), too long ones a
    description, other objects their ``str``. Arguments are stored and resent in the history, so
    a model's ``10**5000`` must not break every later request.

        json_safe({"n": 2**70})   # {"n": "1180591620717411303424"}
    """
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        if -_INT64 <= value < _INT64:
            return value
        try:
            return str(value)
        except ValueError:
            return f"<an integer too long to use: {show(value)}>"
    if isinstance(value, dict) or isinstance(value, Mapping):  # a plain dict skips the ABC check
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


def safe_call(call: ToolCall) -> ToolCall:
    """``call`` with JSON-safe arguments that are an object (anything else is kept as ``_raw_arguments``,
    which validation explains to the model)."""
    arguments = json_safe(call.arguments)
    if not isinstance(arguments, dict):
        arguments = {"_raw_arguments": arguments}
    if arguments == call.arguments:
        return call
    return call.model_copy(update={"arguments": arguments})


def expected(parameters: Mapping[str, Any]) -> str:
    props = parameters.get("properties") or {}
    required = set(parameters.get("required") or [])
    parts = [f"{k}: {v.get('type', 'any')}{'' if k in required else ' (optional)'}" for k, v in props.items()]
    return "{" + ", ".join(parts) + "}"


def describe_invalid(name: str, error: ValidationError, parameters: Mapping[str, Any]) -> str:
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "(arguments)"
        got = "" if item["type"] == "missing" else f" (got {show(item.get('input'))[:80]})"
        problems.append(f"- {where}: {item['msg']}{got}")
    return f"invalid arguments for {name!r}:\n" + "\n".join(problems) + f"\nExpected arguments: {expected(parameters)}"


def unwrap_json_strings(args: dict[str, Any], error: ValidationError) -> dict[str, Any] | None:
    """Arguments with JSON-looking strings parsed where validation complained about them."""
    fixed = dict(args)
    changed = False
    for item in error.errors(include_url=False):
        key = item["loc"][0] if item["loc"] else None
        value = fixed.get(key) if isinstance(key, str) else None
        if isinstance(value, str) and value.strip()[:1] in ("{", "[", '"'):
            try:
                fixed[key] = loads_lenient(value)
                changed = True
            except ValueError:
                pass
    return fixed if changed else None
