"""The rule tables: one per wire family plus generic ones, each rule quoting the answer it was written for.

A rule matches when every condition it names holds: ``codes`` (error.code, Google ``status``, details
``reason``, Azure ``innererror.code``, Bedrock's ``x-amzn-errortype``), ``types`` (error.type), ``status``
(the HTTP status, or the one the body states for in-stream errors) and ``phrase`` (a regex over every
message in the body). ``unless`` vetoes a match. The classifier tries rules with codes first, then rules
with types, then phrase rules, then ``STATUS_KINDS``; within a tier the caller's family table goes first.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .hierarchy import ErrorKind

__all__ = ["Rule", "rule", "any_of", "FAMILY_RULES", "GENERIC_RULES", "GENERIC_TYPE_KINDS", "STATUS_KINDS", "status_kind"]

Family = Literal["openai", "anthropic", "gemini", "ollama"]


class Rule(BaseModel):
    """One declarative classification rule."""

    model_config = ConfigDict(defer_build=True, frozen=True, arbitrary_types_allowed=True)

    kind: ErrorKind
    codes: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    status: frozenset[int] = frozenset()
    phrase: re.Pattern[str] | None = None
    unless: re.Pattern[str] | None = None
    never_passes: bool = False

    @property
    def tier(self) -> int:
        return 0 if self.codes else 1 if self.types else 2


def rule(
    kind: ErrorKind,
    *,
    codes: tuple[str, ...] = (),
    types: tuple[str, ...] = (),
    status: tuple[int, ...] = (),
    phrase: str | None = None,
    unless: str | None = None,
    never_passes: bool = False,
) -> Rule:
    flags = re.IGNORECASE
    return Rule(
        kind=kind,
        codes=frozenset(c.lower() for c in codes),
        types=frozenset(t.lower() for t in types),
        status=frozenset(status),
        phrase=re.compile(phrase, flags) if phrase else None,
        unless=re.compile(unless, flags) if unless else None,
        never_passes=never_passes,
    )


def any_of(*alternatives: str) -> str:
    """One regex alternative per argument, so long phrase lists read one phrasing per line."""
    return "|".join(alternatives)


_TOO_LARGE_FOR_TIER = r"request too large for (?:model|gpt|o\d|[\w.-]+).{0,200}?(?:tokens per min|TPM|per day|TPD)"

OPENAI_RULES: tuple[Rule, ...] = (
    # Groq 413 / OpenAI 429: "Request too large for model `llama-3.1-8b-instant` ... on tokens per minute
    # (TPM): Limit 6000, Requested 12328, please reduce your message size" - retrying never helps.
    rule("rate_limit", codes=("rate_limit_exceeded",), phrase=_TOO_LARGE_FOR_TIER, never_passes=True),
    # "Rate limit reached for model `llama3-70b-8192` ... Please try again in 50.597142857s."
    # GitHub Models: {"code": "RateLimitReached", "message": "Rate limit of 15 per 86400s exceeded for UserByModelByDay."}
    rule("rate_limit", codes=("rate_limit_exceeded", "request_quota_exceeded", "token_quota_exceeded", "rate_limited",
                              "ratelimitreached")),
    # OpenAI 429: {"message": "You exceeded your current quota, please check your plan and billing details.",
    # "type": "insufficient_quota", "code": "insufficient_quota"} - a billing problem, not a rate limit.
    rule("billing", codes=("insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "insufficient_credits",
                           "credit_limit_reached")),
    # {"code": "context_length_exceeded", "message": "This model's maximum context length is 4097 tokens..."}
    # GitHub Models: {"code": "tokens_limit_reached", "message": "Request body too large for gpt-4o model. Max size: 8000 tokens."}
    rule("context_overflow", codes=("context_length_exceeded", "string_above_max_length", "string_too_long",
                                    "model_context_window_exceeded", "tokens_limit_reached")),
    # Groq: {"message": "Tool call validation failed: ... did not match schema", "code": "tool_use_failed"}
    rule("bad_request", codes=("tool_use_failed", "json_validate_failed")),
    # OpenAI 401: {"message": "Incorrect API key provided: sk-...", "code": "invalid_api_key"}
    rule("auth", codes=("invalid_api_key", "missing_api_key", "key_disabled", "account_deactivated",
                        "unsupported_country_region_territory")),
    # OpenAI 404: {"code": "model_not_found", "message": "The model `gpt-5` does not exist or you do not have access to it."}
    # Groq 400: {"code": "model_decommissioned", "message": "The model `qwen-qwq-32b` has been decommissioned ..."}
    # Azure 404: {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}
    rule("not_found", codes=("model_not_found", "model_decommissioned", "deploymentnotfound", "model_not_available",
                             "invalid_model")),
    # Azure 400: {"code": "content_filter", "innererror": {"code": "ResponsibleAIPolicyViolation"}}
    # OpenAI 400: {"code": "invalid_prompt", "message": "Invalid prompt: your prompt was flagged as potentially
    # violating our usage policy."}
    rule("content_filter", codes=("content_filter", "content_policy_violation", "responsibleaipolicyviolation",
                                  "invalid_prompt")),
    # OpenAI Responses stream: {"code": "server_is_overloaded", "type": "service_unavailable_error"}
    # Cerebras 429: {"code": "queue_exceeded", "message": "We're experiencing high traffic right now!"}
    rule("transient", codes=("server_is_overloaded", "queue_exceeded", "engine_overloaded", "request_timeout")),
    # Z.ai: {"error": {"code": "1113", "message": "余额不足或无可用资源包,请充值。"}} (insufficient balance),
    # 1309 "GLM Coding Plan package has expired".
    rule("billing", codes=("1113", "1309")),
    # Z.ai 1261 "Prompt exceeds max length"; 1301 unsafe content; 1211 "模型不存在"; 1302/1303/1304/1308 concurrency,
    # frequency, daily and 5-hour usage limits; 1305 "The service may be temporarily overloaded".
    rule("context_overflow", codes=("1261",)),
    rule("content_filter", codes=("1301",)),
    rule("not_found", codes=("1211",)),
    rule("rate_limit", codes=("1302", "1303", "1304", "1308", "1310")),
    rule("transient", codes=("1305",)),
    # Moonshot 403: {"type": "exceeded_current_quota_error", "message": "Your account ... is suspended due to
    # insufficient balance"}
    rule("billing", types=("exceeded_current_quota_error", "insufficient_quota", "budget_exceeded", "creditserror")),
    # Moonshot 429: {"type": "engine_overloaded_error", "message": "The engine is currently overloaded, please try
    # again later"}
    rule("transient", types=("engine_overloaded_error", "service_unavailable_error", "unavailable_error")),
    # Moonshot 429 "rate_limit_reached_error"; Cerebras 429 {"type": "too_many_requests_error"}; Mistral 429
    # {"type": "rate_limited", "code": "1300"}; LiteLLM {"type": "throttling_error"}.
    rule("rate_limit", types=("rate_limit_reached_error", "too_many_requests_error", "rate_limited", "throttling_error",
                               "rate_limit_exceeded", "tokens", "requests")),
    # Moonshot: "invalid_authentication_error" / "permission_denied_error"; llama.cpp "authentication_error".
    rule("auth", types=("invalid_authentication_error", "permission_denied_error", "authentication_error",
                        "authenticationerror")),
    # Perplexity 400: {"message": "Invalid model 'sonar-pro '...", "type": "invalid_model"}; Mistral "invalid_model".
    rule("not_found", types=("invalid_model", "resource_not_found_error", "notfounderror", "model_not_found")),
    # Moonshot: {"type": "content_filter", "message": "The request was rejected because it was considered high risk"}
    rule("content_filter", types=("content_filter", "content_policy_violation")),
    # llama.cpp: {"code": 400, "message": "request (3031 tokens) exceeds the available context size (2048 tokens),
    # try increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 3031, "n_ctx": 2048}
    rule("context_overflow", types=("exceed_context_size_error",)),
    # OpenRouter 403: "openai/gpt-4o requires moderation on OpenAI. Your input was flagged for "violence"."
    rule("content_filter", phrase=any_of(
        r"requires moderation on", r"your input was flagged",
        r"flagged (?:as|for) (?:potentially )?(?:violating|inappropriate|\")")),
    # OpenRouter 402: "This request requires more credits, or fewer max_tokens. You requested up to 225702 tokens,
    # but can only afford 92985." and "Insufficient credits. Add more using https://openrouter.ai/settings/credits";
    # OpenRouter 403 "Key limit exceeded (daily limit)".
    rule("billing", phrase=any_of(
        r"requires more credits", r"can only afford", r"insufficient credits", r"key limit exceeded",
        r"never purchased credits")),
    # OpenRouter 404: "No endpoints found that support tool use." / "...support the provided 'tool_choice' value."
    rule("tools_unsupported", phrase=r"no endpoints found that support (?:tool|the provided 'tool_choice')"),
    # OpenRouter 404: "No endpoints found for meta-llama/llama-3.2-3b-instruct:free."; 400 "x is not a valid model ID"
    rule("not_found", phrase=r"no endpoints found|no allowed providers are available|is not a valid model id"),
    # vLLM 400: "\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set";
    # llama.cpp 500: "tools param requires --jinja flag".
    rule("tools_unsupported", phrase=any_of(
        r"tool choice requires --enable-auto-tool-choice", r"(?:tools|tool_choice) param requires --jinja")),
    # NVIDIA NIM 400: {"title": "Bad Request", "detail": "Function id '...': DEGRADED function cannot be invoked"}
    rule("transient", phrase=r"DEGRADED function cannot be invoked|function is not ready"),
    # NVIDIA NIM 404: {"detail": "Function '23d4f...': Not found for account '...'"}
    rule("not_found", phrase=r"not found for account"),
    # xAI 429: "Your team ... has either used all available credits or reached its monthly spending limit."
    rule("billing", phrase=r"used all available credits|monthly spending limit|spending limit"),
    # Mistral 429/503: {"message": "Service tier capacity exceeded for this model.", "type": "invalid_request_error"}
    rule("transient", phrase=r"capacity exceeded|high traffic right now|no capacity available|at capacity"),
)

ANTHROPIC_RULES: tuple[Rule, ...] = (
    # 529: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}. (Its 500 "api_error"
    # is generic: Ollama's OpenAI route uses the same type for "does not support tools".)
    rule("transient", types=("overloaded_error", "timeout_error")),
    # 429: {"type": "rate_limit_error", "message": "This request would exceed the rate limit for your organization
    # of 20,000 input tokens per minute."}
    rule("rate_limit", types=("rate_limit_error",)),
    rule("auth", types=("authentication_error", "permission_error")),
    # 404: {"type": "not_found_error", "message": "model: claude-sonet-4-5"}
    rule("not_found", types=("not_found_error",)),
    rule("billing", types=("billing_error",)),
    # 413: {"type": "request_too_large", "message": "Request exceeds the maximum size"}
    rule("context_overflow", types=("request_too_large",)),
    # 400 invalid_request_error: "Your credit balance is too low to access the Anthropic API. Please go to
    # Plans & Billing to upgrade or purchase credits."
    rule("billing", phrase=r"credit balance is too low"),
    # 400: "input length and `max_tokens` exceed context limit: 179413 + 32768 > 200000, decrease input length
    # or `max_tokens` and try again" and "prompt is too long: 208310 tokens > 200000 maximum".
    rule("context_overflow", phrase=r"exceed context limit: \d|prompt is too long"),
    # 400: "max_tokens: 21333 > 4096, which is the maximum allowed number of output tokens for claude-3-opus"
    rule("bad_request", phrase=r"max_tokens: \d+ > \d+"),
)

GEMINI_RULES: tuple[Rule, ...] = (
    # 400 INVALID_ARGUMENT with details[].reason "API_KEY_INVALID": "API key not valid. Please pass a valid API key."
    rule("auth", codes=("api_key_invalid", "api_key_expired", "service_disabled", "consumer_suspended",
                        "access_token_type_unsupported")),
    rule("billing", codes=("billing_disabled",)),
    # 429/503 with ErrorInfo reason "MODEL_CAPACITY_EXHAUSTED": "No capacity available for model on the server"
    rule("transient", codes=("model_capacity_exhausted",)),
    # 429 RESOURCE_EXHAUSTED: "You exceeded your current quota ... Quota exceeded for metric:
    # generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0 ... Please retry in 10.68s."
    rule("rate_limit", codes=("resource_exhausted", "ratelimitexceeded")),
    # 403 PERMISSION_DENIED: "Your API key was reported as leaked. Please use another API key." /
    # "Method doesn't allow unregistered callers"; 401 UNAUTHENTICATED.
    rule("auth", codes=("permission_denied", "unauthenticated", "forbidden")),
    # 404 NOT_FOUND: "models/gemini-pro is not found for API version v1beta, or is not supported for generateContent."
    rule("not_found", codes=("not_found",)),
    # 503 UNAVAILABLE: "The model is overloaded. Please try again later."; 500 INTERNAL; 504 DEADLINE_EXCEEDED.
    rule("transient", codes=("unavailable", "internal", "deadline_exceeded", "aborted", "cancelled", "backenderror")),
    # A prompt blocked by safety: promptFeedback.blockReason "SAFETY" / finishReason "PROHIBITED_CONTENT".
    rule("content_filter", codes=("block:safety", "block:prohibited_content", "block:blocklist", "block:spii",
                                  "block:other", "block:recitation", "block:image_safety")),
    # 400 FAILED_PRECONDITION: "User location is not supported for the API use." - this caller cannot use it.
    rule("auth", phrase=r"location is not supported|not available in your (?:country|region)"),
    # 400: "Function calling is not enabled for models/gemma-3-27b-it"
    rule("tools_unsupported", phrase=r"function calling is not enabled"),
)

OLLAMA_RULES: tuple[Rule, ...] = (
    # 400: {"error": "registry.ollama.ai/library/gemma3:1b does not support tools"}
    rule("tools_unsupported", phrase=r"does not support tools"),
    # 404: {"error": "model \"llama3\" not found, try pulling it first"}
    rule("not_found", phrase=r"not found, try pulling it first|model ['\"].+['\"] not found"),
    # 400: {"error": "the input length exceeds the context length"};
    # "prompt too long; exceeded max context length by 100 tokens"
    rule("context_overflow", phrase=r"input length exceeds the context length|exceeded max context length"),
    # 500: "model requires more system memory (5.3 GiB) than is available (3.3 GiB)", "llama runner process has
    # terminated: exit status 2", "model runner has unexpectedly stopped".
    rule("transient", phrase=any_of(
        r"requires more system memory", r"runner process has terminated", r"runner has unexpectedly stopped",
        r"timed out waiting for llama runner")),
)

FAMILY_RULES: dict[Family, tuple[Rule, ...]] = {
    "openai": OPENAI_RULES,
    "anthropic": ANTHROPIC_RULES,
    "gemini": GEMINI_RULES,
    "ollama": OLLAMA_RULES,
}

_TOOLS = r"(?:tools?|tool[ _-]?(?:use|calls?|calling|choice)|function[ _-]?call(?:ing|s)?|functions)"

# Phrases every family shares, in order: the more specific kind first.
GENERIC_RULES: tuple[Rule, ...] = (
    # Bedrock via a gateway: header x-amzn-errortype "ThrottlingException", "Too many tokens, please wait before
    # trying again."; "ServiceQuotaExceededException".
    rule("rate_limit", codes=("throttlingexception", "servicequotaexceededexception", "toomanyrequestsexception")),
    rule("transient", codes=("serviceunavailableexception", "internalserverexception", "modelnotreadyexception",
                             "modeltimeoutexception", "modelstreamerrorexception")),
    rule("auth", codes=("accessdeniedexception", "unrecognizedclientexception", "expiredtokenexception")),
    rule("not_found", codes=("resourcenotfoundexception",)),
    # OpenRouter's moderation metadata: {"metadata": {"reasons": ["violence"], "flagged_input": "..."}}
    rule("content_filter", codes=("moderation_flagged",)),
    # Billing in words: DeepSeek 402 "Insufficient Balance", Anthropic "Your credit balance is too low", Moonshot
    # "suspended due to insufficient balance", LiteLLM "Budget has been exceeded! Current cost: 26.07, Max budget: 0.25",
    # Anthropic "You have reached your specified API usage limits. You will regain access on 2025-07-01".
    # Gemini says "check your plan and billing details" on plain rate limits, hence the veto.
    rule("billing", phrase=any_of(
        r"insufficient (?:balance|credit|funds|quota)", r"credit balance is too low", r"budget has been exceeded",
        r"exceeded budget", r"out of credits", r"ran out of credits", r"payment required", r"plan has expired",
        r"billing details", r"credit limit", r"purchase (?:more )?credits", r"(?:doesn't|does not) have any credits",
        r"specified api usage limits", r"regain access on", r"included credits", r"余额不足", r"欠费"),
        unless=any_of(r"rate.?limits?\b", r"retry in", r"quota exceeded for metric", r"resource_exhausted", r"per minute")),
    # OpenAI/Groq text only: "Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 342389."
    rule("rate_limit", phrase=_TOO_LARGE_FOR_TIER, never_passes=True),
    # Overflow phrasings that name max_new_tokens, before the max_tokens rule below. TGI / Together:
    # "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8192. Given: 6204 `inputs` tokens".
    rule("context_overflow", phrase=r"`inputs` tokens \+ `max_new_tokens` must be"),
    # A too-big output budget is the caller's mistake, not an overflow: OpenAI "max_tokens is too large: 100000.
    # This model supports at most 4096 completion tokens"; Groq "`max_tokens` must be less than or equal to `16384`".
    rule("bad_request", phrase=any_of(
        r"max_(?:completion_|new_)?tokens`?'?\"?\s*(?:is too large|must be (?:less|at most|<=|at least)|:\s*\d+\s*>\s*\d+)",
        r"max_(?:completion_)?tokens.{0,40}(?:above maximum|exceeds the model's maximum output)")),
    # Rate limits in words: Bedrock "Too many tokens, please wait before trying again."; "Rate limit exceeded:
    # free-models-per-day"; "Requests rate limit exceeded"; Gemini "Resource has been exhausted (e.g. check quota)."
    rule("rate_limit", phrase=any_of(
        r"rate.?limit", r"too many requests", r"please wait before trying again", r"resource (?:has been )?exhausted",
        r"quota exceeded for metric", r"requests per (?:minute|day)", r"tokens per (?:minute|day)", r"usage limit",
        r"temporarily rate-limited", r"throttl", r"high concurrency", r"daily free allocation", r"并发数过高", r"频率过高")),
    # Tools the model or server cannot take: "This model does not support tools", "Tool calling is not supported
    # by this model", "deepseek-reasoner does not support Function Calling", Azure "Unrecognized request argument
    # supplied: tools", "Unsupported parameter: 'tools' is not supported with this model".
    rule("tools_unsupported", phrase=any_of(
        rf"does(?:n't| not) support\s+(?:the\s+)?{_TOOLS}",
        rf"\b{_TOOLS}\b['\"`]?[^.\n]{{0,40}}?\b(?:is|are)\s+not\s+(?:supported|enabled|available)",
        r"unrecognized request argument supplied: (?:tools|functions|tool_choice)",
        r"unknown (?:parameter|field):? ['`\"]?(?:tools|tool_choice)",
        r"unsupported (?:param|parameter|field):? ['`\"]?(?:tools|tool_choice|functions)",
        r"(?:tools|tool_choice): extra fields not permitted",
        rf"not support {_TOOLS}")),
    # Context overflow in words (OpenAI, vLLM, OpenRouter, DeepSeek, Groq, Mistral, xAI, Moonshot, Cerebras, Cohere,
    # Fireworks, LM Studio, llama.cpp, Bedrock, LiteLLM): "This model's maximum context length is 8192 tokens",
    # "Please reduce the length of the messages or completion", "Input is too long for requested model."
    rule("context_overflow", phrase=any_of(
        r"context[_ ]length[_ ]exceeded", r"maximum context length", r"maximum prompt length", r"context window",
        r"exceeds? the available context size", r"context size has been exceeded", r"prompt is too long",
        r"prompt too long", r"prompt exceeds max length", r"exceed context limit", r"input is too long",
        r"too large for model with", r"reduce the length of the messages", r"exceeded model token limit",
        r"model's context length", r"too long to fit into the model", r"when context the overflows", r"too many tokens:",
        r"input token count.{0,20}exceeds", r"exceeds? the maximum number of tokens", r"configured limit of \d+ tokens",
        r"ContextWindowExceededError", r"request_too_large", r"maximum allowed input length",
        r"prompt has \d+ tokens, but the configured context size", r"request body too large for", r"请求的?上下文长度",
        r"超出.{0,6}(?:上下文|最大长度)")),
    # Content filters in words: Azure "The response was filtered due to the prompt triggering Azure OpenAI's content
    # management policy"; OpenAI images "Your request was rejected as a result of our safety system".
    rule("content_filter", phrase=any_of(
        r"content management policy", r"rejected as a result of our safety system", r"content[_ ]?polic(?:y|ies)",
        r"ContentPolicyViolationError", r"responsible ?ai", r"blocked (?:due to|by) safety",
        r"safety (?:filter|settings) blocked", r"considered high risk", r"不安全或敏感内容", r"敏感")),
    # Missing models in words: "The model `gpt-5` does not exist", "Model not found, inaccessible, and/or not
    # deployed" (Fireworks), "The provided model identifier is invalid." (Bedrock).
    rule("not_found", phrase=any_of(
        r"model[^.\n]{0,80}?(?:does not exist|not found|is not available|not deployed|decommissioned)",
        r"does not exist or you do not have access", r"deployment for this resource does not exist",
        r"model identifier is invalid", r"invalid model", r"model name is invalid", r"unknown model", r"no such model",
        r"model is not supported", r"unable to access model", r"NotFoundError", r"模型不存在")),
    # Keys and permissions in words: "Incorrect API key provided", "invalid x-api-key", "No auth credentials found",
    # Cohere "invalid api token", Azure "Access denied due to invalid subscription key or wrong API endpoint".
    rule("auth", phrase=any_of(
        r"api[ _-]?key", r"invalid (?:x-api-key|api token|token|credentials)", r"no auth credentials", r"unauthori[sz]ed",
        r"authenticat", r"access denied", r"permission", r"not authorized", r"\bforbidden\b", r"user not found",
        r"organization has been disabled", r"account (?:has been |is )?(?:disabled|deactivated|suspended|not active)",
        r"身份验证", r"鉴权")),
    # Servers that are busy or broken: "The engine is currently overloaded", "Loading model", "upstream connect error",
    # "The server had an error while processing your request".
    rule("transient", phrase=any_of(
        r"overloaded", r"temporarily unavailable", r"service ?unavailable", r"high demand", r"loading model",
        r"bad gateway", r"gateway time-?out", r"internal server error", r"upstream connect error",
        r"connection (?:reset|refused)", r"timed? ?out", r"server had an error", r"server error", r"try again later",
        r"please retry", r"稍后重试", r"繁忙")),
)

# Types and codes that only say "your request" or "our server", used when nothing more specific matched.
GENERIC_TYPE_KINDS: dict[str, ErrorKind] = {
    "invalid_request_error": "bad_request",
    "badrequesterror": "bad_request",
    "invalid_argument": "bad_request",
    "failed_precondition": "bad_request",
    "out_of_range": "bad_request",
    "validationexception": "bad_request",
    "unsupported_value": "bad_request",
    "unsupported_parameter": "bad_request",
    "invalid_value": "bad_request",
    "not_supported_error": "bad_request",
    "api_error": "transient",
    "server_error": "transient",
    "internal_error": "transient",
    "internalservererror": "transient",
    "serviceunavailableerror": "transient",
    "apiconnectionerror": "transient",
    "timeout": "transient",
}

STATUS_KINDS: dict[int, ErrorKind] = {
    400: "bad_request",
    401: "auth",
    402: "billing",
    403: "auth",
    404: "not_found",
    405: "bad_request",
    408: "transient",
    409: "transient",
    410: "not_found",
    # "Request Entity Too Large": the prompt (often images) is bigger than the server takes.
    413: "context_overflow",
    422: "bad_request",
    425: "transient",
    429: "rate_limit",
    451: "content_filter",
    # Groq: "the flex tier is at capacity and the request won't be processed. You can try again later."
    498: "transient",
    499: "transient",
    501: "bad_request",
}


def status_kind(status: int) -> ErrorKind | None:
    """The kind an HTTP status alone implies (None for 0 and 2xx/3xx)."""
    if status in STATUS_KINDS:
        return STATUS_KINDS[status]
    if status >= 500:
        return "transient"
    if status >= 400:
        return "bad_request"
    return None
