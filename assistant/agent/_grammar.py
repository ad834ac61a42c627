"""Grammar-constrained actions for llama.cpp: every reply is one valid JSON action, even from a 135M model.

The schema is a ``oneOf``: one branch per offered tool (``{"tool": <const name>, "arguments": <its
parameters>}``) and a final-answer branch (``{"final_answer": <string>}``). llama.cpp turns the schema
sent as ``response_format`` into a GBNF grammar, so the model cannot write anything else.

    request_schema = action_schema(specs)
    text, calls = parse_action(reply_text, allowed={"calculator"})
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from ..messages import Message, ToolCall, ToolSpec, new_call_id
from ..toolcall_text import extract_tool_calls, render_text_history
from ..toolcall_text.lenient_json import loads_lenient

__all__ = ["action_schema", "action_prompt", "parse_action", "render_action_history", "RESULT_HINT"]

_MAX_INLINE_DEPTH = 8
RESULT_HINT = "Now write the final answer using this result (or call another tool if the task needs more)."


def action_schema(tools: Iterable[ToolSpec]) -> dict[str, Any]:
    """JSON Schema of one action: a call to one of ``tools`` or the final answer.

        schema = action_schema([calculator.spec()])   # send as ChatRequest.response_schema
    """
    branches: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"tool": {"const": spec.name}, "arguments": _inline_refs(spec.parameters)},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for spec in tools
    ]
    branches.append(
        {
            "type": "object",
            "properties": {"final_answer": {"type": "string", "minLength": 1}},
            "required": ["final_answer"],
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
    """The short system-prompt text that explains the JSON actions (small models need it short).

        system = "You are helpful.\\n\\n" + action_prompt(specs)
    """
    specs = list(tools)
    if not specs:
        return 'Answer by writing one JSON object: {"final_answer": "<your answer>"}.'
    listing = "\n".join(
        f"- {spec.name}: {spec.description or 'no description'} Arguments: {_argument_summary(spec)}" for spec in specs
    )
    return (
        "Answer by writing one JSON object.\n"
        'To use a tool, write {"tool": "<tool name>", "arguments": {<arguments>}}.\n'
        'To answer the user, write {"final_answer": "<your answer>"}.\n'
        "When a tool result is in the conversation, use it in your final answer.\n\n"
        f"Tools:\n{listing}"
    )


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
            return action["final_answer"].strip(), []
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
    ``Result of <tool>: ...`` in a user turn, ending with a hint to answer."""
    out: list[Message] = []
    pending: list[str] = []
    for message in messages:
        if message.role == "tool":
            pending.append(f"Result of {message.name or 'the tool'}: {message.content}")
            continue
        if pending:
            out.append(Message.user("\n".join(pending) + "\n" + RESULT_HINT))
            pending = []
        out.append(message)
    if pending:
        out.append(Message.user("\n".join(pending) + "\n" + RESULT_HINT))
    # Reuses the text renderer for assistant turns and for merging adjacent user turns.
    return render_text_history(out, call_format="action")
