"""The built-in provider rows and the spellings that name them.

Each OpenAI-shape row cites the vendor page it was read from; facts not confirmed there are left at the
safe default (tool_choice "required" off, no reasoning mapping). Research notes with every source:
docs.perplexity.ai, help.aliyun.com/model-studio, platform.minimax.io, docs.z.ai / open.bigmodel.cn,
cloud.baidu.com/doc/qianfan, volcengine.com/docs/82379, docs.venice.ai, vercel.com/docs/ai-gateway,
developers.cloudflare.com/workers-ai, endpoints.ai.cloud.ovh.net, docs.sambanova.ai,
huggingface.co/docs/inference-providers, synthetic.new, opencode.ai/docs/zen, api.kimi.com.
"""

from __future__ import annotations

from typing import Any

from ._spec import ProviderSpec

__all__ = ["ROWS", "ALIASES"]


def _builtin_row(**fields: Any) -> ProviderSpec:
    # Unvalidated, so importing the engine builds no pydantic schema (cold start); a misspelt field still
    # fails here, and tests/test_provider_rows.py validates every row.
    unknown = fields.keys() - ProviderSpec.model_fields.keys()
    if unknown:
        raise TypeError(f"ProviderSpec has no field {sorted(unknown)}")
    return ProviderSpec.model_construct(**fields)


_OPENAI = dict(family="openai")
# The Go seed gives local servers, Anthropic and NIM 45 minutes for one answer; long reasoning runs
# need the same. The read timeout (gap between chunks) still catches a stalled stream.
_LONG = dict(total_timeout=2700.0, read_timeout=300.0)
_LOCAL = dict(key_required=False, local=True, max_concurrency=1, connect_timeout=3.0, read_timeout=600.0,
              total_timeout=2700.0)

ROWS: list[ProviderSpec] = [
    _builtin_row(name="openai", base_url="https://api.openai.com/v1", max_tokens_field="max_completion_tokens",
                 reasoning_style="openai", default_model="gpt-4.1-mini", **_LONG, **_OPENAI),
    _builtin_row(name="openrouter", base_url="https://openrouter.ai/api/v1", reasoning_style="openrouter",
                 jitter=(0.1, 0.4), free_suffix=":free", models_path="/models", default_model="openrouter/auto",
                 extra_headers=(("X-Title", "assistant"),), cache_breakpoints=("anthropic/", "google/gemini"),
                 usage_accounting=True, **_OPENAI),
    _builtin_row(name="groq", base_url="https://api.groq.com/openai/v1", reasoning_style="groq",
                 default_model="llama-3.3-70b-versatile", **_OPENAI),
    _builtin_row(name="mistral", base_url="https://api.mistral.ai/v1", supports_tool_choice_required=True,
                 supports_stream_usage=False, default_model="mistral-small-latest", **_OPENAI),
    _builtin_row(name="deepseek", base_url="https://api.deepseek.com/v1", reasoning_style="deepseek",
                 echo_reasoning=True, supports_json_schema=False, default_model="deepseek-chat", **_LONG, **_OPENAI),
    _builtin_row(name="grok", base_url="https://api.x.ai/v1", key_env=("XAI_API_KEY",), reasoning_style="openai",
                 default_model="grok-4", **_OPENAI),
    _builtin_row(name="kimi", base_url="https://api.moonshot.ai/v1", key_env=("MOONSHOT_API_KEY",),
                 supports_tool_choice_required=False, default_model="kimi-k2-0905-preview", **_OPENAI),
    # zeroclaw: bare "kimi"/"moonshot" mean China there; here they keep meaning api.moonshot.ai and
    # the -cn spellings reach this row.
    _builtin_row(name="kimi-cn", base_url="https://api.moonshot.cn/v1", key_env=("MOONSHOT_API_KEY",),
                 supports_tool_choice_required=False, default_model="kimi-k2-0905-preview", **_OPENAI),
    # Kimi for Coding admits only whitelisted coding-agent User-Agents (403 access_terminated_error
    # otherwise, MoonshotAI/kimi-cli#2322); we do not impersonate one: set extra_headers yourself.
    _builtin_row(name="kimi-code", base_url="https://api.kimi.com/coding/v1", api_prefix="/coding/v1",
                 key_env=("KIMI_API_KEY", "MOONSHOT_API_KEY"), reasoning_style="openai",
                 default_model="kimi-for-coding", **_OPENAI),
    _builtin_row(name="nvidia", base_url="https://integrate.api.nvidia.com/v1", key_env=("NVIDIA_NIM_API_KEY",),
                 **_LONG, **_OPENAI),
    _builtin_row(name="inception", base_url="https://api.inceptionlabs.ai/v1", **_OPENAI),
    # "Tool choice must be auto" for any other value (vectorize-io/hindsight#4246): never sent.
    _builtin_row(name="zai", base_url="https://api.z.ai/api/paas/v4", api_prefix="/api/paas/v4",
                 key_env=("ZHIPUAI_API_KEY", "Z_AI_API_KEY", "ZHIPU_API_KEY", "GLM_API_KEY"), reasoning_style="zai",
                 supports_tool_choice=False, supports_tool_choice_required=False, default_model="glm-4.6", **_OPENAI),
    _builtin_row(name="bigmodel", base_url="https://open.bigmodel.cn/api/paas/v4", api_prefix="/api/paas/v4",
                 key_env=("ZHIPUAI_API_KEY", "ZHIPU_API_KEY", "GLM_API_KEY"), reasoning_style="zai",
                 supports_tool_choice=False, supports_tool_choice_required=False, default_model="glm-4.6", **_OPENAI),
    # Coding-plan keys 401 on the public paas endpoints; zeroclaw's zai rows use these.
    _builtin_row(name="zai-coding", base_url="https://api.z.ai/api/coding/paas/v4", api_prefix="/api/coding/paas/v4",
                 key_env=("ZAI_API_KEY", "ZHIPUAI_API_KEY"), reasoning_style="zai", supports_tool_choice=False,
                 supports_tool_choice_required=False, default_model="glm-4.6", **_OPENAI),
    _builtin_row(name="zai-coding-cn", base_url="https://open.bigmodel.cn/api/coding/paas/v4",
                 api_prefix="/api/coding/paas/v4", key_env=("ZAI_API_KEY", "ZHIPUAI_API_KEY"), reasoning_style="zai",
                 supports_tool_choice=False, supports_tool_choice_required=False, default_model="glm-4.6", **_OPENAI),
    _builtin_row(name="together", base_url="https://api.together.xyz/v1", key_env=("TOGETHER_AI_API_KEY",), **_OPENAI),
    _builtin_row(name="fireworks", base_url="https://api.fireworks.ai/inference/v1", key_env=("FIREWORKS_AI_API_KEY",),
                 **_OPENAI),
    _builtin_row(name="cerebras", base_url="https://api.cerebras.ai/v1", supports_tool_choice_required=True,
                 default_model="llama-3.3-70b", **_OPENAI),
    # Sonar has no function calling: a "tool" role message is a 400 (BerriAI/litellm#11665). Chat lives
    # at the root (/chat/completions); "/" keeps the client from adding a /v1.
    _builtin_row(name="perplexity", base_url="https://api.perplexity.ai", api_prefix="/",
                 key_env=("PERPLEXITYAI_API_KEY",), supports_tools=False, supports_tool_choice=False,
                 supports_tool_choice_required=False, reasoning_style="perplexity", default_model="sonar", **_OPENAI),
    # DashScope rejects tool_choice "required" ('should be ["none", "auto"]', pydantic-ai#1265).
    _builtin_row(name="qwen", base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
                 api_prefix="/compatible-mode/v1", key_env=("DASHSCOPE_API_KEY", "QWEN_API_KEY"),
                 supports_tool_choice_required=False, reasoning_style="qwen", default_model="qwen-plus", **_LONG, **_OPENAI),
    _builtin_row(name="qwen-cn", base_url="https://dashscope.aliyuncs.com/compatible-mode/v1",
                 api_prefix="/compatible-mode/v1", key_env=("DASHSCOPE_API_KEY", "QWEN_API_KEY"),
                 supports_tool_choice_required=False, reasoning_style="qwen", default_model="qwen-plus", **_LONG, **_OPENAI),
    _builtin_row(name="qwen-us", base_url="https://dashscope-us.aliyuncs.com/compatible-mode/v1",
                 api_prefix="/compatible-mode/v1", key_env=("DASHSCOPE_API_KEY", "QWEN_API_KEY"),
                 supports_tool_choice_required=False, reasoning_style="qwen", default_model="qwen-plus", **_LONG, **_OPENAI),
    _builtin_row(name="qwen-coding-plan", base_url="https://coding.dashscope.aliyuncs.com/v1",
                 key_env=("DASHSCOPE_API_KEY",), supports_tool_choice_required=False, reasoning_style="qwen",
                 default_model="qwen3-coder-plus", **_LONG, **_OPENAI),
    # MiniMax: max_tokens is deprecated for max_completion_tokens; tool_choice is not in its schema.
    # Reasoning arrives as <think>...</think> in content (split off by the client).
    _builtin_row(name="minimax", base_url="https://api.minimax.io/v1", key_env=("MINIMAX_OAUTH_TOKEN",),
                 max_tokens_field="max_completion_tokens", supports_tool_choice=False,
                 supports_tool_choice_required=False, reasoning_style="minimax", default_model="MiniMax-M2", **_OPENAI),
    _builtin_row(name="minimax-cn", base_url="https://api.minimaxi.com/v1", key_env=("MINIMAX_API_KEY", "MINIMAX_OAUTH_TOKEN"),
                 max_tokens_field="max_completion_tokens", supports_tool_choice=False,
                 supports_tool_choice_required=False, reasoning_style="minimax", default_model="MiniMax-M2", **_OPENAI),
    # Qianfan v2 is OpenAI-compatible ("完全兼容OpenAI标准"); aip.baidubce.com is the legacy v1 API.
    _builtin_row(name="qianfan", base_url="https://qianfan.baidubce.com/v2", api_prefix="/v2",
                 key_env=("BAIDU_API_KEY",), supports_tool_choice_required=False, default_model="ernie-4.5-turbo-128k",
                 **_OPENAI),
    _builtin_row(name="ark", base_url="https://ark.cn-beijing.volces.com/api/v3", api_prefix="/api/v3",
                 key_env=("DOUBAO_API_KEY", "VOLCENGINE_API_KEY"), supports_tool_choice_required=False,
                 reasoning_style="ark", **_LONG, **_OPENAI),
    _builtin_row(name="venice", base_url="https://api.venice.ai/api/v1", api_prefix="/api/v1",
                 key_env=("VENICE_AI_API_KEY",), supports_tool_choice_required=False, reasoning_style="venice",
                 **_OPENAI),
    # Vercel AI Gateway: OpenAI chat spec, model ids "provider/model", reasoning as {enabled, effort}.
    _builtin_row(name="vercel", base_url="https://ai-gateway.vercel.sh/v1",
                 key_env=("AI_GATEWAY_API_KEY", "VERCEL_OIDC_TOKEN"), reasoning_style="openrouter",
                 default_model="openai/gpt-4.1-mini", **_OPENAI),
    # Workers AI needs the account id in the path; tool calling is per model.
    _builtin_row(name="cloudflare", base_url="https://api.cloudflare.com/client/v4/accounts/{CLOUDFLARE_ACCOUNT_ID}/ai/v1",
                 api_prefix="/client/v4/accounts/{CLOUDFLARE_ACCOUNT_ID}/ai/v1",
                 key_env=("CLOUDFLARE_API_TOKEN", "CF_API_TOKEN"), supports_tool_choice_required=False,
                 default_model="@cf/meta/llama-3.3-70b-instruct-fp8-fast", **_OPENAI),
    _builtin_row(name="ovhcloud", base_url="https://oai.endpoints.kepler.ai.cloud.ovh.net/v1",
                 key_env=("OVH_AI_ENDPOINTS_ACCESS_TOKEN",), supports_tool_choice_required=False,
                 reasoning_style="openai", **_OPENAI),
    _builtin_row(name="sambanova", base_url="https://api.sambanova.ai/v1", supports_tool_choice_required=False,
                 **_OPENAI),
    # One token brokers many inference providers; capabilities are the upstream's.
    _builtin_row(name="huggingface", base_url="https://router.huggingface.co/v1",
                 key_env=("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ACCESS_TOKEN"), supports_tool_choice_required=False,
                 **_OPENAI),
    _builtin_row(name="astrai", base_url="https://as-trai.com/v1", supports_tool_choice_required=False,
                 default_model="auto", **_OPENAI),
    _builtin_row(name="synthetic", base_url="https://api.synthetic.new/openai/v1", api_prefix="/openai/v1",
                 supports_tool_choice_required=False, **_OPENAI),
    _builtin_row(name="opencode", base_url="https://opencode.ai/zen/v1", api_prefix="/zen/v1",
                 key_env=("OPENCODE_ZEN_API_KEY",), supports_tool_choice_required=False, **_OPENAI),
    _builtin_row(name="siliconflow", base_url="https://api.siliconflow.cn/v1", supports_tool_choice_required=False,
                 **_OPENAI),
    _builtin_row(name="hunyuan", base_url="https://api.hunyuan.cloud.tencent.com/v1", key_env=("TENCENT_API_KEY",),
                 supports_tool_choice_required=False, **_OPENAI),
    _builtin_row(name="vllm", base_url="http://127.0.0.1:8000/v1", **{**_LOCAL, "max_concurrency": 8}, **_OPENAI),
    _builtin_row(name="sglang", base_url="http://127.0.0.1:30000/v1", **{**_LOCAL, "max_concurrency": 8}, **_OPENAI),
    _builtin_row(name="lmstudio", base_url="http://127.0.0.1:1234/v1", **_LOCAL, **_OPENAI),
    # llama.cpp's server takes its root; the OpenAI routes live under /v1.
    _builtin_row(name="llama", base_url="http://127.0.0.1:8080", api_prefix="", reasoning_style="llama",
                 **_LOCAL, **_OPENAI),
    _builtin_row(name="anthropic", family="anthropic", base_url="https://api.anthropic.com", reasoning_style="none",
                 key_env=("ANTHROPIC_OAUTH_TOKEN",), default_model="claude-sonnet-4-5", cache_breakpoints=("",),
                 **_LONG),
    _builtin_row(name="google", family="gemini", base_url="https://generativelanguage.googleapis.com",
                 key_env=("GEMINI_API_KEY", "GOOGLE_GENERATIVE_AI_API_KEY"), default_model="gemini-2.5-flash"),
    _builtin_row(name="ollama", family="ollama", base_url="http://127.0.0.1:11434", **_LOCAL),
    # {AWS_REGION} is filled from the AWS region chain (AWS_REGION, AWS_DEFAULT_REGION, ~/.aws/config).
    _builtin_row(name="bedrock", family="bedrock", base_url="https://bedrock-runtime.{AWS_REGION}.amazonaws.com",
                 api_prefix="", auth="aws", key_env=("AWS_BEARER_TOKEN_BEDROCK",), supports_json_schema=False,
                 default_model="amazon.nova-lite-v1:0", **_LONG),
    _builtin_row(name="cohere", family="cohere", base_url="https://api.cohere.com", api_prefix="",
                 key_env=("CO_API_KEY",), supports_tool_choice_required=True, supports_json_schema=False,
                 default_model="command-a-03-2025"),
]

# Exact spellings (zeroclaw's alias tables, src/providers/mod.rs, plus what people type). Spellings that
# only differ by a region or login suffix are handled by the families in specs.
ALIASES: dict[str, str] = {
    "gemini": "google", "google-gemini": "google", "google-ai-studio": "google",
    "xai": "grok", "x.ai": "grok",
    "claude": "anthropic",
    "moonshot": "kimi", "moonshot-intl": "kimi", "moonshot-global": "kimi", "kimi-intl": "kimi", "kimi-global": "kimi",
    "moonshot-cn": "kimi-cn",
    "kimi_coding": "kimi-code", "kimi_for_coding": "kimi-code", "kimi-for-coding": "kimi-code", "kimi-coding": "kimi-code",
    "llamacpp": "llama", "llama.cpp": "llama", "llama-cpp": "llama",
    "lm-studio": "lmstudio",
    "together-ai": "together", "togetherai": "together",
    "fireworks-ai": "fireworks",
    "nvidia-nim": "nvidia", "nim": "nvidia", "build.nvidia.com": "nvidia",
    "aws-bedrock": "bedrock", "amazon-bedrock": "bedrock",
    "cohere-v2": "cohere",
    "perplexity-ai": "perplexity", "perplexityai": "perplexity", "sonar": "perplexity",
    "dashscope": "qwen", "dashscope-intl": "qwen", "qwen-intl": "qwen", "qwen-international": "qwen",
    "dashscope-international": "qwen", "alibaba": "qwen",
    "dashscope-cn": "qwen-cn", "dashscope-us": "qwen-us",
    "minimax-intl": "minimax", "minimax-io": "minimax", "minimax-global": "minimax", "minimax-oauth": "minimax",
    "minimax-portal": "minimax", "minimax-oauth-global": "minimax", "minimax-portal-global": "minimax",
    "minimaxi": "minimax-cn", "minimax-oauth-cn": "minimax-cn", "minimax-portal-cn": "minimax-cn",
    "glm": "zai", "zhipu": "zai", "glm-global": "zai", "zhipu-global": "zai",
    "z.ai": "zai", "z-ai": "zai", "zai-global": "zai", "z.ai-global": "zai",
    "glm-cn": "bigmodel", "zhipu-cn": "bigmodel", "zhipuai": "bigmodel",
    "zai-cn": "zai-coding-cn", "z.ai-cn": "zai-coding-cn",
    "baidu": "qianfan", "ernie": "qianfan", "wenxin": "qianfan",
    "doubao": "ark", "volcengine": "ark", "doubao-cn": "ark", "volcengine-ark": "ark",
    "venice-ai": "venice",
    "vercel-ai": "vercel", "vercel-ai-gateway": "vercel", "ai-gateway": "vercel",
    "cloudflare-ai": "cloudflare", "workers-ai": "cloudflare", "cloudflare-workers-ai": "cloudflare",
    "ovh": "ovhcloud",
    "sambanova-cloud": "sambanova",
    "hf": "huggingface", "hugging-face": "huggingface", "huggingface-router": "huggingface",
    "opencode-zen": "opencode",
    "silicon-cloud": "siliconflow", "siliconcloud": "siliconflow",
    "tencent": "hunyuan",
}
