"""The tolerant parser for tool calls written as text, on the shapes real models emit, plus the prompt,
the text history and the streaming guard."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.agent._grammar import action_schema, parse_action
from assistant.messages import Message, ToolCall, ToolSpec
from assistant.toolcall_text import (
    TextGuard,
    extract_tool_calls,
    parse_tool_calls,
    render_text_history,
    tool_prompt,
)

ALLOWED = {"get_weather", "calculator", "web_search"}

# (what produces it, the model's text, the calls expected, the text left for the user)
REAL_WORLD: list[tuple[str, str, list[tuple[str, dict[str, Any]]], str]] = [
    ("hermes/qwen2.5", 'Sure.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
     [("get_weather", {"city": "Paris"})], "Sure."),
    ("qwen unclosed at the end", '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}',
     [("get_weather", {"city": "Paris"})], ""),
    ("hermes, two calls",
     '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>\n'
     '<tool_call>{"name": "calculator", "arguments": {"expression": "2+2"}}</tool_call>',
     [("get_weather", {"city": "Oslo"}), ("calculator", {"expression": "2+2"})], ""),
    ("hermes 4: lost opening tag after </think>",
     '</think>{"name": "calculator", "arguments": {"expression": "1"}}</tool_call>',
     [("calculator", {"expression": "1"})], ""),
    ("function_call alias with double-encoded arguments",
     '<function_call>{"name":"calculator","arguments":"{\\"expression\\": \\"1+1\\"}"}</function_call>',
     [("calculator", {"expression": "1+1"})], ""),
    ("<tools> alias with parameters", '<tools>{"name": "calculator", "parameters": {"expression": "3*3"}}</tools>',
     [("calculator", {"expression": "3*3"})], ""),
    ("[TOOL_CALL] brackets", '[TOOL_CALL]{"name": "calculator", "arguments": {"expression": "1"}}[/TOOL_CALL] ok',
     [("calculator", {"expression": "1"})], "ok"),
    ("mistral 7b v0.3 / ministral: JSON list", '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Rome"}}]',
     [("get_weather", {"city": "Rome"})], ""),
    ("devstral / mistral small 3.2: name[ARGS]", '[TOOL_CALLS]web_search[ARGS]{"query": "latest AI model releases"}',
     [("web_search", {"query": "latest AI model releases"})], ""),
    ("llama 3.1 ipython mode", '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Lima"}}<|eom_id|>',
     [("get_weather", {"city": "Lima"})], ""),
    ("llama 3.1/3.2 default template: bare JSON", '{"name": "web_search", "parameters": {"query": "你好"}}',
     [("web_search", {"query": "你好"})], ""),
    ("llama 3.1 custom function tag", '<function=get_weather>{"city": "Quito"}</function>',
     [("get_weather", {"city": "Quito"})], ""),
    ("llama 3.2 pythonic list", '[get_weather(city="SF"), calculator(expression="2*3")]',
     [("get_weather", {"city": "SF"}), ("calculator", {"expression": "2*3"})], ""),
    ("deepseek v3",
     'Let me check.\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n'
     '{"city": "Tokyo"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
     [("get_weather", {"city": "Tokyo"})], "Let me check."),
    ("deepseek v3.1",
     '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city":"Tokyo"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
     [("get_weather", {"city": "Tokyo"})], ""),
    ("kimi k2",
     '<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>'
     '{"city": "Beijing"}<|tool_call_end|><|tool_calls_section_end|>',
     [("get_weather", {"city": "Beijing"})], ""),
    ("gpt-oss harmony", '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"SF"}<|call|>',
     [("get_weather", {"city": "SF"})], ""),
    ("firefunction functools", 'functools[{"name": "calculator", "arguments": {"expression": "5-2"}}]',
     [("calculator", {"expression": "5-2"})], ""),
    ("granite / phi-4-mini", '<|tool_call|>[{"name": "calculator", "arguments": {"expression": "7"}}]<|/tool_call|>',
     [("calculator", {"expression": "7"})], ""),
    ("functiongemma", "<start_function_call>call:get_weather{city:<escape>London<escape>}<end_function_call>",
     [("get_weather", {"city": "London"})], ""),
    ("gemma tool_code fence", '```tool_code\nprint(default_api.get_weather(city="Paris"))\n```',
     [("get_weather", {"city": "Paris"})], ""),
    ("qwen3-coder XML",
     "<tool_call>\n<function=get_weather>\n<parameter=city>\nSF\n</parameter>\n</function>\n</tool_call>",
     [("get_weather", {"city": "SF"})], ""),
    ("glm-4.5 arg_key/arg_value",
     "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n</tool_call>",
     [("get_weather", {"city": "Beijing"})], ""),
    ("minimax m2 invoke",
     '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n</invoke>\n</minimax:tool_call>',
     [("get_weather", {"city": "Paris"})], ""),
    ("react prompt", 'Thought: math\nAction: calculator\nAction Input: {"expression": "9/3"}',
     [("calculator", {"expression": "9/3"})], "Thought: math"),
    ("name({json}) inline", 'I will call calculator({"expression": "2**8"}) now.',
     [("calculator", {"expression": "2**8"})], "I will call now."),
    ("json code fence", '```json\n{"name": "calculator", "arguments": {"expression": "1+2"}}\n```',
     [("calculator", {"expression": "1+2"})], ""),
    ("single quotes and a trailing comma", "<tool_call>{'name': 'calculator', 'arguments': {'expression': '4+4',}}</tool_call>",
     [("calculator", {"expression": "4+4"})], ""),
    ("OpenAI shape copied into text",
     '<tool_call>{"type": "function", "function": {"name": "calculator", "arguments": "{\\"expression\\": \\"6\\"}"}}</tool_call>',
     [("calculator", {"expression": "6"})], ""),
]


@pytest.mark.parametrize("source,text,calls,clean", REAL_WORLD, ids=[r[0] for r in REAL_WORLD])
def test_real_world_tool_call_text_is_parsed(source: str, text: str, calls: list[Any], clean: str) -> None:
    rest, found = parse_tool_calls(text, ALLOWED)
    assert [(c.name, c.arguments) for c in found] == calls
    assert rest == clean


def test_calls_to_tools_not_offered_are_left_out_but_their_markup_is_removed() -> None:
    parsed = extract_tool_calls('<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call> Done.', ALLOWED)
    assert parsed.calls == [] and parsed.unknown == ["rm_rf"]
    assert parsed.text == "Done."


def test_prose_that_only_looks_like_a_call_is_left_alone() -> None:
    text = 'A user looks like {"name": "Alice", "parameters": {}}; here is code:\n```python\nprint(1 + 1)\n```'
    assert parse_tool_calls(text, ALLOWED) == (text, [])


def test_plain_answers_pass_through_unchanged() -> None:
    assert parse_tool_calls("The answer is 4.", ALLOWED) == ("The answer is 4.", [])


def test_prefixed_and_differently_cased_names_resolve_to_the_offered_tool() -> None:
    _, calls = parse_tool_calls('<tool_call>{"name": "functions.Get-Weather", "arguments": {"city": "X"}}</tool_call>', ALLOWED)
    assert [c.name for c in calls] == ["get_weather"]


def test_arguments_that_are_not_json_travel_raw_for_the_tool_to_judge() -> None:
    _, [found] = parse_tool_calls('{"action": "calculator", "action_input": "2+2"}', ALLOWED)
    assert found.arguments == {"_raw_arguments": "2+2"}


def test_every_call_gets_its_own_id() -> None:
    _, calls = parse_tool_calls('[get_weather(city="a"), get_weather(city="b")]', ALLOWED)
    assert calls[0].id != calls[1].id


def test_tool_prompt_lists_each_tool_and_shows_the_protocol() -> None:
    spec = ToolSpec(name="calculator", description="Evaluate.", parameters={
        "type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]})
    prompt = tool_prompt([spec])
    assert '{"name":"calculator","description":"Evaluate."' in prompt
    assert '<tool_call>{"name":"calculator","arguments":{"expression":"..."}}</tool_call>' in prompt


def test_text_history_renders_calls_and_results_and_merges_user_turns() -> None:
    history = [
        Message.system("s"),
        Message.user("2+2?"),
        Message.assistant("Checking.", [ToolCall(id="1", name="calculator", arguments={"expression": "2+2"})]),
        Message.tool("4", tool_call_id="1", name="calculator"),
        Message.user("and now?"),
    ]
    out = render_text_history(history)
    assert [m.role for m in out] == ["system", "user", "assistant", "user"]
    assert out[2].content == 'Checking.\n<tool_call>{"name":"calculator","arguments":{"expression":"2+2"}}</tool_call>'
    assert out[3].content == '<tool_response name="calculator">\n4\n</tool_response>\n\nand now?'
    assert not any(m.tool_calls for m in out)


def test_guard_streams_plain_text_and_holds_back_call_markup() -> None:
    guard = TextGuard()
    pieces = ["Let me ", "look. <to", 'ol_call>{"name": "get_weather", "arguments": {}}</tool_call>']
    shown = "".join(guard.feed(p) for p in pieces)
    assert shown == "Let me look. "
    assert guard.finish("Let me look.") == ""


def test_guard_releases_a_false_alarm_and_the_rest_at_the_end() -> None:
    guard = TextGuard()
    shown = guard.feed("a < b and [1, 2] hold; ") + guard.feed("more text")
    assert "a < b" in shown
    assert shown + guard.finish("a < b and [1, 2] hold; more text") == "a < b and [1, 2] hold; more text"


def test_action_schema_offers_each_tool_and_a_final_answer() -> None:
    spec = ToolSpec(name="f", parameters={"type": "object", "properties": {"p": {"$ref": "#/$defs/P"}},
                                          "$defs": {"P": {"type": "integer"}}})
    schema = action_schema([spec])
    assert schema["oneOf"][0]["properties"]["arguments"]["properties"]["p"] == {"type": "integer"}
    assert schema["oneOf"][1]["properties"]["final_answer"]["type"] == "string"


def test_a_json_action_becomes_a_call_or_the_answer() -> None:
    assert parse_action('{"final_answer": " 42 "}', {"f"}) == ("42", [])
    text, [found] = parse_action('{"tool": "f", "arguments": {"p": 1}}', {"f"})
    assert (text, found.name, found.arguments) == ("", "f", {"p": 1})


# --- a call is made only where the reply makes it ------------------------------------------------

CUT_CALLS = [
    ("hermes", '<tool_call>{"name": "calculator", "arguments": {"expression": "2+'),
    ("hermes, object one brace short", '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}'),
    ("mistral [ARGS]", '[TOOL_CALLS]calculator[ARGS]{"expression": "1'),
    ("qwen3-coder", "<tool_call>\n<function=get_weather>\n<parameter=city>\nPar"),
    ("glm", "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Bei"),
    ("minimax", '<minimax:tool_call><invoke name="get_weather"><parameter name="city">Par'),
    ("kimi", "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{\"ci"),
    ("harmony", '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "S'),
    ("bare json", 'I will check. {"name": "get_weather", "arguments": {"city": "Par'),
]


@pytest.mark.parametrize("source,text", CUT_CALLS, ids=[c[0] for c in CUT_CALLS])
def test_a_call_cut_off_by_the_end_of_the_reply_is_not_made(source: str, text: str) -> None:
    parsed = extract_tool_calls(text, ALLOWED)
    assert parsed.calls == []
    assert "<tool_call>" not in parsed.text and "[TOOL_CALLS]" not in parsed.text


def test_a_cut_call_in_markup_is_reported_as_truncated() -> None:
    assert extract_tool_calls('<tool_call>{"name": "calculator", "arguments": {"expr', ALLOWED).truncated == 1


def test_lenient_json_never_closes_what_the_text_left_open() -> None:
    from assistant.toolcall_text.lenient_json import IncompleteJSONError, decode_at, loads_lenient

    with pytest.raises(IncompleteJSONError):
        loads_lenient('{"a": [1, 2')
    with pytest.raises(IncompleteJSONError):
        decode_at('call {"a": "b', 5)
    assert loads_lenient("{'a': 1, 'b': [True, None],}") == {"a": 1, "b": [True, None]}
    assert loads_lenient('{"a": 1', close_open=True) == {"a": 1}


def test_a_call_drafted_in_reasoning_is_not_made_and_the_one_after_it_is() -> None:
    draft = '<tool_call>{"name": "get_weather", "arguments": {"city": "Draft"}}</tool_call>'
    real = '<tool_call>{"name": "get_weather", "arguments": {"city": "Real"}}</tool_call>'
    for text in (f"<think>Maybe {draft}</think>{real}", f"[THINK]Maybe {draft}[/THINK]{real}",
                 f"<seed:think>Maybe {draft}</seed:think>{real}", f"Maybe {draft}\n</think>\n{real}"):
        _, calls = parse_tool_calls(text, ALLOWED)
        assert [c.arguments for c in calls] == [{"city": "Real"}], text


def test_a_call_drafted_in_reasoning_and_then_dropped_is_no_call() -> None:
    text = '<think>I could <tool_call>{"name": "calculator", "arguments": {"expression": "1"}}</tool_call></think>It is 1.'
    assert parse_tool_calls(text, ALLOWED) == ("It is 1.", [])


def test_strict_formats_never_call_from_reasoning_left_open() -> None:
    deepseek = ('<think>plan <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city":"X"}'
                "<｜tool▁call▁end｜><｜tool▁calls▁end｜>")
    harmony = ('<|channel|>analysis<|message|>draft <|start|>assistant<|channel|>commentary to=functions.get_weather '
               '<|constrain|>json<|message|>{"city":"X"}<|call|>')
    assert parse_tool_calls(deepseek, ALLOWED)[1] == [] and parse_tool_calls(harmony, ALLOWED)[1] == []


def test_reasoning_leaves_the_text_and_is_reported_apart() -> None:
    parsed = extract_tool_calls("<think>The user wants 4.</think>\n\nThe answer is 4.", ALLOWED)
    assert (parsed.text, parsed.reasoning) == ("The answer is 4.", "The user wants 4.")


EXAMPLES = [
    ("fence introduced as an example",
     'For example, you could call:\n```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```'),
    ("documentation fence", "## Format\nEmit one block per call:\n```text\n<tool_call>get_weather\n"
     "<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>\n```"),
    ("inline code", 'Reply with `<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>` to call it.'),
    ("prose example", 'For example: <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'),
    ("suggestion", 'I can suggest using get_weather:\n{"name": "get_weather", "arguments": {"city": "Paris"}}'),
    ("blockquote", '> <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'),
    ("code sample", "Here's how:\n```python\nresult = get_weather(city='Paris')\nprint(result)\n```"),
    ("tool definition echoed", '{"name": "get_weather", "description": "Weather.", "parameters": '
     '{"type": "object", "properties": {"city": {"type": "string"}}}}'),
]


@pytest.mark.parametrize("source,text", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_text_that_shows_a_call_without_making_it_is_left_as_written(source: str, text: str) -> None:
    assert parse_tool_calls(text, ALLOWED) == (text, [])


@pytest.mark.parametrize("text", [
    '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
    '```xml\n<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>\n```',
    'Here is the tool call:\n```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
])
def test_a_fenced_call_that_is_the_reply_or_announced_as_a_call_is_made(text: str) -> None:
    rest, calls = parse_tool_calls(text, ALLOWED)
    assert [(c.name, c.arguments) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert "```" not in rest


def test_values_written_as_text_follow_the_tool_schema() -> None:
    spec = ToolSpec(name="get_weather", parameters={"type": "object", "properties": {
        "date": {"type": "string"}, "days": {"type": "integer"}, "metric": {"type": "boolean"},
        "places": {"type": "array"}}})
    text = ("<tool_call>\n<function=get_weather>\n<parameter=date>\n2025\n</parameter>\n<parameter=days>\n3\n</parameter>\n"
            '<parameter=metric>\nTrue\n</parameter>\n<parameter=places>\n["a"]\n</parameter>\n</function>\n</tool_call>')
    _, [call] = parse_tool_calls(text, ALLOWED, specs=[spec])
    assert call.arguments == {"date": "2025", "days": 3, "metric": True, "places": ["a"]}
    _, [guessed] = parse_tool_calls(text, ALLOWED)
    assert guessed.arguments["date"] == 2025


def test_a_qwen3_coder_value_keeps_everything_but_its_own_line_breaks() -> None:
    text = "<tool_call>\n<function=calculator>\n<parameter=expression>\n  1 +\n2\n\n</parameter>\n</function>\n</tool_call>"
    _, [call] = parse_tool_calls(text, ALLOWED)
    assert call.arguments == {"expression": "  1 +\n2\n"}


def test_a_gpt_oss_builtin_recipient_is_not_a_function_call() -> None:
    parsed = extract_tool_calls('<|channel|>commentary to=browser.search <|constrain|>json<|message|>{"query":"x"}<|call|>',
                                {"search"})
    assert parsed.calls == [] and parsed.unknown == ["browser.search"]


NEW_FORMATS = [
    ("deepseek v3.2 dsml", 'Let me look.\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name="get_weather">\n'
     '<｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>',
     {"city": "Paris"}, "Let me look."),
    ("step-3", '<｜tool_calls_begin｜><｜tool_call_begin｜><steptml:invoke name="get_weather"><steptml:parameter name="city">'
     "Paris</steptml:parameter></steptml:invoke><｜tool_call_end｜><｜tool_calls_end｜>", {"city": "Paris"}, ""),
    ("functionary v3.2", '>>>get_weather\n{"city": "Paris"}', {"city": "Paris"}, ""),
    ("command a", '<|START_THINKING|>weather<|END_THINKING|><|START_ACTION|>[{"tool_call_id": "0", "tool_name": '
     '"get_weather", "parameters": {"city": "Paris"}}]<|END_ACTION|>', {"city": "Paris"}, ""),
    ("internlm", 'Checking. <|action_start|><|plugin|>{"name": "get_weather", "parameters": {"city": "Paris"}}<|action_end|>',
     {"city": "Paris"}, "Checking."),
    ("lfm2", '<|tool_call_start|>[get_weather(city="Paris")]<|tool_call_end|>', {"city": "Paris"}, ""),
    ("llama 4", 'Sure. <|python_start|>[get_weather(city="Paris")]<|python_end|>', {"city": "Paris"}, "Sure."),
    ("apertus", '<|tools_prefix|>[{"get_weather": {"city": "Paris"}}]<|tools_suffix|>', {"city": "Paris"}, ""),
    ("harmony, recipient in the role header", '<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant '
     'to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city": "Paris"}<|call|>',
     {"city": "Paris"}, ""),
    ("mistral call id", '[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Paris"}', {"city": "Paris"}, ""),
]


@pytest.mark.parametrize("source,text,arguments,clean", NEW_FORMATS, ids=[f[0] for f in NEW_FORMATS])
def test_more_model_formats_are_parsed(source: str, text: str, arguments: dict[str, Any], clean: str) -> None:
    rest, calls = parse_tool_calls(text, ALLOWED)
    assert [(c.name, c.arguments) for c in calls] == [("get_weather", arguments)]
    assert rest == clean


@pytest.mark.parametrize("source,text,arguments,clean", NEW_FORMATS, ids=[f[0] for f in NEW_FORMATS])
def test_guard_streams_no_markup_or_reasoning_of_any_format(source: str, text: str, arguments: Any, clean: str) -> None:
    guard = TextGuard()
    shown = "".join(guard.feed(ch) for ch in text)
    assert clean.startswith(shown.strip())
    assert (shown + guard.finish(parse_tool_calls(text, ALLOWED)[0])).strip() == clean


def test_guard_keeps_reasoning_out_and_streams_the_answer_after_it() -> None:
    guard = TextGuard()
    shown = "".join(guard.feed(p) for p in ["<think>The user ", "wants 4.</think>", "\n\nThe answer ", "is 4 and more text."])
    assert "user" not in shown and shown.startswith("The answer")
    assert guard.finish("The answer is 4 and more text.") == "The answer is 4 and more text."[len(shown):]


def test_guard_holds_back_a_pythonic_call_list() -> None:
    guard = TextGuard()
    shown = "".join(guard.feed(ch) for ch in 'Sure. [get_weather(city="Paris")]')
    assert "get_weather" not in shown


def test_a_closing_tag_inside_an_argument_string_does_not_end_the_call() -> None:
    text = '<tool_call>{"name": "web_search", "arguments": {"query": "what does </tool_call> mean"}}</tool_call> Done.'
    rest, calls = parse_tool_calls(text, ALLOWED)
    assert [c.arguments for c in calls] == [{"query": "what does </tool_call> mean"}] and rest == "Done."
