"""Formats built from special tokens, one extractor each (each takes the reasoning-masked reply):

- DeepSeek V3/R1 ``<｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\\n```json{..}```<｜tool▁call▁end｜>``,
  V3.1 ``NAME<｜tool▁sep｜>{..}``, and Step-3 ``<｜tool_call_begin｜><steptml:invoke name=..>``
- DeepSeek V3.2 DSML ``<｜DSML｜function_calls><｜DSML｜invoke name=..><｜DSML｜parameter ..>``
- Kimi K2 ``<|tool_call_begin|>functions.NAME:0<|tool_call_argument_begin|>{..}<|tool_call_end|>``
- Mistral ``[TOOL_CALLS][{..}]``, ``[TOOL_CALLS]NAME{..}``, ``NAME[ARGS]{..}``, ``NAME[CALL_ID]id[ARGS]{..}``
- Llama 3.1 ``<|python_tag|>{..}``/``brave_search.call(..)``, Llama 4 ``<|python_start|>[..]<|python_end|>``
- Phi-4 / FireFunction ``functools[..]``; Granite ``<|tool_call|>[..]``; LFM2 ``<|tool_call_start|>[..]``
- InternLM ``<|action_start|><|plugin|>{..}<|action_end|>``; Command A ``<|START_ACTION|>[..]<|END_ACTION|>``
- Apertus ``<|tools_prefix|>[{"NAME": {..}}]<|tools_suffix|>``; GigaChat 3 ``function call<|role_sep|>{..}``
- Functionary v3.2 ``>>>NAME\\n{..}`` (``>>>all`` is text for the user)
- Gemma 4 ``<|tool_call>call:NAME{k:<|"|>v<|"|>}<tool_call|>``; FunctionGemma ``<start_function_call>call:NAME{..}``
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ._bodies import RawCall, body_calls, calls_from_value, json_sequence, parse_args, pythonic_calls, xml_calls
from ._found import Found, Resolve, found
from ._values import RawText
from .lenient_json import IncompleteJSONError, decode_at, loads_lenient

__all__ = ["TOKEN_EXTRACTORS", "CODE_TOOLS"]

_B = r"[｜|]"
_FW = "｜"  # DeepSeek and Step-3 use the fullwidth bar; the ASCII form is Kimi's
_SP = r"[▁_ ]"


def _ds(name: str) -> str:
    return "<" + _FW + "tool" + _SP + name.replace(" ", _SP) + _FW + ">"


_DS_CALL = re.compile(_ds("call begin") + r"(.*?)(" + _ds("call end") + r"|(?=" + _ds("call begin") + r")|\Z)", re.DOTALL)
_DS_SEP = re.compile(_ds("sep"))
_DSML = re.compile(r"<" + _B + r"DSML" + _B + r"function_calls>(.*?)(</" + _B + r"DSML" + _B + r"function_calls>|\Z)", re.DOTALL)
_KIMI = re.compile(
    r"<\|tool_call_begin\|>\s*([^<\s]+?)\s*<\|tool_call_argument_begin\|>(.*?)(<\|tool_call_end\|>|(?=<\|tool_call_begin\|>)|\Z)",
    re.DOTALL,
)
_MISTRAL = re.compile(r"\[TOOL_CALLS\]\s*")
_MISTRAL_NAMED = re.compile(r"([A-Za-z_][\w.\-]*)\s*(?:\[CALL_ID\]\s*\w+\s*)?(?:\[ARGS\])?\s*")
_PYTHON_TAG = re.compile(r"<\|python_tag\|>(.*?)(<\|eom_id\|>|<\|eot_id\|>|(?=<\|python_tag\|>)|\Z)", re.DOTALL)
_PYTHON_START = re.compile(r"<\|python_start\|>(.*?)(<\|python_end\|>|<\|eom\|>|<\|eot\|>|\Z)", re.DOTALL)
_FUNCTOOLS = re.compile(r"functools\s*(?=\[)")
_GRANITE = re.compile(r"<\|tool_call\|>(.*?)(<\|/tool_call\|>|<\|end_of_text\|>|(?=<\|tool_call\|>)|\Z)", re.DOTALL)
_LFM2 = re.compile(r"<\|tool_call_start\|>(.*?)(<\|tool_call_end\|>|\Z)", re.DOTALL)
_INTERNLM = re.compile(r"<\|action_start\|>\s*<\|plugin\|>(.*?)(<\|action_end\|>|\Z)", re.DOTALL)
_COMMAND_A = re.compile(r"<\|START_ACTION\|>(.*?)(<\|END_ACTION\|>|\Z)", re.DOTALL)
_APERTUS = re.compile(r"<\|tools_prefix\|>(.*?)(<\|tools_suffix\|>|\Z)", re.DOTALL)
_GIGACHAT = re.compile(r"function call\s*<\|role_sep\|>\s*")
_FUNCTIONARY = re.compile(r">>>\s*([\w.\-]+)[ \t]*\n?(.*?)(?=>>>\s*[\w.\-]+|\Z)", re.DOTALL)
_GEMMA4 = re.compile(r"<\|tool_call>\s*call:([\w.\-]+)\s*(\{.*?\})\s*(<tool_call\|>|\Z)", re.DOTALL)
_GEMMA4_STRING = re.compile(r'<\|"\|>(.*?)<\|"\|>', re.DOTALL)
_BARE_KEY = re.compile(r'([{,]\s*)([A-Za-z_][\w\-]*)\s*:')
_FUNCTION_GEMMA = re.compile(r"<start_function_call>\s*call:([\w.\-]+)\{(.*?)\}\s*(<end_function_call>|\Z)", re.DOTALL)
_GEMMA_ARG = re.compile(r"(\w+):(?:<escape>(.*?)<escape>|([^,}]*))", re.DOTALL)

# Tools that take code as their only argument: a python-tag or ``>>>python`` body that is not JSON.
CODE_TOOLS = ("python", "ipython", "code_interpreter")


def _deepseek_call(body: str, closed: bool) -> list[RawCall]:
    xml = xml_calls(body, closed=closed)
    if xml:
        return xml
    head, sep, rest = _split_sep(body)
    if not sep:
        return []
    if head.strip() in ("function", "") and rest.strip():
        name, _, args = rest.strip().partition("\n")
    else:
        name, args = head, rest
    if not closed and not args.strip():
        raise IncompleteJSONError("call cut before its arguments")
    return [(name.strip(), parse_args(args))]


def _split_sep(body: str) -> tuple[str, str, str]:
    m = _DS_SEP.search(body)
    return (body[: m.start()], m.group(0), body[m.end() :]) if m else (body, "", "")


def _deepseek(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _DS_CALL.finditer(text):
        closed = bool(m.group(2)) or m.end() < len(text)
        yield found(m.start(), m.end(), lambda m=m, closed=closed: _deepseek_call(m.group(1), closed))


def _dsml(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _DSML.finditer(text):
        yield found(m.start(), m.end(), lambda m=m: xml_calls(m.group(1), closed=bool(m.group(2))) or [])


def _kimi(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _KIMI.finditer(text):
        name = m.group(1).split(":", 1)[0]
        yield found(m.start(), m.end(), lambda m=m, name=name: [(name, parse_args(m.group(2)))])


def _mistral(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _MISTRAL.finditer(text):
        i = m.end()
        if i < len(text) and text[i] in "[{":
            yield _decoded(text, m.start(), i, lambda value: calls_from_value(value))
            continue
        named = _MISTRAL_NAMED.match(text, i)
        if named and named.end() < len(text) and text[named.end()] == "{":
            yield _decoded(text, m.start(), named.end(), lambda value, n=named.group(1): [(n, parse_args(value))])
            continue
        # A marker the reply ends at (or a name with no arguments yet) is a call cut short.
        cut = not text[i:].strip() or bool(named and named.end() == len(text))
        yield Found(m.start(), m.end(), [], truncated=cut)


def _decoded(text: str, start: int, at: int, read: Any) -> Found:
    try:
        decoded = decode_at(text, at)
    except IncompleteJSONError:
        return Found(start, len(text), [], truncated=True)
    if decoded is None:
        return Found(start, at, [])
    return found(start, decoded[1], lambda: read(decoded[0]))


def _code_or_calls(body: str) -> list[RawCall]:
    stripped = body.strip()
    if not stripped:
        return []
    if stripped[0] in "{[":
        calls = json_sequence(stripped)
        if calls:
            return calls
    calls = pythonic_calls(stripped)
    if calls:
        return [(name[: -len(".call")] if name.endswith(".call") else name, args) for name, args in calls]
    if stripped[0] in "{[":
        return []
    # Llama 3.1 / Functionary v3.1: code after <|python_tag|> is a call to the code tool.
    return [("python", {"code": stripped})]


def _python_tag(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _PYTHON_TAG.finditer(text):
        yield found(m.start(), m.end(), lambda m=m: _code_or_calls(m.group(1)))


def _python_start(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _PYTHON_START.finditer(text):
        yield found(m.start(), m.end(), lambda m=m: body_calls(m.group(1), closed=bool(m.group(2))))


def _functools(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _FUNCTOOLS.finditer(text):
        yield _decoded(text, m.start(), m.end(), lambda value: calls_from_value(value))


def _bodies(pattern: re.Pattern[str]) -> Any:
    def extract(text: str, resolve: Resolve) -> Iterator[Found]:
        for m in pattern.finditer(text):
            yield found(m.start(), m.end(), lambda m=m: body_calls(m.group(1), closed=bool(m.group(2))))

    return extract


def _apertus_calls(body: str) -> list[RawCall]:
    calls: list[RawCall] = []
    value = loads_lenient(body)
    for item in value if isinstance(value, list) else [value]:
        standard = calls_from_value(item)
        if standard:
            calls.extend(standard)
        elif isinstance(item, dict) and len(item) == 1:
            ((name, args),) = item.items()
            calls.append((name, parse_args(args)))
    return calls


def _apertus(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _APERTUS.finditer(text):
        yield found(m.start(), m.end(), lambda m=m: _apertus_calls(m.group(1)))


def _gigachat(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _GIGACHAT.finditer(text):
        if m.end() < len(text) and text[m.end()] == "{":
            yield _decoded(text, m.start(), m.end(), lambda value: calls_from_value(value))


def _functionary_body(name: str, body: str) -> list[RawCall]:
    stripped = body.strip()
    if stripped[:1] in "{[":
        return [(name, parse_args(stripped))]
    if name in CODE_TOOLS and stripped:
        return [(name, {"code": stripped})]
    return [(name, {})] if not stripped else []


def _functionary(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _FUNCTIONARY.finditer(text):
        if m.group(1) == "all":
            # Functionary v3.2: the recipient "all" is the user; what follows is the answer.
            yield Found(m.start(), m.start(2), [])
        else:
            yield found(m.start(), m.end(), lambda m=m: _functionary_body(m.group(1), m.group(2)))


def _gemma4_args(raw: str) -> dict[str, Any]:
    quoted = _GEMMA4_STRING.sub(lambda s: '"' + s.group(1).replace("\\", "\\\\").replace('"', '\\"') + '"', raw)
    return parse_args(_BARE_KEY.sub(r'\1"\2":', quoted))


def _gemma4(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _GEMMA4.finditer(text):
        yield found(m.start(), m.end(), lambda m=m: [(m.group(1), _gemma4_args(m.group(2)))])


def _function_gemma(text: str, resolve: Resolve) -> Iterator[Found]:
    for m in _FUNCTION_GEMMA.finditer(text):
        args = {k: (v if v else RawText(bare.strip())) for k, v, bare in _GEMMA_ARG.findall(m.group(2))}
        yield Found(m.start(), m.end(), [(m.group(1), args)])


TOKEN_EXTRACTORS = (_deepseek, _dsml, _kimi, _mistral, _python_tag, _python_start, _functools, _bodies(_GRANITE),
                    _bodies(_LFM2), _bodies(_INTERNLM), _bodies(_COMMAND_A), _apertus, _gigachat, _functionary,
                    _gemma4, _function_gemma)
