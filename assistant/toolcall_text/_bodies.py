"""What sits inside one tool call a model wrote as text: a JSON call object (any of the common key
spellings), a Python-style call, or the XML-ish argument tags of Qwen3-Coder, GLM, MiniMax, Step-3
and DeepSeek DSML (their values are ``RawText``, typed later by the tool's schema).

    calls_from_value({"name": "f", "parameters": {"a": 1}})   # [("f", {"a": 1})]
    body_calls('get_weather(city="Paris")')                    # [("get_weather", {"city": "Paris"})]

A JSON value the text leaves open raises ``IncompleteJSONError``: a cut call is no call.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from ._values import RawText
from .lenient_json import IncompleteJSONError, balanced_end, decode_at, loads_lenient

__all__ = ["RawCall", "parse_args", "calls_from_value", "body_calls", "pythonic_calls", "xml_calls", "json_sequence",
           "paren_end", "FUNCTION_TAG"]

RawCall = tuple[str, dict[str, Any]]

_NAME_KEYS = ("name", "tool_name", "tool", "function", "function_name", "recipient_name", "action")
_ARG_KEYS = ("arguments", "parameters", "args", "input", "params", "tool_input", "action_input", "kwargs")
_META_KEYS = {"id", "type", "index", "call_id", "tool_call_id"}
# A bare JSON object in prose is a call only in the shapes models are taught (Hermes, Llama 3.x,
# Mistral, Command-R, ReAct JSON) and with nothing but those keys: records and answers have others.
_STRICT_NAME_KEYS = ("name", "tool_name", "function", "tool", "action")
_STRICT_ARG_KEYS = ("arguments", "parameters", "action_input", "args")


def parse_args(raw: Any) -> dict[str, Any]:
    """Arguments as a dict; text that is not a JSON object travels as ``_raw_arguments``.
    Raises ``IncompleteJSONError`` for JSON the text leaves open."""
    if isinstance(raw, dict):
        return raw
    if raw is None:
        return {}
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            value = loads_lenient(raw)
        except IncompleteJSONError:
            raise
        except ValueError:
            return {"_raw_arguments": raw.strip()}
        if isinstance(value, str):  # double-encoded
            return parse_args(value) if value.strip().startswith("{") else {"_raw_arguments": value}
        return value if isinstance(value, dict) else {"_raw_arguments": raw.strip()}
    return {"_raw_arguments": str(raw)}


def _is_definition(value: dict[str, Any], args: Any) -> bool:
    """A tool's definition (name, description, JSON Schema), as a model echoes its system prompt."""
    if "description" in value:
        return True
    return isinstance(args, dict) and args.get("type") == "object" and isinstance(args.get("properties"), dict)


def calls_from_value(value: Any, *, strict: bool = False) -> list[RawCall]:
    """Calls inside a decoded JSON value: a call object, a list of them, or ``{"tool_calls": [..]}``.
    ``strict`` (JSON found in prose, no markup around it) takes only exact call objects."""
    if isinstance(value, list):
        calls = [calls_from_value(item, strict=strict) for item in value]
        if strict and not all(calls):
            return []
        return [call for group in calls for call in group]
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("tool_calls"), list) and (not strict or set(value) == {"tool_calls"}):
        return calls_from_value(value["tool_calls"], strict=strict)
    if isinstance(value.get("function"), dict) and (not strict or set(value) <= {"function"} | _META_KEYS):
        return calls_from_value(value["function"], strict=strict)
    name_keys = _STRICT_NAME_KEYS if strict else _NAME_KEYS
    name_key = next((k for k in name_keys if isinstance(value.get(k), str) and value[k].strip()), None)
    if name_key is None:
        return []
    name = value[name_key].strip()
    arg_key = next((k for k in (_STRICT_ARG_KEYS if strict else _ARG_KEYS) if k in value), None)
    if arg_key is not None:
        if _is_definition(value, value[arg_key]):
            return []
        if strict and not set(value) <= {name_key, arg_key} | _META_KEYS:
            return []
        args = parse_args(value[arg_key])
        if strict and "_raw_arguments" in args and name_key != "action":
            return []
        return [(name, args)]
    if strict:
        return []
    rest = {k: v for k, v in value.items() if k != name_key and k not in _META_KEYS}
    # {"name": "x"} alone is a name, not a call (MiniMax-M1 parser skips it; so does SGLang's JSON one).
    return [(name, rest)] if rest and "description" not in rest else []


FUNCTION_TAG = re.compile(r"<function=([^>\s]+)>(.*?)(</function>|(?=<function=)|\Z)", re.DOTALL)
_PARAMETER_TAG = re.compile(r"<parameter=([^>\s]+)>(.*?)(</parameter>|(?=<parameter=)|(?=</function>)|\Z)", re.DOTALL)
_ARG_PAIR = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)(</arg_value>|(?=<arg_key>)|\Z)", re.DOTALL)
_BAR = r"[｜|]"
_INVOKE = re.compile(
    r"<(?:\w+:|" + _BAR + r"DSML" + _BAR + r")?invoke\s+name=[\"']([^\"']+)[\"']\s*>(.*?)"
    r"(</(?:\w+:|" + _BAR + r"DSML" + _BAR + r")?invoke>|\Z)",
    re.DOTALL,
)
_INVOKE_PARAM = re.compile(
    r"<(?:\w+:|" + _BAR + r"DSML" + _BAR + r")?parameter\s+name=[\"']([^\"']+)[\"']([^>]*)>(.*?)"
    r"</(?:\w+:|" + _BAR + r"DSML" + _BAR + r")?parameter>",
    re.DOTALL,
)
_STRING_ATTR = re.compile(r"string=[\"'](true|false)[\"']", re.IGNORECASE)
_FENCED = re.compile(r"^\s*```[\w\-]*[ \t]*\n?(.*?)(?:\n?\s*```\s*)?$", re.DOTALL)
_NAME_THEN_ARGS = re.compile(r"^([A-Za-z_][\w.\-]*)\s*(?::|\n|\s)\s*([\[{].*)$", re.DOTALL)
_BARE_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


def _one_newline(value: str) -> str:
    # Qwen3-Coder puts the value on its own lines: one newline each side is markup (vLLM qwen3coder parser).
    if value.startswith("\n"):
        value = value[1:]
    if value.endswith("\n"):
        value = value[:-1]
    return value


def xml_calls(text: str, *, closed: bool = True) -> list[RawCall] | None:
    """Calls in the XML-ish forms, or None when the text holds none of them. Unless the container
    around ``text`` was ``closed``, an element left open at the end raises ``IncompleteJSONError``."""
    if "<function=" in text:
        calls = []
        for m in FUNCTION_TAG.finditer(text):
            inner = m.group(2)
            if not closed and not m.group(3) and m.end() == len(text):
                raise IncompleteJSONError("function element left open")
            if "<parameter=" in inner:
                args: dict[str, Any] = {}
                for key, value, close in _PARAMETER_TAG.findall(inner):
                    args[key.strip()] = RawText(_one_newline(value))
                calls.append((m.group(1).strip(), args))
            else:
                calls.append((m.group(1).strip(), parse_args(inner)))
        return calls
    if "<arg_key>" in text:
        name = text.split("<arg_key>", 1)[0].strip()
        pairs = _ARG_PAIR.findall(text)
        if not closed and pairs and not pairs[-1][2]:
            raise IncompleteJSONError("arg_value left open")
        return [(name, {k.strip(): RawText(v.strip()) for k, v, _ in pairs})] if name else []
    if _INVOKE.search(text):
        calls = []
        for m in _INVOKE.finditer(text):
            if not closed and not m.group(3):
                raise IncompleteJSONError("invoke element left open")
            body = m.group(2)
            params = _INVOKE_PARAM.findall(body)
            if params:
                args = {}
                for key, attrs, value in params:
                    kind = _STRING_ATTR.search(attrs)
                    if kind is None:
                        args[key] = RawText(value)
                    elif kind.group(1).lower() == "true":
                        args[key] = value
                    else:
                        args[key] = loads_lenient(value)
            else:
                args = parse_args(body)
            calls.append((m.group(1), args))
        return calls
    return None


def body_calls(body: str, *, closed: bool = True) -> list[RawCall]:
    """The calls inside an explicit container (tag or special tokens); ``closed`` when its end
    marker was there (else the body runs to the end of the reply and may have been cut)."""
    text = body.strip()
    fenced = _FENCED.match(text)
    if fenced and text.startswith("```"):
        text = fenced.group(1).strip()
    if not text:
        return []
    xml = xml_calls(text, closed=closed)
    if xml is not None:
        return xml
    if text[0] in "{[":
        calls = json_sequence(text)
        if calls or text[0] == "{":
            return calls
    pythonic = pythonic_calls(text)
    if pythonic:
        return pythonic
    m = _NAME_THEN_ARGS.match(text)
    if m:
        return [(m.group(1), parse_args(m.group(2)))]
    if _BARE_NAME.match(text):
        return [(text, {})]
    return []


def json_sequence(text: str, *, strict: bool = False) -> list[RawCall]:
    """One or more JSON values in a row (newline, comma or ``;`` between them)."""
    calls: list[RawCall] = []
    i = 0
    while i < len(text):
        if text[i] in "{[":
            decoded = decode_at(text, i)
            if decoded is None:
                break
            value, i = decoded
            calls.extend(calls_from_value(value, strict=strict))
        else:
            i += 1
    return calls


def pythonic_calls(src: str, *, unwrap_print: bool = False) -> list[RawCall]:
    """``name(a=1)`` or ``[f(a=1), g(b=2)]`` as calls (``print(default_api.f(a=1))`` in tool_code)."""
    src = src.strip()
    try:
        node = ast.parse(src, mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return _salvage_list(src) if src.startswith("[") else []
    nodes = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
    calls = []
    for item in nodes:
        if unwrap_print and isinstance(item, ast.Call) and ast.unparse(item.func) == "print" and len(item.args) == 1:
            item = item.args[0]
        call = _ast_call(item)
        if call is None:
            return []
        calls.append(call)
    return calls


_CALL_OPEN = re.compile(r"(?<![\w.])((?:[A-Za-z_]\w*\.)*[A-Za-z_][\w\-]*)\s*\(")


def _salvage_list(src: str) -> list[RawCall]:
    """The well-formed calls of a list with a broken item (vLLM pythonic parser test: the broken
    ``f(a='x 'y')`` is dropped, ``get_weather(...)`` before it still counts)."""
    calls = []
    pos = 1
    while True:
        m = _CALL_OPEN.search(src, pos)
        if m is None or src[pos : m.start()].strip(" ,\n") != "":
            return calls
        end = paren_end(src, m.end() - 1)
        if end is None:
            return calls
        call = pythonic_calls(src[m.start() : end])
        if not call:
            return calls
        calls.extend(call)
        pos = end


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


def paren_end(text: str, start: int) -> int | None:
    """Index past the ``)`` closing ``text[start] == "("`` (brackets and strings inside respected)."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            close = text.find(ch, i + 1)
            while close > 0 and text[close - 1] == "\\":
                close = text.find(ch, close + 1)
            if close < 0:
                return None
            i = close
        elif ch in "{[":
            end = balanced_end(text, i)
            if end is None:
                return None
            i = end - 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None
