"""Grammar-constrained actions on the real llama.cpp server running SmolLM2-135M: even this small
model answers every tool step with a valid action."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.agent import Agent
from assistant.agent._grammar import action_prompt, action_schema
from assistant.agent.tools import Tool
from assistant.messages import ChatRequest, Message, ToolSpec
from assistant.providers import create_client
from assistant.registry import LLMRegistry

pytestmark = pytest.mark.llama


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression.

    Args:
        expression: Arithmetic like "2 + 3 * 4".
    """
    from tools.calculator import calculator as real

    return real(expression)


CALC = Tool(calculator).spec()


def is_action(value: Any, tools: list[ToolSpec]) -> bool:
    """True for exactly one schema branch: a known tool with object arguments, or a final answer."""
    if not isinstance(value, dict) or not isinstance(value.get("thought"), str):
        return False
    if set(value) == {"thought", "final_answer"}:
        return isinstance(value["final_answer"], str) and bool(value["final_answer"])
    names = {t.name for t in tools}
    return set(value) == {"thought", "tool", "arguments"} and value["tool"] in names and isinstance(value["arguments"], dict)


async def ask(llama_url: str, messages: list[Message], tools: list[ToolSpec]) -> str:
    client = create_client("llama", base_url=llama_url)
    try:
        response = await client.chat(ChatRequest(
            model="smollm2", messages=messages, response_schema=action_schema(tools), max_tokens=200, temperature=0,
        ))
    finally:
        await client.aclose()
    return response.text


async def test_the_grammar_makes_the_small_model_call_the_tool(llama_url: str) -> None:
    system = Message.system(action_prompt([CALC]))
    text = await ask(llama_url, [system, Message.user("What is 12*7?")], [CALC])
    action = json.loads(text)
    assert is_action(action, [CALC])
    assert action["tool"] == "calculator"
    Tool(calculator).validate(action["arguments"])


@pytest.mark.parametrize("task", ["Say hello.", "What is the capital of France?", "Compute 2+3 and explain."])
async def test_every_reply_under_the_grammar_is_a_valid_action(llama_url: str, task: str) -> None:
    system = Message.system(action_prompt([CALC]))
    assert is_action(json.loads(await ask(llama_url, [system, Message.user(task)], [CALC])), [CALC])


async def test_the_final_answer_branch_alone_forces_an_answer(llama_url: str) -> None:
    messages = [
        Message.system(action_prompt([])),
        Message.user("What is 12*7?"),
        Message.assistant('{"tool": "calculator", "arguments": {"expression": "12*7"}}'),
        Message.user("Result of calculator: 84\nNow write the final answer using this result."),
    ]
    action = json.loads(await ask(llama_url, messages, []))
    assert set(action) == {"thought", "final_answer"} and action["final_answer"].strip()


async def test_the_agent_runs_a_tool_task_on_the_local_model(llama_url: str) -> None:
    # SmolLM2-135M is the protocol model: whether it picks the tool is up to it (with a "thought" first it
    # often answers from memory); every step must still be a clean action through the grammar.
    registry = LLMRegistry()
    registry.add_provider("llama", kind="llama", base_url=llama_url)
    async with Agent("llama/smollm2", [calculator], max_steps=2, temperature=0, registry=registry) as agent:
        result = await agent.run("Use the calculator tool to compute 12*7.")
    first = result.steps[0]
    assert first.mode == "grammar" and first.model == "llama/smollm2"
    assert [c.name for c in first.tool_calls] in ([], ["calculator"])
    assert result.output.strip() and "{" not in result.output
    assert all(r.outcome not in ("invalid_arguments", "unknown_tool") for s in result.steps for r in s.tool_results)
    assert result.stop_reason in ("final", "max_steps") and isinstance(result.output, str)
