"""The Anthropic Messages wire body from a ``ChatRequest`` (the ``_map_*`` half of the Anthropic client).

Anthropic wants the system prompt at the top level, strict user/assistant alternation, tool results as
``tool_result`` blocks at the front of a user turn, and its own signed thinking blocks sent back
unchanged. Each rule below quotes the 400 it prevents.
"""

from __future__ import annotations

import re
from typing import Any

from ..messages import ChatRequest, Message, ToolSpec
from ._attachments import anthropic_blocks

__all__ = ["map_request", "DEFAULT_MAX_TOKENS", "THINKING_BUDGETS", "SCHEMA_TOOL"]

# The API has no default for max_tokens ("max_tokens: Field required"), so one is always sent.
DEFAULT_MAX_TOKENS = 4096
THINKING_BUDGETS: dict[str, int] = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}
# response_schema is emulated with a tool whose input is the answer (works on every Claude model,
# unlike the newer structured-output beta); the response side turns its input back into text.
SCHEMA_TOOL = "json_answer"
_SCHEMA_DESCRIPTION = "Give your final answer as the input of this tool, following its schema exactly."

# "messages.5: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_...
# Each `tool_use` block must have a corresponding `tool_result` block in the next message."
_NOT_RUN = "This tool call was not run."
# tool_use ids must match ^[a-zA-Z0-9_-]+$; ids made by other providers may not.
_UNSAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")
_THINKING_TYPES = ("thinking", "redacted_thinking")

Block = dict[str, Any]
Turn = dict[str, Any]


def map_request(request: ChatRequest, provider: str, *, stream: bool) -> dict[str, Any]:
    """The JSON body for ``POST /v1/messages``; ``provider`` names whose opaque thinking state is ours.

        request = ChatRequest(model="claude-haiku-4-5", messages=[Message.user("hi")])
        body = map_request(request, "anthropic", stream=False)
    """
    tools, tool_choice = _map_tools(request)
    budget = THINKING_BUDGETS.get(request.reasoning or "off")
    if tool_choice is not None and tool_choice["type"] in ("any", "tool"):
        # "Thinking may not be enabled when tool_choice forces tool use." The forced tool is what the
        # caller needs; thinking is the part we can give up.
        budget = None
    system, turns = _map_messages(request.messages, provider)
    if budget and not _thinking_leads_tool_loop(turns):
        # "When `thinking` is enabled, a final `assistant` message must start with a thinking block
        # (preceeding the lastmost set of `tool_use` and `tool_result` blocks). ... To avoid this
        # requirement, disable `thinking`." Happens when the tool loop began on another provider.
        budget = None
    if not budget:
        # "When thinking is disabled, an `assistant` message in the final position cannot contain `thinking`."
        turns = [_without_thinking(turn) for turn in turns]

    max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": request.model, "max_tokens": max_tokens}
    if system:
        body["system"] = system
    body["messages"] = turns
    if tools:
        body["tools"] = tools
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    if budget:
        # "`max_tokens` must be greater than `thinking.budget_tokens`": the answer keeps its own room.
        if max_tokens <= budget:
            body["max_tokens"] = max_tokens + budget
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    elif request.temperature is not None:
        # Skipped with thinking: "`temperature` may only be set to 1 when thinking is enabled."
        # Anthropic's range is 0..1; OpenAI-tuned settings up to 2 would be a 400.
        body["temperature"] = min(max(request.temperature, 0.0), 1.0)
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if stream:
        body["stream"] = True
    body.update(request.extra)
    return body


# --- tools -------------------------------------------------------------------------------------


def _map_tools(request: ChatRequest) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    tools = [_map_tool(spec) for spec in request.tools]
    choice = request.tool_choice
    if request.response_schema is not None:
        tools.append({"name": SCHEMA_TOOL, "description": _SCHEMA_DESCRIPTION,
                      "input_schema": _object_schema(request.response_schema)})
        if len(tools) == 1 or choice == "none":
            return tools, {"type": "tool", "name": SCHEMA_TOOL}
    if not tools or choice is None:
        # "tool_choice may only be specified while providing tools."
        return tools, None
    mapped = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
    return tools, mapped.get(choice) or {"type": "tool", "name": choice}


def _map_tool(spec: ToolSpec) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": spec.name}
    if spec.description:
        tool["description"] = spec.description
    tool["input_schema"] = _object_schema(spec.parameters)
    return tool


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    # "tools.0.input_schema.type: Field required": Anthropic insists on an explicit object type.
    return schema if "type" in schema else {"type": "object", **schema}


# --- messages ----------------------------------------------------------------------------------


def _map_messages(messages: list[Message], provider: str) -> tuple[str, list[Turn]]:
    system: list[str] = []
    turns: list[Turn] = []
    for message in messages:
        if message.role == "system":
            if message.content.strip():
                system.append(message.content)
            continue
        role, blocks = _map_message(message, provider)
        if not blocks:
            # "all messages must have non-empty content except for the optional final assistant message"
            continue
        if turns and turns[-1]["role"] == role:
            # Anthropic requires strict alternation; consecutive tool results become ONE user turn.
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    _pair_tool_results(turns)
    if turns and turns[-1]["role"] == "assistant":
        _trim_final_assistant(turns[-1])
    return "\n\n".join(system), turns


def _map_message(message: Message, provider: str) -> tuple[str, list[Block]]:
    if message.role == "tool":
        if message.tool_call_id is None:
            return "user", _text_blocks(f"[{message.name or 'tool'} result]\n{message.content}")
        result: Block = {"type": "tool_result", "tool_use_id": _safe_id(message.tool_call_id)}
        if message.content:
            result["content"] = message.content
        return "user", [result]
    if message.role == "user":
        return "user", anthropic_blocks(message) + _text_blocks(message.content)
    blocks = _text_blocks(message.content)
    blocks.extend(
        {"type": "tool_use", "id": _safe_id(call.id), "name": call.name, "input": call.arguments}
        for call in message.tool_calls
    )
    if blocks:
        # Thinking goes first, and only with something after it: "The final block in an assistant
        # message cannot be `thinking`."
        blocks[:0] = _thinking_blocks(message, provider)
    return "assistant", blocks


def _text_blocks(text: str) -> list[Block]:
    # "messages: text content blocks must contain non-whitespace text"
    return [{"type": "text", "text": text}] if text.strip() else []


def _thinking_blocks(message: Message, provider: str) -> list[Block]:
    """Signed thinking this provider produced, sent back verbatim; anyone else's state is dropped."""
    state = message.opaque.get(provider)
    if not isinstance(state, dict):
        return []
    blocks: list[Block] = []
    for item in state.get("thinking") or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "redacted_thinking":
            if item.get("data"):
                blocks.append({"type": "redacted_thinking", "data": item["data"]})
        elif item.get("signature"):
            blocks.append({"type": "thinking", "thinking": item.get("thinking") or "", "signature": item["signature"]})
    return blocks


def _safe_id(call_id: str) -> str:
    return _UNSAFE_ID.sub("_", call_id) or "toolu_unnamed"


def _pair_tool_results(turns: list[Turn]) -> None:
    """Each user turn answers exactly the tool_use ids of the assistant turn before it, results first.

    "unexpected `tool_use_id` found in `tool_result` blocks: toolu_... Each `tool_result` block must
    have a corresponding `tool_use` block in the previous message." Orphans (a trimmed history) become
    text; calls left unanswered get an error result; "tool_result" blocks must come first.
    """
    for i, turn in enumerate(turns):
        if turn["role"] != "user":
            continue
        previous = turns[i - 1]["content"] if i else []
        wanted = [b["id"] for b in previous if b["type"] == "tool_use"]
        results: list[Block] = []
        others: list[Block] = []
        answered: set[str] = set()
        for block in turn["content"]:
            if block["type"] != "tool_result":
                others.append(block)
            elif block["tool_use_id"] in wanted and block["tool_use_id"] not in answered:
                answered.add(block["tool_use_id"])
                results.append(block)
            else:
                others.extend(_text_blocks(f"[tool result {block['tool_use_id']}]\n{block.get('content', '')}"))
        missing = [
            {"type": "tool_result", "tool_use_id": call_id, "content": _NOT_RUN, "is_error": True}
            for call_id in wanted if call_id not in answered
        ]
        turn["content"] = results + missing + others


def _trim_final_assistant(turn: Turn) -> None:
    # A final assistant turn is a prefill: "final assistant content cannot end with trailing whitespace".
    last = turn["content"][-1]
    if last["type"] == "text":
        last["text"] = last["text"].rstrip()


def _thinking_leads_tool_loop(turns: list[Turn]) -> bool:
    if len(turns) < 2 or turns[-1]["role"] != "user":
        return True
    if not any(b["type"] == "tool_result" for b in turns[-1]["content"]):
        return True
    return turns[-2]["content"][0]["type"] in _THINKING_TYPES


def _without_thinking(turn: Turn) -> Turn:
    if turn["role"] != "assistant":
        return turn
    return {"role": "assistant", "content": [b for b in turn["content"] if b["type"] not in _THINKING_TYPES]}
