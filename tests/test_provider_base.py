"""Shared answer-reading pieces: think-tag splitting, tolerant argument parsing, finish reasons, call ids."""

from __future__ import annotations

import pytest

from assistant.messages import new_call_id
from assistant.providers.base import ThinkSplitter, normalize_finish, parse_arguments
from assistant.providers.openai_compat import FINISH_REASONS


def _split(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    reasoning, text = "", ""
    for piece in pieces:
        r, t = splitter.feed(piece)
        reasoning, text = reasoning + r, text + t
    r, t = splitter.flush()
    return reasoning + r, text + t


@pytest.mark.parametrize("pieces", [
    ["<think>plan</think>\nanswer"],
    ["<th", "ink>pl", "an</thi", "nk>", "\n", "answer"],
    ["  <think>plan</think>", "\n\nanswer"],
])
def test_think_tags_at_the_start_become_reasoning(pieces: list[str]) -> None:
    assert _split(pieces) == ("plan", "answer")


def test_text_without_think_tags_passes_through_untouched() -> None:
    assert _split(["Hello ", "<think> is a tag"]) == ("", "Hello <think> is a tag")


def test_an_unclosed_think_block_is_all_reasoning() -> None:
    assert _split(["<think>still thinking", " when cut"]) == ("still thinking when cut", "")


@pytest.mark.parametrize(("raw", "expected"), [
    ("", {}),
    (None, {}),
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": 1}\n```', {"a": 1}),
    ('{"a": [1, 2,],}', {"a": [1, 2]}),
    ('"{\\"a\\": 1}"', {"a": 1}),
    ({"a": 1}, {"a": 1}),
])
def test_arguments_parse_tolerantly(raw, expected) -> None:
    assert parse_arguments(raw) == expected


def test_unparseable_arguments_are_kept_for_the_agent_to_report() -> None:
    assert parse_arguments("{not: json}") == {"_raw_arguments": "{not: json}"}


@pytest.mark.parametrize("raw", ['{"a": 1035, "b": 11', '{"city": "Par', '{"xs": [1, 2', '```json\n{"a": 1'])
def test_arguments_left_open_are_incomplete_not_repaired(raw) -> None:
    assert parse_arguments(raw) == {"_incomplete_arguments": raw}


@pytest.mark.parametrize(("raw", "has_calls", "expected"), [
    ("stop", False, "stop"), ("stop", True, "tool_calls"), (None, True, "tool_calls"), ("length", True, "length"),
    ("function_call", False, "tool_calls"), ("content_filter", False, "content_filter"), ("weird", False, "stop"),
])
def test_finish_reasons_normalise(raw, has_calls, expected) -> None:
    assert normalize_finish(raw, FINISH_REASONS, has_calls) == expected


def test_generated_call_ids_do_not_repeat() -> None:
    ids = {new_call_id() for _ in range(1000)}
    assert len(ids) == 1000


def test_the_unvalidated_make_constructors_set_every_field_the_model_declares() -> None:
    from assistant.messages import ChatResponse, StreamEvent, Usage

    response = ChatResponse.make(text="hi", reasoning=None, tool_calls=[], finish_reason="stop", raw_finish_reason="stop",
                                 usage=Usage.make(input_tokens=3), model="m", provider="p", attempts=[], opaque={})
    for record in (Usage.make(), response, StreamEvent.make("done", response=response)):
        assert set(record.__dict__) == set(type(record).model_fields)
    assert response == ChatResponse(text="hi", finish_reason="stop", raw_finish_reason="stop",
                                    usage=Usage(input_tokens=3), model="m", provider="p")
    assert ChatResponse.model_validate(response.model_dump()) == response
