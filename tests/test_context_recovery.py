"""Length continuation and Ollama's silent truncation."""

from __future__ import annotations

from aiohttp import web

from assistant.catalog import ModelCatalog
from assistant.context import (
    CONTINUE_INSTRUCTION,
    build_continuation,
    continue_if_cut,
    join_parts,
    num_ctx_for,
    ollama_truncated,
)
from assistant.context.tokens import estimate_tokens
from assistant.messages import Attempt, ChatRequest, ChatResponse, Message, ToolCall, Usage
from assistant.providers import create_client

HISTORY = [Message.system("Be thorough."), Message.user("List the planets in order.")]


class ScriptedModel:
    """Answers each call with the next scripted response and records the request messages."""

    def __init__(self, *responses: ChatResponse) -> None:
        self.responses = list(responses)
        self.requests: list[list[Message]] = []

    async def __call__(self, messages: list[Message]) -> ChatResponse:
        self.requests.append(messages)
        return self.responses.pop(0)


def _cut(text: str, tokens: int = 10) -> ChatResponse:
    return ChatResponse(text=text, finish_reason="length", usage=Usage(input_tokens=30, output_tokens=tokens))


def _done(text: str) -> ChatResponse:
    return ChatResponse(text=text, finish_reason="stop", usage=Usage(input_tokens=40, output_tokens=5),
                        attempts=[Attempt(provider="llama", model="smollm2")])


async def test_a_reply_cut_by_the_output_limit_is_continued_and_joined():
    model = ScriptedModel(_done("Saturn, Uranus, Neptune."))
    result = await continue_if_cut(model, HISTORY, _cut("Mercury, Venus, Earth, Mars, Jupiter, "))
    assert result.text == "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus, Neptune."
    assert result.finish_reason == "stop"


async def test_the_continuation_request_carries_the_partial_answer_and_an_instruction():
    model = ScriptedModel(_done("Mars."))
    await continue_if_cut(model, HISTORY, _cut("Mercury, Venus, Earth, "))
    request = model.requests[0]
    assert request[:2] == HISTORY
    assert request[2] == Message.assistant("Mercury, Venus, Earth, ")
    assert request[3] == Message.user(CONTINUE_INSTRUCTION)


async def test_continuation_adds_up_usage_and_attempts():
    result = await continue_if_cut(ScriptedModel(_done("Mars.")), HISTORY, _cut("Mercury, ", tokens=10))
    assert result.usage.output_tokens == 15
    assert result.usage.input_tokens == 70
    assert [a.model for a in result.attempts] == ["smollm2"]


async def test_continuation_stops_after_max_rounds():
    model = ScriptedModel(_cut("b "), _cut("c "), _done("d"))
    result = await continue_if_cut(model, HISTORY, _cut("a "), max_rounds=2)
    assert len(model.requests) == 2
    assert result.text == "a b c "
    assert result.finish_reason == "length"


async def test_continuation_is_not_sent_when_it_would_not_fit_the_window():
    model = ScriptedModel(_done("never"))
    partial = "word " * 400
    budget = estimate_tokens(HISTORY) + 50
    result = await continue_if_cut(model, HISTORY, _cut(partial), budget_tokens=budget)
    assert model.requests == []
    assert result.text == partial


async def test_a_complete_reply_is_returned_untouched():
    model = ScriptedModel()
    response = _done("All eight planets.")
    assert await continue_if_cut(model, HISTORY, response) is response


async def test_a_reply_cut_while_calling_tools_is_not_continued():
    model = ScriptedModel()
    response = ChatResponse(text="", finish_reason="length", tool_calls=[ToolCall(id="c", name="f", arguments={})])
    assert await continue_if_cut(model, HISTORY, response) is response


def test_join_removes_the_overlap_a_model_repeats():
    assert join_parts("Mercury, Venus, Earth", "Venus, Earth, Mars") == "Mercury, Venus, Earth, Mars"


def test_join_rejoins_a_word_cut_in_the_middle():
    assert join_parts("The capital of Fra", "France is Paris.") == "The capital of France is Paris."


def test_join_keeps_plain_continuations_as_they_are():
    assert join_parts("one, two, ", "three.") == "one, two, three."


def test_build_continuation_does_not_change_the_history():
    history = list(HISTORY)
    build_continuation(history, "partial")
    assert history == HISTORY


def test_ollama_count_far_below_the_estimate_is_truncation():
    assert ollama_truncated(estimate=9000, prompt_eval_count=2050, num_ctx=4096)


def test_ollama_count_close_to_the_estimate_is_not_truncation():
    assert not ollama_truncated(estimate=3000, prompt_eval_count=2400)


def test_ollama_missing_count_proves_nothing():
    assert not ollama_truncated(estimate=9000, prompt_eval_count=0)


def test_ollama_low_count_for_a_prompt_that_fits_is_the_prompt_cache():
    assert not ollama_truncated(estimate=3000, prompt_eval_count=40, num_ctx=8192)


def test_num_ctx_comes_from_the_catalog_window():
    catalog = ModelCatalog()
    catalog.learn("ollama/qwen3:8b", context_window=8192)
    assert num_ctx_for("ollama/qwen3:8b", catalog) == 8192


def test_num_ctx_is_capped_for_huge_windows():
    catalog = ModelCatalog()
    catalog.learn("ollama/qwen3:8b", context_window=262_144)
    assert num_ctx_for("ollama/qwen3:8b", catalog) == 32768


def test_num_ctx_is_none_for_an_unknown_model():
    assert num_ctx_for("ollama/never-heard-of-it", ModelCatalog()) is None


def _fake_ollama(num_ctx_seen: list[int]):
    """Answers like Ollama: a prompt over num_ctx is cut to num_ctx/2 + 2 tokens and still gets a 200."""

    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        num_ctx = body.get("options", {}).get("num_ctx", 2048)
        num_ctx_seen.append(num_ctx)
        prompt_tokens = sum(len(m["content"]) // 4 + 5 for m in body["messages"])
        evaluated = prompt_tokens if prompt_tokens <= num_ctx else num_ctx // 2 + 2
        return web.json_response({"model": body["model"], "message": {"role": "assistant", "content": "ok"},
                                  "done": True, "done_reason": "stop", "prompt_eval_count": evaluated, "eval_count": 1})

    return handler


async def test_ollama_silent_truncation_is_detected_through_the_real_client(fake_server):
    seen: list[int] = []
    server = fake_server(_fake_ollama(seen))
    catalog = ModelCatalog()
    catalog.learn("ollama/qwen3:8b", context_window=4096)
    client = create_client("ollama", base_url=server.url)
    messages = [Message.user("summarise this: " + "lorem ipsum dolor " * 2000)]
    try:
        num_ctx = num_ctx_for("ollama/qwen3:8b", catalog)
        response = await client.chat(ChatRequest(model="qwen3:8b", messages=messages, extra={"num_ctx": num_ctx}))
    finally:
        await client.aclose()
    assert seen == [4096]
    estimate = estimate_tokens(messages, model_id="ollama/qwen3:8b")
    assert ollama_truncated(estimate, response.usage.input_tokens, num_ctx=num_ctx)


async def test_ollama_prompt_that_fits_is_not_flagged_through_the_real_client(fake_server):
    server = fake_server(_fake_ollama([]))
    client = create_client("ollama", base_url=server.url)
    messages = [Message.user("What is the capital of Portugal?")]
    try:
        response = await client.chat(ChatRequest(model="qwen3:8b", messages=messages, extra={"num_ctx": 4096}))
    finally:
        await client.aclose()
    estimate = estimate_tokens(messages, model_id="ollama/qwen3:8b")
    assert not ollama_truncated(estimate, response.usage.input_tokens, num_ctx=4096)
