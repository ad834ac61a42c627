"""Rules on the provider's words for every kind but context overflow (``_rules_overflow`` has those).

``MONEY_AND_RATE`` runs before the overflow tables: "tokens per minute" and "token capacity required"
read like an overflow but are a rate limit and a bill. ``FAMILY_PHRASES`` hold what one vendor says
(the caller's family goes first); ``OTHER_PHRASES`` what many vendors say, the more specific kind first.
"""

from __future__ import annotations

from ._rule import Family, Rule, any_of, rule
from ._rules_codes import TOO_LARGE_FOR_TIER

__all__ = ["MONEY_AND_RATE", "FAMILY_PHRASES", "OTHER_PHRASES"]

_TOOLS = r"(?:tools?|tool[ _-]?(?:use|calls?|calling|choice)|function[ _-]?call(?:ing|s)?|functions)"

MONEY_AND_RATE: tuple[Rule, ...] = (
    # Billing in words: DeepSeek 402 "Insufficient Balance"; Anthropic "Your credit balance is too low"; LiteLLM
    # "Budget has been exceeded!"; OpenRouter 402 "This request requires more credits, or fewer max_tokens. You
    # requested up to 225702 tokens, but can only afford 92985" and "Prompt tokens limit exceeded: 230799 > 91442.
    # To increase, visit https://openrouter.ai/settings/keys and create a key with a higher monthly limit";
    # OpenRouter 403 "Key limit exceeded (total limit)"; xAI 403 "Your newly created team doesn't have any credits
    # or licenses yet" / "You have run out of credits"; "Access denied due to overdue account"; Volcengine "has
    # reached the set inference limit ... adjust or close the "Safe Experience Mode"". Gemini says "check your
    # plan and billing details" on plain rate limits, hence the veto.
    rule("billing", phrase=any_of(
        r"insufficient (?:account )?(?:balance|credit|funds|quota)", r"credit balance is too low", r"budget has been exceeded",
        r"exceeded budget", r"out of credits", r"payment required", r"plan has expired", r"billing details",
        r"credit limit", r"purchase (?:more )?credits", r"(?:doesn't|does not) have any credits", r"more credits",
        r"can only afford", r"key limit exceeded", r"never purchased credits", r"higher monthly limit",
        r"specified api usage limits", r"regain access on", r"included credits", r"overdue", r"in good standing",
        r"safe experience mode", r"extra usage is required", r"used all available credits", r"spending limit",
        r"余额不足", r"欠费"),
        unless=any_of(r"rate.?limits?\b", r"retry in", r"quota exceeded for metric", r"resource_exhausted", r"per minute")),
    # OpenAI/Groq text only: "Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 342389."
    rule("rate_limit", phrase=TOO_LARGE_FOR_TIER, never_passes=True),
    # Rate limits in words: Bedrock "Too many tokens, please wait before trying again."; Anthropic "would exceed
    # the rate limit for your organization ... of 1,000,000 input tokens per minute. Please reduce the prompt
    # length"; SiliconFlow "TPM limit reached"; Gemini "Resource has been exhausted (e.g. check quota)."
    rule("rate_limit", phrase=any_of(
        r"rate.?limit", r"too many requests", r"please wait before trying again", r"resource (?:has been )?exhausted",
        r"quota exceeded for metric", r"(?:requests|tokens|queries) per (?:min|minute|day|hour)", r"\b[RT]P[MD]\b",
        r"usage limit", r"temporarily rate-limited", r"throttl", r"high concurrency", r"daily free allocation",
        r"并发数过高", r"频率过高"),
        unless=r"during peak load"),
)

FAMILY_PHRASES: dict[Family, tuple[Rule, ...]] = {
    "openai": (
        # OpenRouter 403: "openai/gpt-4o requires moderation on OpenAI. Your input was flagged for "violence"."
        rule("content_filter", phrase=any_of(
            r"requires moderation on", r"your input was flagged", r"flagged (?:as|for) (?:potentially )?(?:violating|inappropriate|\")")),
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
        # Mistral 429/503: {"message": "Service tier capacity exceeded for this model."}; Azure 429 "The system is
        # currently experiencing high demand ... exceeds the maximum usage size allowed during peak load".
        rule("transient", phrase=r"capacity exceeded|high traffic right now|no capacity available|at capacity|peak load"),
    ),
    "anthropic": (),
    "gemini": (
        # 400 FAILED_PRECONDITION: "User location is not supported for the API use." - this caller cannot use it.
        rule("auth", phrase=r"location is not supported|not available in your (?:country|region)"),
        # 400: "Function calling is not enabled for models/gemma-3-27b-it"; "Function calling with a response mime
        # type: 'application/json' is unsupported" (tools refused together with JSON mode).
        rule("tools_unsupported", phrase=r"function calling is not enabled|function calling with a response mime type"),
    ),
    "ollama": (
        # 404: {"error": "model \"llama3\" not found, try pulling it first"}; {"error":"model 'custom-phi3' not found"}
        rule("not_found", phrase=r"not found, try pulling it first|model ['\"].+['\"] not found"),
        # 500: "model requires more system memory (5.3 GiB) than is available (3.3 GiB)", "llama runner process has
        # terminated: exit status 2", "model runner has unexpectedly stopped".
        rule("transient", phrase=any_of(
            r"requires more system memory", r"runner process has terminated", r"runner has unexpectedly stopped",
            r"timed out waiting for llama runner")),
    ),
}

OTHER_PHRASES: tuple[Rule, ...] = (
    # Tools the model or server cannot take: Ollama "registry.ollama.ai/library/smollm2:135m does not support
    # tools"; one-api "Function call is not supported for this model."; OpenAI "Tools is not supported in this
    # model."; Volcengine "the requested model does not support function calling"; Azure "Unrecognized request
    # argument supplied: tools"; LM Studio "Invalid tool_choice type: 'object'. Supported string values: none,
    # auto, required".
    rule("tools_unsupported", phrase=any_of(
        rf"does(?:n't| not) support\s+(?:the\s+)?{_TOOLS}",
        rf"\b{_TOOLS}\b['\"`]?[^.\n]{{0,40}}?\b(?:is|are)\s+(?:not\s+(?:supported|enabled|available)|unsupported)",
        r"unrecognized request argument supplied: (?:tools|functions|tool_choice)",
        r"unknown (?:parameter|field):? ['`\"]?(?:tools|tool_choice)",
        r"unsupported (?:param|parameter|field):? ['`\"]?(?:tools|tool_choice|functions)",
        r"(?:tools|tool_choice): extra fields not permitted",
        r"invalid tool_choice type", rf"not support {_TOOLS}")),
    # Content filters in words: Azure "The response was filtered due to the prompt triggering Azure OpenAI's
    # content management policy"; OpenAI images "Your request was rejected as a result of our safety system";
    # DeepSeek 400 "Content Exists Risk"; Moonshot "considered high risk"; xAI 403 "Content violates usage
    # guidelines"; DashScope "Input data may contain inappropriate content" / "DataInspectionFailed".
    rule("content_filter", phrase=any_of(
        r"content management policy", r"rejected as a result of our safety system", r"content[_ ]?polic(?:y|ies)",
        r"content[ _-]?filter", r"ContentPolicyViolation", r"responsible ?ai", r"blocked (?:due to|by) safety",
        r"safety (?:filter|settings|system)", r"\b(?:high|exists?) risk\b", r"usage guidelines", r"usage polic(?:y|ies)",
        r"inappropriate content", r"DataInspectionFailed", r"sensitive content", r"不安全或敏感内容", r"敏感")),
    # Missing models in words: "The model `gpt-5` does not exist"; DeepSeek 400 "Model Not Exist"; Fireworks
    # "Model not found, inaccessible, and/or not deployed"; Bedrock "The provided model identifier is invalid.";
    # Hugging Face router "Model not supported by provider together".
    rule("not_found", phrase=any_of(
        r"model[^.\n]{0,80}?(?:does not exist|not exist|not found|is not available|not deployed|decommissioned)",
        r"does not exist or you do not have access", r"deployment for this resource does not exist",
        r"model identifier is invalid", r"invalid model", r"model name is invalid", r"unknown model", r"no such model",
        r"model is not supported", r"model not supported by", r"unable to access model", r"NotFoundError",
        r"endpoint that does not exist", r"模型不存在")),
    # Keys and permissions in words: "Incorrect API key provided", "invalid x-api-key", "No auth credentials found",
    # DeepSeek "Authentication Fails (auth header format should be Bearer sk-...)", Azure "Access denied due to
    # invalid subscription key". (A 5xx that says this is still transient: see ``_classify``.)
    rule("auth", phrase=any_of(
        r"api[ _-]?key", r"invalid (?:x-api-key|api token|token|credentials)", r"no auth credentials", r"unauthori[sz]ed",
        r"authenticat", r"access denied", r"permission", r"not authorized", r"\bforbidden\b", r"user not found",
        r"organization has been disabled", r"account (?:has been |is )?(?:disabled|deactivated|suspended|not active)",
        r"proxy server token", r"身份验证", r"鉴权")),
    # Servers that are busy or broken: "The engine is currently overloaded", "Loading model", Envoy "upstream
    # connect error or disconnect/reset before headers", "upstream request timeout", 9router "fetch connect timeout".
    rule("transient", phrase=any_of(
        r"overloaded", r"temporarily unavailable", r"service ?unavailable", r"high demand", r"loading model",
        r"bad gateway", r"gateway time-?out", r"internal server error", r"internal error", r"upstream connect error",
        r"connection (?:reset|refused)", r"timed? ?out", r"timing out", r"server had an error", r"server error",
        r"try again later", r"please retry", r"too busy", r"稍后重试", r"繁忙")),
)
