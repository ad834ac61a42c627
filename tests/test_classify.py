"""classify_error: real provider error bodies in, the right LLMError kind and evidence out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant.errors import (
    ERROR_KINDS,
    BillingError,
    ContextOverflowError,
    LLMError,
    RateLimitError,
    ToolsUnsupportedError,
    classify_error,
)
from assistant.errors import classify_error as classify
from assistant.errors._hints import (
    parse_duration,
    reset_from_headers,
    retry_after_from_headers,
    retry_after_from_text,
    token_numbers,
)

FIXTURES = Path(__file__).parent / "fixtures" / "errors"
FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))
# Bodies set aside before the rules were written ("split": "heldout"): asserted only as aggregate rates, so a
# rule is never written to make one of them pass. Every other body is asserted one by one.
HELDOUT_FILES = [p for p in FIXTURE_FILES if json.loads(p.read_text(encoding="utf-8")).get("split") == "heldout"]
ASSERTED_FILES = [p for p in FIXTURE_FILES if p not in HELDOUT_FILES]
# The OpenRouter recording's X-RateLimit-Reset (1754667660000 ms) is one minute after this moment.
NOW = 1754667600.0
# A public URL, or a recording in a repository pinned to a commit ("owner/repo/path@sha (interaction N)").
SOURCE = re.compile(r"^(?:https://\S+|[\w.-]+/[\w.-]+/\S+@[0-9a-f]{40}\b)")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _classify(name: str) -> LLMError:
    data = _load(FIXTURES / f"{name}.json")
    return classify(data["provider"], data["status"], data["body"], data["headers"], now=NOW)


# --- the recorded corpus --------------------------------------------------------------------------


def test_corpus_holds_three_hundred_real_bodies_each_with_a_source() -> None:
    assert len(FIXTURE_FILES) >= 300
    for path in FIXTURE_FILES:
        data = _load(path)
        assert SOURCE.match(data["source"]), path.name
        assert data["expected"]["kind"] in ERROR_KINDS, path.name
        assert data.get("split", "train") in ("train", "heldout"), path.name


def test_corpus_covers_fifty_providers_every_kind_and_sixty_overflows() -> None:
    corpus = [_load(path) for path in FIXTURE_FILES]

    assert len({data["provider"] for data in corpus}) >= 50
    assert {data["expected"]["kind"] for data in corpus} == set(ERROR_KINDS)
    assert sum(data["expected"]["kind"] == "context_overflow" for data in corpus) >= 60


def test_corpus_spans_the_providers_the_engine_talks_to() -> None:
    prefixes = {path.name.split("-")[0] for path in FIXTURE_FILES}
    assert {"openai", "anthropic", "gemini", "openrouter", "groq", "mistral", "deepseek", "xai", "cerebras", "nvidia",
            "moonshot", "zai", "vllm", "llamacpp", "ollama", "lmstudio", "litellm", "azure", "bedrock"} <= prefixes


@pytest.mark.parametrize("path", ASSERTED_FILES, ids=[p.stem for p in ASSERTED_FILES])
def test_recorded_error_is_classified_as_expected(path: Path) -> None:
    data = _load(path)
    expected = data["expected"]

    err = classify(data["provider"], data["status"], data["body"], data["headers"], now=NOW)

    assert err.kind == expected["kind"]
    assert isinstance(err, LLMError)
    for field in ("prompt_tokens", "context_window", "never_passes", "code"):
        if field in expected:
            assert getattr(err, field) == expected[field], field
    if "retry_after" in expected:
        if expected["retry_after"] is None:
            assert err.retry_after is None
        else:
            assert err.retry_after == pytest.approx(expected["retry_after"], abs=0.01)
    if "message_contains" in expected:
        assert expected["message_contains"] in err.message
    assert err.message and err.message == err.message.strip()
    assert err.provider == data["provider"]


def test_held_out_bodies_meet_the_recall_precision_and_accuracy_targets() -> None:
    results = []
    for path in HELDOUT_FILES:
        data = _load(path)
        err = classify(data["provider"], data["status"], data["body"], data["headers"], now=NOW)
        results.append((path.stem, data["expected"]["kind"], err.kind))
    overflows = [r for r in results if r[1] == "context_overflow"]
    misses = [f"{name}: {want} -> {got}" for name, want, got in results if want != got]

    assert len(HELDOUT_FILES) >= 60 and len(overflows) >= 20
    assert sum(got == want for _, want, got in overflows) / len(overflows) >= 0.95, misses
    assert [r for r in results if r[1] != "context_overflow" and r[2] == "context_overflow"] == []
    assert sum(want == got for _, want, got in results) / len(results) >= 0.92, misses


# --- hard cases, one behaviour each -----------------------------------------------------------------


def test_openai_insufficient_quota_429_is_billing_not_rate_limit() -> None:
    err = _classify("openai-429-insufficient-quota")

    assert isinstance(err, BillingError)
    assert err.retry_after is None


def test_groq_413_tokens_per_minute_too_large_never_passes() -> None:
    err = _classify("groq-413-request-too-large-tpm")

    assert isinstance(err, RateLimitError)
    assert err.never_passes is True
    assert err.retryable is False


def test_max_tokens_too_large_is_bad_request_not_overflow() -> None:
    body = '{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 100000 > 8192, which is the maximum allowed number of output tokens for claude-3-haiku"}}'

    assert classify_error("anthropic", 400, body).kind == "bad_request"


def test_input_plus_max_tokens_over_the_window_is_overflow() -> None:
    body = '{"type":"error","error":{"type":"invalid_request_error","message":"input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000, decrease input length or `max_tokens` and try again"}}'

    err = classify_error("anthropic", 400, body)

    assert isinstance(err, ContextOverflowError)
    assert (err.prompt_tokens, err.context_window) == (198000, 200000)


def test_llama_cpp_overflow_fields_fill_the_numbers() -> None:
    body = ('{"error":{"code":400,"message":"request (3031 tokens) exceeds the available context size (2048 tokens), '
            'try increasing it","type":"exceed_context_size_error","n_prompt_tokens":3031,"n_ctx":2048}}')

    err = classify_error("llama", 400, body)

    assert isinstance(err, ContextOverflowError)
    assert (err.prompt_tokens, err.context_window) == (3031, 2048)


def test_llama_cpp_overflow_answered_with_500_is_still_overflow() -> None:
    assert _classify("llamacpp-500-exceed-context-size").kind == "context_overflow"


def test_a_5xx_that_mentions_keys_is_transient() -> None:
    body = '{"error":{"message":"auth_unavailable: no auth available","type":"server_error"}}'

    assert classify_error("proxy", 500, body).kind == "transient"
    assert classify_error("proxy", 401, body).kind == "auth"


def test_a_413_without_words_is_not_an_overflow() -> None:
    assert classify_error("openai", 413, "<html><title>413 Request Entity Too Large</title></html>").kind == "bad_request"


def test_an_overflow_stated_with_a_500_is_still_overflow() -> None:
    body = '{"error":{"message":"Requested input length 99009 exceeds maximum input length 8192"}}'

    err = classify_error("deepinfra", 500, body)

    assert isinstance(err, ContextOverflowError)
    assert (err.prompt_tokens, err.context_window) == (99009, 8192)


def test_a_character_cap_of_an_embedding_server_is_not_an_overflow() -> None:
    body = "Input validation error: `inputs` must have less than 2048 characters. Given: 5120"

    assert classify_error("tei", 413, body).kind == "bad_request"


def test_gemini_answer_stopped_by_model_armor_is_content_filter() -> None:
    body = '{"candidates": [{"finishReason": "MODEL_ARMOR", "content": {"parts": []}}]}'

    assert classify_error("vertex", 200, body).kind == "content_filter"


def test_llama_cpp_missing_jinja_flag_means_tools_unsupported() -> None:
    assert isinstance(_classify("llamacpp-500-tools-need-jinja"), ToolsUnsupportedError)


def test_anthropic_529_overloaded_is_transient_and_retryable() -> None:
    err = _classify("anthropic-529-overloaded")

    assert err.kind == "transient"
    assert err.retryable is True


def test_gemini_api_key_invalid_400_is_auth() -> None:
    assert _classify("gemini-400-api-key-invalid").kind == "auth"


def test_gemini_free_tier_limit_zero_is_rate_limit_with_retry() -> None:
    err = _classify("gemini-429-free-tier-limit-0")

    assert err.kind == "rate_limit"
    assert err.never_passes is False
    assert err.retry_after == pytest.approx(10.0)


def test_gemini_safety_block_is_content_filter() -> None:
    body = '{"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}]}}'

    assert classify_error("google", 200, body).kind == "content_filter"


def test_openai_content_policy_violation_code_is_content_filter() -> None:
    body = ('{"error":{"code":"content_policy_violation","message":"Your request was rejected as a result of our safety system.",'
            '"param":null,"type":"invalid_request_error"}}')

    assert classify_error("openai", 400, body).kind == "content_filter"


def test_tool_choice_errors_keep_the_words_tool_choice() -> None:
    body = ('{"error":{"message":"Invalid value for \'tool_choice\': \'tool_choice\' is only allowed when \'tools\' are specified.",'
            '"type":"invalid_request_error","param":"tool_choice","code":null}}')

    err = classify_error("openai", 400, body)

    assert err.kind == "bad_request"
    assert "tool_choice" in err.message


def test_openrouter_upstream_error_is_read_from_metadata_raw() -> None:
    body = json.dumps({"error": {"code": 502, "message": "Provider returned error", "metadata": {
        "raw": json.dumps({"error": {"message": "This model's maximum context length is 65536 tokens. However, you requested "
                                                "70214 tokens (62022 in the messages, 8192 in the completion).",
                                     "type": "invalid_request_error", "code": "context_length_exceeded"}}),
        "provider_name": "DeepSeek"}}})

    err = classify_error("openrouter", 502, body)

    assert err.kind == "context_overflow"
    assert (err.prompt_tokens, err.context_window) == (62022, 65536)
    assert err.message.startswith("Provider returned error: This model's maximum context length")


def test_error_inside_a_200_stream_uses_its_own_code() -> None:
    body = 'data: {"id":"gen-1","error":{"code":400,"message":"Token limit reached"},"choices":[]}\n\ndata: [DONE]\n'

    err = classify_error("openrouter", 200, body)

    assert err.kind == "bad_request"
    assert err.status == 400


def test_stream_error_without_status_relies_on_the_type() -> None:
    body = 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'

    err = classify_error("anthropic", 0, body)

    assert err.kind == "transient"
    assert err.status is None


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 520, 524])
def test_gateway_statuses_without_a_body_are_transient(status: int) -> None:
    assert classify_error("openai", status, b"").kind == "transient"


def test_html_gateway_page_is_transient_with_its_title_as_message() -> None:
    page = "<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway Time-out</h1></body></html>"

    err = classify_error("groq", 504, page)

    assert err.kind == "transient"
    assert err.message == "504 Gateway Time-out"


def test_empty_body_message_names_the_status() -> None:
    assert classify_error("mistral", 429, "").message == "HTTP 429 Too Many Requests"


def test_bytes_and_str_bodies_classify_the_same() -> None:
    body = '{"error":{"message":"Rate limit exceeded: free-models-per-day","code":429}}'

    assert classify_error("openrouter", 429, body.encode()).kind == classify_error("openrouter", 429, body).kind == "rate_limit"


def test_python_repr_body_from_a_gateway_is_read() -> None:
    body = "Error code: 404 - {'error': {'message': 'No endpoints found that support tool use.', 'code': 404}}"

    assert classify_error("openrouter", 404, body).kind == "tools_unsupported"


def test_openrouter_moderation_403_is_content_filter() -> None:
    # The shape OpenRouter documents for moderation errors (error.metadata.reasons / flagged_input).
    body = json.dumps({"error": {"code": 403, "message": 'openai/gpt-4o requires moderation on OpenAI. Your input was flagged for "violence".',
                                 "metadata": {"reasons": ["violence"], "flagged_input": "...", "provider_name": "OpenAI",
                                              "model_slug": "openai/gpt-4o"}}})

    assert classify_error("openrouter", 403, body).kind == "content_filter"


def test_cloudflare_errors_list_is_read() -> None:
    body = '{"result":null,"success":false,"errors":[{"code":7003,"message":"No route for that URI"}],"messages":[]}'

    assert classify_error("cloudflare", 400, body).message == "No route for that URI"


def test_unknown_provider_name_still_classifies() -> None:
    body = '{"error":{"message":"Invalid model \'sonar-pro \'. Permitted models can be found in the documentation.","type":"invalid_model","code":400}}'

    assert classify_error("perplexity", 400, body).kind == "not_found"


def test_bedrock_error_type_header_decides_kind() -> None:
    headers = {"X-Amzn-ErrorType": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"}

    assert classify_error("litellm", 400, '{"message":"Request was denied."}', headers).kind == "rate_limit"


def test_message_never_carries_an_api_key() -> None:
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com.",
                                 "type": "invalid_request_error", "code": "invalid_api_key"}})

    err = classify_error("openai", 401, body)

    assert err.kind == "auth"
    assert key not in err.message and key not in err.body and key not in repr(err)


def test_long_messages_are_cut_to_a_readable_length() -> None:
    err = classify_error("openai", 400, json.dumps({"error": {"message": "x" * 5000}}))

    assert len(err.message) <= 1000


def test_classification_compiles_no_regex_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    classify_error("openai", 429, "warm up")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("re.compile called while classifying")

    monkeypatch.setattr(re, "compile", refuse)
    assert classify_error("groq", 413, _load(FIXTURES / "groq-413-request-too-large-tpm.json")["body"]).never_passes


# --- retry hints ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("16s", 16.0), ("0.5s", 0.5), ("1m30s", 90.0), ("500ms", 0.5), ("6m0s", 360.0), ("2m59.56s", 179.56), ("7", 7.0)],
)
def test_parse_duration_reads_go_and_google_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_parse_duration_rejects_words() -> None:
    assert parse_duration("soon") is None


def test_retry_after_header_in_seconds() -> None:
    assert retry_after_from_headers({"retry-after": "7"}) == 7.0


def test_retry_after_header_as_http_date() -> None:
    assert retry_after_from_headers({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, now=1445412500.0) == pytest.approx(10.0)


def test_retry_after_ms_header_wins() -> None:
    assert retry_after_from_headers({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Please try again in 16.24s.", 16.24),
        ("Please try again in 1m30s. Visit https://console.groq.com", 90.0),
        ("Please try again in 500ms.", 0.5),
        ("Please retry in 10.689924287s.", 10.689924287),
        ("Please retry after 6 seconds.", 6.0),
        ("please try again after 1 seconds", 1.0),
        ("Rate limit of 15 per 86400s exceeded for UserByModelByDay. Please wait 52 seconds before retrying.", 52.0),
    ],
)
def test_retry_hint_in_the_message(text: str, seconds: float) -> None:
    assert retry_after_from_text(text) == pytest.approx(seconds)


def test_rate_limit_reset_headers_wait_for_the_exhausted_window() -> None:
    headers = {"x-ratelimit-remaining-requests": "14370", "x-ratelimit-reset-requests": "2m59.56s",
               "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "7.66s"}

    assert reset_from_headers(headers) == pytest.approx(7.66)


def test_anthropic_reset_header_is_a_timestamp() -> None:
    headers = {"anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": "2015-10-21T07:28:30Z"}

    assert reset_from_headers(headers, now=1445412490.0) == pytest.approx(20.0)


def test_epoch_millisecond_reset_is_turned_into_a_wait() -> None:
    assert reset_from_headers({"x-ratelimit-reset": "1754667660000"}, now=NOW) == pytest.approx(60.0)


def test_reset_headers_apply_to_rate_limits_only() -> None:
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "30s"}

    assert classify_error("openai", 429, '{"error":{"message":"Rate limit reached"}}', headers).retry_after == 30.0
    assert classify_error("openai", 400, '{"error":{"message":"bad"}}', headers).retry_after is None


def test_google_retry_info_is_read_from_details() -> None:
    body = json.dumps({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota",
                                 "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.5s"}]}})

    assert classify_error("gemini", 429, body).retry_after == 0.5


def test_header_hint_beats_the_body_hint() -> None:
    body = '{"error":{"message":"Rate limit reached. Please try again in 20s.","code":"rate_limit_exceeded"}}'

    assert classify_error("openai", 429, body, {"Retry-After": "3"}).retry_after == 3.0


# --- token numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens", (9000, 8192)),
        ("This model's maximum context length is 4097 tokens. However, you requested 4203 tokens (3703 in the messages, "
         "500 in the completion).", (3703, 4097)),
        ("prompt is too long: 210000 tokens > 200000 maximum", (210000, 200000)),
        ("The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).", (1200000, 1048576)),
        ("request (3031 tokens) exceeds the available context size (2048 tokens), try increasing it", (3031, 2048)),
        ("This model's maximum prompt length is 131072 but the request contains 136973 tokens.", (136973, 131072)),
        ("Prompt contains 40046 tokens and 0 draft tokens, too large for model with 32768 maximum context length", (40046, 32768)),
        ("Invalid request: Your request exceeded model token limit: 262144 (requested: 269030)", (269030, 262144)),
        ("This endpoint's maximum context length is 131072 tokens. However, you requested about 138956 tokens "
         "(7884 of text input, 131072 in the output).", (7884, 131072)),
        ("This model's maximum context length is 131072 tokens. However, you requested 128000 output tokens and your "
         "prompt contains at least 134145 input tokens", (134145, 131072)),
        ("Please reduce the length of the messages or completion. Current length is 42328 while limit is 40000", (42328, 40000)),
        ("This request would exceed the rate limit for your organization of 20,000 input tokens per minute", (None, None)),
        ("This model's maximum context length is 16385 tokens. However, you requested 17000 tokens (15000 in the "
         "messages, 1200 in the functions, and 800 in the completion).", (16200, 16385)),
        ("The maximum context length of DeepSeek-V3-0324 is 32768. However, answering your request will take 39732 "
         "tokens.", (None, 32768)),
        ("Request length 71599 + 2048 is greater than max_seq_len 65536", (71599, 65536)),
        ("length of prompt_tokens (57535) must be less than max_seq_len (32768)", (57535, 32768)),
        ("Range of input length should be [1, 30000]", (None, 30000)),
        ("invalid params, context window exceeds limit (2013)", (None, None)),
    ],
)
def test_token_numbers_are_read_from_each_provider_phrasing(text: str, numbers: tuple) -> None:
    assert token_numbers(text) == numbers


def test_overflow_without_numbers_leaves_them_unset() -> None:
    err = _classify("groq-400-context-length-exceeded")

    assert (err.prompt_tokens, err.context_window) == (None, None)
