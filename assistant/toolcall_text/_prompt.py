"""The prompt that teaches a model without native tool calling the ``<tool_call>`` protocol, and the
history rendered as plain text for it.

    system += "\\n\\n" + tool_prompt(specs)
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from ..messages import Message, ToolCall, ToolSpec

__all__ = ["tool_prompt", "render_text_history"]


_PLACEHOLDER = {"string": "...", "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}


def _example_arguments(parameters: dict) -> dict:
    props = parameters.get("properties") or {}
    required = parameters.get("required") or list(props)[:1]
    example = {}
    for name in required:
        prop = props.get(name) or {}
        kind = prop.get("type")
        if "enum" in prop and prop["enum"]:
            example[name] = prop["enum"][0]
        else:
            example[name] = _PLACEHOLDER.get(kind if isinstance(kind, str) else "string", "...")
    return example


def tool_prompt(tools: Iterable[ToolSpec]) -> str:
    """The protocol text added to the system prompt when the model has no native tool calling.

        system = "You are helpful.\\n\\n" + tool_prompt([calculator.spec()])
    """
    specs = list(tools)
    listing = "\n".join(
        orjson.dumps({"name": s.name, "description": s.description, "parameters": s.parameters}).decode() for s in specs
    )
    first = specs[0] if specs else ToolSpec(name="tool_name")
    example = orjson.dumps({"name": first.name, "arguments": _example_arguments(first.parameters)}).decode()
    return (
        "# Tools\n\n"
        "You can call the tools below. Each line is one tool: its name, what it does, and a JSON Schema "
        "of its arguments.\n"
        f"<tools>\n{listing}\n</tools>\n\n"
        "To call a tool, write a <tool_call> block holding a JSON object with the tool's name and its "
        "arguments, exactly like this:\n"
        f"<tool_call>{example}</tool_call>\n"
        "Write one block per call (several blocks call several tools) and stop after the last block: "
        "the results come back in the next message inside <tool_response> blocks. "
        "When you have what you need, reply with the answer as plain text, without any <tool_call> block."
    )


def render_text_history(messages: Iterable[Message], *, call_format: str = "tool_call") -> list[Message]:
    """The history for a model that only reads text: tool calls as ``<tool_call>`` blocks (or the
    JSON action objects of the grammar protocol with ``call_format="action"``), tool results as
    ``<tool_response>`` blocks in a user turn, and no two user turns in a row.

        wire_messages = render_text_history(history)
    """
    out: list[Message] = []
    for message in messages:
        if message.role == "assistant":
            blocks = [_render_call(call, call_format) for call in message.tool_calls]
            content = "\n".join(part for part in (message.content.strip(), *blocks) if part)
            out.append(Message.model_construct(role="assistant", content=content, tool_calls=[], tool_call_id=None,
                                               name=None, reasoning=None, opaque={}))
        elif message.role == "tool":
            text = f'<tool_response name="{message.name or "tool"}">\n{message.content}\n</tool_response>'
            _append_user(out, text)
        elif message.role == "user":
            _append_user(out, message.content)
        else:
            out.append(message)
    return out


def _render_call(call: ToolCall, call_format: str) -> str:
    if call_format == "action":
        return orjson.dumps({"tool": call.name, "arguments": call.arguments}).decode()
    return "<tool_call>" + orjson.dumps({"name": call.name, "arguments": call.arguments}).decode() + "</tool_call>"


def _append_user(out: list[Message], text: str) -> None:
    # Several chat templates (Mistral, Gemma) reject two user turns in a row.
    if out and out[-1].role == "user":
        out[-1] = Message.user(out[-1].content + "\n\n" + text)
    else:
        out.append(Message.user(text))


