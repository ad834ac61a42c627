"""Rules on structured fields: ``error.code``, ``error.type``, Google ``status`` and ``details[].reason``,
Azure ``innererror.code`` and Bedrock's ``x-amzn-errortype``. They are tried before any wording.

A code rule may also name a phrase when one code covers two kinds (OpenAI's ``rate_limit_exceeded`` is
also sent for a request that is too large for the tier).
"""

from __future__ import annotations

from ._rule import Rule, rule

__all__ = ["CODE_RULES", "TOO_LARGE_FOR_TIER"]

TOO_LARGE_FOR_TIER = r"request too large for (?:model|gpt|o\d|[\w.-]+).{0,200}?(?:tokens per min|TPM|per day|TPD)"

CODE_RULES: tuple[Rule, ...] = (
    # --- OpenAI and the servers that copy its codes ---------------------------------------------------
    # Groq 413 / OpenAI 429: "Request too large for model `llama-3.1-8b-instant` ... on tokens per minute
    # (TPM): Limit 6000, Requested 12328, please reduce your message size" - retrying never helps.
    rule("rate_limit", codes=("rate_limit_exceeded",), phrase=TOO_LARGE_FOR_TIER, never_passes=True),
    # "Rate limit reached for model `llama3-70b-8192` ... Please try again in 50.597142857s."
    # GitHub Models: {"code": "RateLimitReached", "message": "Rate limit of 15 per 86400s exceeded for UserByModelByDay."}
    rule("rate_limit", codes=("rate_limit_exceeded", "request_quota_exceeded", "token_quota_exceeded", "rate_limited",
                              "ratelimitreached")),
    # OpenAI 429: {"message": "You exceeded your current quota, please check your plan and billing details.",
    # "type": "insufficient_quota", "code": "insufficient_quota"}; sub2api 403 {"code": "INSUFFICIENT_BALANCE"};
    # DashScope 400 {"code": "Arrearage", "message": "Access denied, please make sure your account is in good standing."}
    rule("billing", codes=("insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "insufficient_credits",
                           "credit_limit_reached", "insufficient_balance", "arrearage")),
    # {"code": "context_length_exceeded", "message": "This model's maximum context length is 4097 tokens..."}
    # GitHub Models: {"code": "tokens_limit_reached", "message": "Request body too large for gpt-4o model. Max size: 8000 tokens."}
    # GitHub Copilot: {"code": "model_max_prompt_tokens_exceeded", "message": "prompt token count of 65204 exceeds ..."}
    rule("context_overflow", codes=("context_length_exceeded", "model_context_window_exceeded", "tokens_limit_reached",
                                    "model_max_prompt_tokens_exceeded")),
    # One field's own cap, not the window: {"message": "Invalid 'input[149].call_id': string too long. Expected a
    # string with maximum length 64, but got a string with length 86 instead.", "code": "string_above_max_length"}
    rule("bad_request", codes=("string_above_max_length", "string_too_long", "array_above_max_length")),
    # Groq: {"message": "Tool call validation failed: ... did not match schema", "code": "tool_use_failed"}
    rule("bad_request", codes=("tool_use_failed", "json_validate_failed")),
    # OpenAI 401: {"message": "Incorrect API key provided: sk-...", "code": "invalid_api_key"}
    rule("auth", codes=("invalid_api_key", "missing_api_key", "key_disabled", "account_deactivated",
                        "unsupported_country_region_territory")),
    # OpenAI 404: {"code": "model_not_found", "message": "The model `gpt-5` does not exist or you do not have access to it."}
    # Groq 400: {"code": "model_decommissioned"}; Azure 404: {"code": "DeploymentNotFound"}; GitHub Models 404:
    # {"code": "unknown_model", "message": "Unknown model: /Phi-3.5-MoE-instruct"}
    rule("not_found", codes=("model_not_found", "model_decommissioned", "deploymentnotfound", "model_not_available",
                             "invalid_model", "unknown_model")),
    # Azure 400: {"code": "content_filter", "innererror": {"code": "ResponsibleAIPolicyViolation"}}; OpenAI 400:
    # {"code": "invalid_prompt"}; DashScope 400: {"code": "data_inspection_failed", "message": "Input data may contain
    # inappropriate content."}; Google 400 INVALID_ARGUMENT with details[].reason "PUBLIC_ERROR_UNSAFE_GENERATION".
    rule("content_filter", codes=("content_filter", "content_policy_violation", "responsibleaipolicyviolation",
                                  "invalid_prompt", "data_inspection_failed", "public_error_unsafe_generation")),
    # OpenAI Responses stream: {"code": "server_is_overloaded", "type": "service_unavailable_error"}
    # Cerebras 429: {"code": "queue_exceeded", "message": "We're experiencing high traffic right now!"}
    rule("transient", codes=("server_is_overloaded", "queue_exceeded", "engine_overloaded", "request_timeout")),
    # --- Z.ai / Zhipu numeric codes ---------------------------------------------------------------------
    # {"error": {"code": "1113", "message": "余额不足或无可用资源包,请充值。"}}; 1309 "GLM Coding Plan package has expired";
    # 1261 "Prompt exceeds max length"; 1301 "系统检测到输入或生成内容可能包含不安全或敏感内容"; 1211 "模型不存在";
    # 1302/1303/1304/1308 concurrency, frequency, daily and 5-hour limits; 1305 "temporarily overloaded".
    rule("billing", codes=("1113", "1309")),
    rule("context_overflow", codes=("1261",)),
    rule("content_filter", codes=("1301",)),
    rule("not_found", codes=("1211",)),
    rule("rate_limit", codes=("1302", "1303", "1304", "1308", "1310")),
    rule("transient", codes=("1305",)),
    # --- Bedrock (x-amzn-errortype or the body's __type) ----------------------------------------------------
    # "ThrottlingException", "Too many tokens, please wait before trying again."
    rule("rate_limit", codes=("throttlingexception", "servicequotaexceededexception", "toomanyrequestsexception")),
    rule("transient", codes=("serviceunavailableexception", "internalserverexception", "modelnotreadyexception",
                             "modeltimeoutexception", "modelstreamerrorexception")),
    rule("auth", codes=("accessdeniedexception", "unrecognizedclientexception", "expiredtokenexception")),
    rule("not_found", codes=("resourcenotfoundexception",)),
    # --- Google ErrorInfo reasons and canonical statuses -----------------------------------------------------
    # 400 INVALID_ARGUMENT with details[].reason "API_KEY_INVALID": "API key expired. Please renew the API key."
    rule("auth", codes=("api_key_invalid", "api_key_expired", "service_disabled", "consumer_suspended",
                        "access_token_type_unsupported")),
    rule("billing", codes=("billing_disabled",)),
    # 429/503 with ErrorInfo reason "MODEL_CAPACITY_EXHAUSTED": "No capacity available for model on the server"
    rule("transient", codes=("model_capacity_exhausted",)),
    # 429 RESOURCE_EXHAUSTED: "You exceeded your current quota ... Quota exceeded for metric:
    # generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0 ... Please retry in 10.68s."
    rule("rate_limit", codes=("resource_exhausted", "ratelimitexceeded")),
    # 403 PERMISSION_DENIED: "Your API key was reported as leaked."; 401 UNAUTHENTICATED.
    rule("auth", codes=("permission_denied", "unauthenticated", "forbidden")),
    # 404 NOT_FOUND: "models/gemini-pro is not found for API version v1beta, or is not supported for generateContent."
    rule("not_found", codes=("not_found",)),
    # 503 UNAVAILABLE: "The model is overloaded. Please try again later."; 500 INTERNAL; 504 DEADLINE_EXCEEDED.
    rule("transient", codes=("unavailable", "internal", "deadline_exceeded", "aborted", "cancelled", "backenderror")),
    # A prompt or answer a safety system stopped: promptFeedback.blockReason, or a safety finishReason
    # ("SAFETY", "PROHIBITED_CONTENT", "MODEL_ARMOR", ...) in an answer that carries no text.
    rule("content_filter", codes=("safety_block",)),
    # OpenRouter's moderation metadata: {"metadata": {"reasons": ["violence"], "flagged_input": "..."}}
    rule("content_filter", codes=("moderation_flagged",)),
    # --- error.type ---------------------------------------------------------------------------------------
    # Anthropic 429 {"type": "rate_limit_error", "message": "Extra usage is required for long context requests."}:
    # the cure is paying for long context, not waiting.
    rule("billing", types=("rate_limit_error",), phrase=r"extra usage is required"),
    # Moonshot 403 {"type": "exceeded_current_quota_error"}; MiniMax via ModelScope 429
    # {"type": "insufficient_balance_error", "message": "insufficient balance (1008)"}
    rule("billing", types=("exceeded_current_quota_error", "insufficient_quota", "budget_exceeded", "creditserror",
                           "billing_error", "insufficient_balance_error", "arrearage")),
    # Anthropic 529 {"type": "overloaded_error"}; Moonshot 429 "engine_overloaded_error". (Anthropic's 500
    # "api_error" is generic: Ollama's OpenAI route uses it for "does not support tools".)
    rule("transient", types=("overloaded_error", "timeout_error", "engine_overloaded_error", "service_unavailable_error",
                             "unavailable_error")),
    # Anthropic "rate_limit_error"; Moonshot "rate_limit_reached_error"; Cerebras "too_many_requests_error";
    # Mistral {"type": "rate_limited", "code": "1300"}; LiteLLM "throttling_error".
    rule("rate_limit", types=("rate_limit_error", "rate_limit_reached_error", "too_many_requests_error", "rate_limited",
                               "throttling_error", "rate_limit_exceeded", "tokens", "requests")),
    rule("auth", types=("authentication_error", "permission_error", "invalid_authentication_error",
                        "permission_denied_error", "authenticationerror")),
    # Anthropic 404 {"type": "not_found_error", "message": "model: claude-sonet-4-5"}; Perplexity "invalid_model".
    rule("not_found", types=("not_found_error", "invalid_model", "resource_not_found_error", "notfounderror",
                             "model_not_found")),
    # Moonshot: {"type": "content_filter", "message": "The request was rejected because it was considered high risk"}
    rule("content_filter", types=("content_filter", "content_policy_violation", "data_inspection_failed")),
    # llama.cpp: {"type": "exceed_context_size_error", "n_prompt_tokens": 3031, "n_ctx": 2048}; claude-code-hub:
    # {"type": "prompt_limit", "message": "输入内容过长，请减少 Prompt 中的 token 数量后重试"}
    rule("context_overflow", types=("exceed_context_size_error", "prompt_limit")),
)

