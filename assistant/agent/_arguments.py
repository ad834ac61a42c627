"""Arguments as models send them, made safe to validate, store and resend.

    json_safe({"n": 2**70})   # {"n": "1180591620717411303424"}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..messages import ToolCall

__all__ = ["json_safe", "safe_call", "show"]


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
    if isinstance(value, Mapping):
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
