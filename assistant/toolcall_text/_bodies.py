"""What sits inside one tool call a model wrote as text: a JSON call object (any of the common key
spellings), a Python-style call, or the XML-ish argument tags of Qwen3-Coder, GLM and MiniMax.

    calls_from_value({"name": "f", "parameters": {"a": 1}})   # [("f", {"a": 1})]
    body_calls('get_weather(city="Paris")')                    # [("get_weather", {"city": "Paris"})]
"""

from __future__ import annotations

import ast
import re
from typing import Any

from .lenient_json import decode_at, loads_lenient

__all__ = ["RawCall", "parse_args", "calls_from_value", "has_arg_key", "body_calls", "pythonic_calls", "scalar", "FUNCTION_TAG"]

RawCall = tuple[str, dict[str, Any]]

_NAME_KEYS = ("name", "tool", "tool_name", "function", "function_name", "recipient_name", "action")
_ARG_KEYS = ("arguments", "parameters", "args", "input", "params", "tool_input", "action_input", "kwargs")
_META_KEYS = {"id", "type", "index", "call_id"}


def parse_args(raw: Any) -> dict[str, Any]:
    """Arguments as a dict; text that is not a JSON object travels as ``_raw_arguments``."""
    if isinstance(raw, dict):
        return raw
    if raw is None:
        return {}
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            value = loads_lenient(raw)
        except ValueError:
            return {"_raw_arguments": raw.strip()}
        if isinstance(value, str):  # double-encoded
            return parse_args(value) if value.strip().startswith("{") else {"_raw_arguments": value}
        return value if isinstance(value, dict) else {"_raw_arguments": raw.strip()}
    return {"_raw_arguments": str(raw)}


def calls_from_value(value: Any) -> list[RawCall]:
    """Calls inside a decoded JSON value: a call object, a list of them, or ``{"tool_calls": [..]}``."""
    if isinstance(value, list):
        return [call for item in value for call in calls_from_value(item)]
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("tool_calls"), list):
        return calls_from_value(value["tool_calls"])
    if isinstance(value.get("function"), dict):
        return calls_from_value(value["function"])
    name = next((value[k] for k in _NAME_KEYS if isinstance(value.get(k), str) and value[k].strip()), None)
    if name is None:
        return []
    arg_key = next((k for k in _ARG_KEYS if k in value), None)
    if arg_key is not None:
        return [(name.strip(), parse_args(value[arg_key]))]
    name_key = next(k for k in _NAME_KEYS if value.get(k) == name)
    rest = {k: v for k, v in value.items() if k != name_key and k not in _META_KEYS}
    return [(name.strip(), rest)]


def has_arg_key(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(has_arg_key(v) for v in value)
    if not isinstance(value, dict):
        return False
    if isinstance(value.get("function"), dict):
        return has_arg_key(value["function"])
    return any(k in value for k in _ARG_KEYS)


FUNCTION_TAG = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|(?=<function=)|$)", re.DOTALL)
_PARAMETER_TAG = re.compile(r"<parameter=([^>\s]+)>(.*?)(?:</parameter>|(?=<parameter=)|(?=</function>)|$)", re.DOTALL)
_ARG_PAIR = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)(?:</arg_value>|(?=<arg_key>)|$)", re.DOTALL)
_INVOKE = re.compile(r"<invoke\s+name=[\"']([^\"']+)[\"']\s*>(.*?)(?:</invoke>|$)", re.DOTALL)
_INVOKE_PARAM = re.compile(r"<parameter\s+name=[\"']([^\"']+)[\"']\s*>(.*?)</parameter>", re.DOTALL)
_FENCED = re.compile(r"^\s*```[\w\-]*[ \t]*\n?(.*?)(?:\n?\s*```\s*)?$", re.DOTALL)
_NAME_THEN_ARGS = re.compile(r"^([A-Za-z_][\w.\-]*)\s*(?::|\n|\s)\s*([\[{].*)$", re.DOTALL)
_BARE_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


def scalar(text: str) -> Any:
    """A JSON value if the text is one, else the text itself (argument values written bare)."""
    text = text.strip()
    try:
        return loads_lenient(text)
    except ValueError:
        return text


def body_calls(body: str) -> list[RawCall]:
    text = body.strip()
    fenced = _FENCED.match(text)
    if fenced and text.startswith("```"):
        text = fenced.group(1).strip()
    if not text:
        return []
    if "<function=" in text:
        calls = []
        for m in FUNCTION_TAG.finditer(text):
            inner = m.group(2)
            if "<parameter=" in inner:
                args = {k.strip(): scalar(v) for k, v in _PARAMETER_TAG.findall(inner)}
            else:
                args = parse_args(inner)
            calls.append((m.group(1).strip(), args))
        return calls
    if "<arg_key>" in text:
        name = text.split("<arg_key>", 1)[0].strip()
        return [(name, {k.strip(): scalar(v) for k, v in _ARG_PAIR.findall(text)})] if name else []
    if "<invoke" in text:
        return [(m.group(1), {k: scalar(v) for k, v in _INVOKE_PARAM.findall(m.group(2))}) for m in _INVOKE.finditer(text)]
    if text[0] in "{[":
        return _json_sequence(text)
    pythonic = pythonic_calls(text)
    if pythonic:
        return pythonic
    m = _NAME_THEN_ARGS.match(text)
    if m:
        return [(m.group(1), parse_args(m.group(2)))]
    if _BARE_NAME.match(text):
        return [(text, {})]
    return []


def _json_sequence(text: str) -> list[RawCall]:
    """One or more JSON values in a row (newline, comma or ``;`` between them)."""
    calls: list[RawCall] = []
    i = 0
    while i < len(text):
        if text[i] in "{[":
            decoded = decode_at(text, i)
            if decoded is None:
                break
            value, i = decoded
            calls.extend(calls_from_value(value))
        else:
            i += 1
    return calls


def pythonic_calls(src: str) -> list[RawCall]:
    """``name(a=1)``, ``[f(a=1), g(b=2)]`` or ``print(default_api.f(a=1))`` as calls."""
    try:
        node = ast.parse(src.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return []
    nodes = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
    calls = []
    for item in nodes:
        if isinstance(item, ast.Call) and ast.unparse(item.func) == "print" and len(item.args) == 1:
            item = item.args[0]
        call = _ast_call(item)
        if call is None:
            return []
        calls.append(call)
    return calls


def _ast_call(node: ast.AST) -> RawCall | None:
    if not isinstance(node, ast.Call):
        return None
    try:
        args: dict[str, Any] = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
        positional = [ast.literal_eval(a) for a in node.args]
    except (ValueError, SyntaxError, TypeError, RecursionError):
        return None
    if len(positional) == 1 and isinstance(positional[0], dict) and not args:
        args = positional[0]
    elif positional:
        args["_positional"] = positional
    return ast.unparse(node.func), args
