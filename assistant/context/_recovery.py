"""Two smaller recoveries: an answer cut by the output limit, and Ollama's silent truncation.

A reply that stops with ``finish_reason="length"`` in the middle of its text is continued: the partial
answer goes back as the assistant's turn with an instruction to go on, and the parts are joined
(with any repeated overlap removed), for at most ``max_rounds`` more calls and only while the request
still fits the window.

Ollama does not reject a prompt longer than its ``num_ctx``: it keeps about the last ``num_ctx / 2``
tokens and answers with HTTP 200 (ollama/ollama#3839, #17427: "prompt_eval_count: 16387" for a 160k
prompt with num_ctx 32768). We send ``num_ctx`` from the catalog and treat a ``prompt_eval_count``
well below our estimate as an overflow.

    response = await continue_if_cut(call, messages, response, budget_tokens=3500)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..catalog._probe import OLLAMA_NUM_CTX_CAP
from ..messages import ChatResponse, Message
from .tokens import estimate_tokens

__all__ = [
    "CONTINUE_INSTRUCTION",
    "build_continuation",
    "join_parts",
    "continue_if_cut",
    "ollama_truncated",
    "num_ctx_for",
    "OLLAMA_NUM_CTX_CAP",
]

CONTINUE_INSTRUCTION = (
    "Your previous message was cut off by the output limit. Continue exactly where it stopped: do not "
    "repeat anything and add no preamble."
)

# A truncated Ollama prompt reports about num_ctx/2 + 2 tokens; our estimate overshoots real counts by
# at most ~1.7x on odd text, so "below half the estimate" separates the two.
_TRUNCATION_RATIO = 0.5
_MAX_OVERLAP = 200


def build_continuation(messages: Sequence[Message], partial_text: str) -> list[Message]:
    """The request messages that ask the model to go on from ``partial_text``.

        msgs = build_continuation(history, response.text)
    """
    return [*messages, Message.assistant(partial_text), Message.user(CONTINUE_INSTRUCTION)]


def join_parts(first: str, second: str) -> str:
    """``first`` + ``second`` without the overlap a model repeats when it restarts its last words.

        join_parts("The capital of Fra", "France is Paris.")  # -> "The capital of France is Paris."
    """
    if not first:
        return second
    stripped = second.lstrip()
    for size in range(min(len(first), len(stripped), _MAX_OVERLAP), 3, -1):
        if first.endswith(stripped[:size]):
            return first + stripped[size:]
    # A word cut in the middle ("Fra" + "France"): the continuation restarts the word.
    tail = first.rsplit(None, 1)[-1] if first.strip() else ""
    if tail and not first[-1].isspace() and stripped.startswith(tail) and len(stripped) > len(tail):
        return first[: len(first) - len(tail)] + stripped
    return first + second


def _cut_mid_answer(response: ChatResponse) -> bool:
    return response.finish_reason == "length" and not response.tool_calls and bool(response.text.strip())


async def continue_if_cut(
    call: Callable[[list[Message]], Awaitable[ChatResponse]],
    messages: Sequence[Message],
    response: ChatResponse,
    max_rounds: int = 2,
    *,
    budget_tokens: int | None = None,
    model_id: str | None = None,
) -> ChatResponse:
    """``response`` with its text completed when it was cut by the output limit mid-answer; each round
    is ``await call(messages)``. Stops after ``max_rounds`` calls, when an answer ends on its own, or
    when the continuation request would not fit ``budget_tokens`` (prompt tokens). Usage and attempts
    of every round are added up; ``finish_reason`` is the last round's.

        done = await continue_if_cut(lambda m: router.chat(model, m, max_tokens=512), history, resp)
    """
    if not _cut_mid_answer(response):
        return response
    text = response.text
    usage = response.usage
    attempts = list(response.attempts)
    last = response
    for _ in range(max_rounds):
        request = build_continuation(messages, text)
        if budget_tokens is not None and estimate_tokens(request, model_id=model_id) > budget_tokens:
            break
        last = await call(request)
        text = join_parts(text, last.text)
        usage = usage + last.usage
        attempts += last.attempts
        if not _cut_mid_answer(last):
            break
    return response.model_copy(
        update={"text": text, "finish_reason": last.finish_reason, "raw_finish_reason": last.raw_finish_reason,
                "usage": usage, "attempts": attempts}
    )


def ollama_truncated(estimate: int, prompt_eval_count: int | None, num_ctx: int | None = None) -> bool:
    """True when Ollama most likely cut the prompt: it evaluated far fewer tokens than we estimated.
    A missing or zero count proves nothing (Ollama omits it for cached prompts, ollama/ollama#3427),
    and a prompt we estimate inside ``num_ctx`` was not cut (a low count is then the prompt cache).

        if ollama_truncated(estimate_tokens(msgs), resp.usage.input_tokens, num_ctx=8192): ...
    """
    if not prompt_eval_count or estimate <= 0:
        return False
    if num_ctx is not None and estimate <= num_ctx:
        return False
    return prompt_eval_count < estimate * _TRUNCATION_RATIO


def num_ctx_for(model_id: str, catalog: Any) -> int | None:
    """The ``num_ctx`` to send to Ollama for ``model_id`` (via ``ChatRequest.extra["num_ctx"]``): the
    catalog's window, capped at ``OLLAMA_NUM_CTX_CAP``; None when the window is unknown.

        extra = {"num_ctx": n} if (n := num_ctx_for("ollama/qwen3:8b", catalog)) else {}
    """
    info = catalog.get(model_id) if catalog is not None else None
    window = getattr(info, "context_window", None)
    if not window:
        return None
    return min(int(window), OLLAMA_NUM_CTX_CAP)
