"""Grammar-constrained actions for llama.cpp: every reply is one valid JSON action, even from a 135M model.

The schema is a ``oneOf``: one branch per offered tool (``{"thought": ..., "tool": <const name>,
"arguments": <its parameters>}``) and a final-answer branch (``{"thought": ..., "final_answer": <string>}``).
llama.cpp turns the schema sent as ``response_format`` into a GBNF grammar, so the model cannot write
anything else. Every action starts with a short ``thought``: without it the grammar forces the choice
between a tool and an answer in the first tokens, and capable small models answered from memory instead
of reading the file they had been asked about (Qwen2.5-Coder-1.5B went from 0/6 to 6/6 on time and file
tasks with it). Both strings are capped, so a looping model ends instead of filling the window.

    request_schema = action_schema(specs)
    text, calls = parse_action(reply_text, allowed={"calculator"})
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from typing import Any

from ..messages import Message, ToolCall, ToolSpec, new_call_id
from ..toolcall_text import extract_tool_calls, render_text_history
from ..toolcall_text.lenient_json import loads_lenient

__all__ = ["action_schema", "action_prompt", "parse_action", "render_action_history", "without_repeats",
           "RESULT_HINT", "FAILED_HINT"]

_MAX_INLINE_DEPTH = 8
THOUGHT_MAX_CHARS = 300
ANSWER_MAX_CHARS = 2000
RESULT_HINT = "Use this result: give the final answer now, or call another tool if the task needs more."
FAILED_HINT = ("The tool failed (see the error above). Do not give the error as your answer: fix the arguments, "
               "try another tool, or answer from what you know and say what you could not check.")
_THOUGHT = {"type": "string", "maxLength": THOUGHT_MAX_CHARS}


def action_schema(tools: Iterable[ToolSpec]) -> dict[str, Any]:
    """JSON Schema of one action: a call to one of ``tools`` or the final answer.

        schema = action_schema([calculator.spec()])   # send as ChatRequest.response_schema
    """
    branches: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"thought": _THOUGHT, "tool": {"const": spec.name}, "arguments": _inline_refs(spec.parameters)},
            "required": ["thought", "tool", "arguments"],
            "additionalProperties": False,
        }
        for spec in tools
    ]
    branches.append(
        {
            "type": "object",
            "properties": {"thought": _THOUGHT,
                           "final_answer": {"type": "string", "minLength": 1, "maxLength": ANSWER_MAX_CHARS}},
            "required": ["thought", "final_answer"],
            "additionalProperties": False,
        }
    )
    return {"oneOf": branches}


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with local ``$ref``s replaced by their targets (a branch cannot reach the root's
    ``$defs`` once nested); recursion past a few levels becomes a plain object."""
    defs = schema.get("$defs") or schema.get("definitions") or {}

    def walk(node: Any, depth: int) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
                target = defs.get(ref.rsplit("/", 1)[-1])
                if target is None or depth >= _MAX_INLINE_DEPTH:
                    return {"type": "object"}
                return walk(target, depth + 1)
            return {k: walk(v, depth) for k, v in node.items() if k not in ("$defs", "definitions")}
        if isinstance(node, list):
            return [walk(v, depth) for v in node]
        return node

    out = walk(schema, 0)
    out.setdefault("type", "object")
    out.setdefault("properties", {})
    return out


def _argument_summary(spec: ToolSpec) -> str:
    props = spec.parameters.get("properties") or {}
    required = set(spec.parameters.get("required") or [])
    parts = []
    for name, prop in props.items():
        kind = prop.get("type", "value") if isinstance(prop, dict) else "value"
        parts.append(f'"{name}": {kind}{"" if name in required else " (optional)"}')
    return "{" + ", ".join(parts) + "}"


def action_prompt(tools: Iterable[ToolSpec]) -> str:
    """The short system-prompt text that explains the JSON actions (small models need it short, and
    concrete: a placeholder like ``<your answer>`` is copied verbatim by a 1.5B model).

        system = "You are helpful.\n\n" + action_prompt(specs)
    """
    specs = list(tools)
    answer = '{"thought": "This is general knowledge.", "final_answer": "The capital of France is Paris."}'
    if not specs:
        return f"Reply with one JSON object. For example, asked for the capital of France, reply:\n{answer}"
    listing = "\n".join(
        f"- {spec.name}: {spec.description or 'no description'} Arguments: {_argument_summary(spec)}" for spec in specs
    )
    first = specs[0]
    call = json.dumps({"thought": f"I need {first.name} for this.", "tool": first.name,
                       "arguments": _example_arguments(first)})
    return (
        'Reply with one JSON object and nothing else. First think in "thought" (one short sentence), then either '
        'call a tool ("tool" and "arguments") or answer the user ("final_answer").\n'
        f"For example, a call:\n{call}\n"
        f"and, asked for the capital of France, an answer:\n{answer}\n"
        "Use a tool when the task needs something you cannot know (the time, a file, an exact calculation); "
        "once a tool result is in the conversation, answer from it.\n\n"
        f"Tools:\n{listing}"
    )


def _example_arguments(spec: ToolSpec) -> dict[str, Any]:
    """Plausible values for the required arguments of ``spec`` (a worked example, not a template)."""
    props = spec.parameters.get("properties") or {}
    required = spec.parameters.get("required") or []
    examples: dict[str, Any] = {}
    for name in required:
        prop = props.get(name) if isinstance(props.get(name), dict) else {}
        kind = prop.get("type")
        if prop.get("enum"):
            examples[name] = prop["enum"][0]
        elif kind in ("integer", "number"):
            examples[name] = 2
        elif kind == "boolean":
            examples[name] = True
        elif kind == "array":
            examples[name] = []
        elif kind == "object":
            examples[name] = {}
        else:
            examples[name] = _STRING_EXAMPLES.get(name, "2 + 2" if "expr" in name else "notes.txt" if "path" in name else "Paris")
    return examples


_STRING_EXAMPLES = {"expression": "12 * 7", "path": "notes.txt", "url": "https://example.org", "query": "weather in Paris"}


def parse_action(text: str, allowed: Collection[str]) -> tuple[str, list[ToolCall]]:
    """The answer text or the one tool call a JSON action holds. Text that is not an action (a reply
    cut off by the token limit) goes through the tolerant text parser instead.

        parse_action('{"final_answer": "42"}', {"calculator"})   # ("42", [])
    """
    try:
        action = loads_lenient(text)
    except ValueError:
        action = None
    if isinstance(action, dict):
        if isinstance(action.get("final_answer"), str):
            return without_repeats(action["final_answer"].strip()), []
        name = action.get("tool")
        arguments = action.get("arguments")
        if isinstance(name, str) and name in allowed:
            call = ToolCall.model_construct(
                id=new_call_id("call"), name=name, arguments=arguments if isinstance(arguments, dict) else {}, signature=None
            )
            return "", [call]
    parsed = extract_tool_calls(text, allowed)
    return parsed.text, parsed.calls


def render_action_history(messages: Iterable[Message]) -> list[Message]:
    """The history as the action protocol shows it: assistant calls as JSON actions, tool results as
    ``Result of <tool>: ...`` in a user turn, ending with a hint: answer from it, or (a failed tool)
    don't hand the error over as the answer."""
    out: list[Message] = []
    pending: list[str] = []
    failed = False

    def flush() -> None:
        nonlocal failed
        out.append(Message.user("\n".join(pending) + "\n" + (FAILED_HINT if failed else RESULT_HINT)))
        pending.clear()
        failed = False

    for message in messages:
        if message.role == "tool":
            pending.append(f"Result of {message.name or 'the tool'}: {message.content}")
            # The agent's own observations for failed calls start with "Error:" (or "Stopped:").
            failed = failed or message.content.startswith(("Error:", "Stopped:"))
            continue
        if pending:
            flush()
        out.append(message)
    if pending:
        flush()
    # Reuses the text renderer for assistant turns and for merging adjacent user turns.
    return render_text_history(out, call_format="action")


_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*\s*")


def without_repeats(text: str) -> str:
    """The answer with a sentence that repeats itself back to back kept once (a looping small model:
    ``391. 391. 391.``); other text is untouched.

        without_repeats("It is 391. It is 391. It is 391.")   # "It is 391."
    """
    pieces = _SENTENCE.findall(text)
    if len(pieces) < 3:
        return text
    kept: list[str] = []
    for piece in pieces:
        if kept and piece.strip() and piece.strip() == kept[-1].strip():
            continue
        kept.append(piece)
    return "".join(kept).strip() if len(kept) < len(pieces) else text
