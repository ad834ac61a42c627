"""How the names users type find their provider: exact aliases, zeroclaw's alias families with region and
login suffixes, custom:/anthropic-custom: URL providers, and provider/model ids that carry them."""

from __future__ import annotations

import pytest
from aiohttp import web

from assistant.errors import UsageError
from assistant.messages import Message
from assistant.providers import get_spec
from assistant.registry import LLMRegistry, split_model_id

# (what a user types, the row it reaches, the URL that row calls)
TABLE = [
    ("claude", "anthropic", "https://api.anthropic.com"),
    ("google-gemini", "google", "https://generativelanguage.googleapis.com"),
    ("nvidia-nim", "nvidia", "https://integrate.api.nvidia.com/v1"),
    ("lm-studio", "lmstudio", "http://127.0.0.1:1234/v1"),
    ("together-ai", "together", "https://api.together.xyz/v1"),
    ("fireworks-ai", "fireworks", "https://api.fireworks.ai/inference/v1"),
    ("aws-bedrock", "bedrock", None),
    ("moonshot", "kimi", "https://api.moonshot.ai/v1"),
    ("kimi-global", "kimi", "https://api.moonshot.ai/v1"),
    ("moonshot-cn", "kimi-cn", "https://api.moonshot.cn/v1"),
    ("kimi_for_coding", "kimi-code", "https://api.kimi.com/coding/v1"),
    ("glm", "zai", "https://api.z.ai/api/paas/v4"),
    ("zhipu-global", "zai", "https://api.z.ai/api/paas/v4"),
    ("glm-cn", "bigmodel", "https://open.bigmodel.cn/api/paas/v4"),
    ("bigmodel", "bigmodel", "https://open.bigmodel.cn/api/paas/v4"),
    ("z.ai", "zai", "https://api.z.ai/api/paas/v4"),
    ("z.ai-cn", "zai-coding-cn", "https://open.bigmodel.cn/api/coding/paas/v4"),
    ("minimax-oauth", "minimax", "https://api.minimax.io/v1"),
    ("minimax-portal", "minimax", "https://api.minimax.io/v1"),
    ("minimax-portal-cn", "minimax-cn", "https://api.minimaxi.com/v1"),
    ("minimax-oauth-cn", "minimax-cn", "https://api.minimaxi.com/v1"),
    ("minimaxi", "minimax-cn", "https://api.minimaxi.com/v1"),
    ("qwen", "qwen", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
    ("dashscope-cn", "qwen-cn", "https://dashscope.aliyuncs.com/compatible-mode/v1"),
    ("qwen-us", "qwen-us", "https://dashscope-us.aliyuncs.com/compatible-mode/v1"),
    ("dashscope-international", "qwen", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
    ("baidu", "qianfan", "https://qianfan.baidubce.com/v2"),
    ("doubao", "ark", "https://ark.cn-beijing.volces.com/api/v3"),
    ("volcengine", "ark", "https://ark.cn-beijing.volces.com/api/v3"),
    ("ovh", "ovhcloud", "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1"),
    ("vercel-ai", "vercel", "https://ai-gateway.vercel.sh/v1"),
    ("opencode-zen", "opencode", "https://opencode.ai/zen/v1"),
    ("Together-AI", "together", "https://api.together.xyz/v1"),
]


@pytest.mark.parametrize(("typed", "row", "url"), TABLE, ids=[t[0] for t in TABLE])
def test_a_typed_name_reaches_its_row(typed: str, row: str, url: str | None) -> None:
    spec = get_spec(typed)
    assert spec.name == row
    if url is not None:
        assert spec.resolve_base_url() == url


@pytest.mark.parametrize("typed", ["kimi-code-cn", "minimax-foo", "qwen-code", "openai-cn"])
def test_a_family_stem_with_an_unknown_suffix_is_not_guessed(typed: str) -> None:
    with pytest.raises(UsageError, match="unknown provider"):
        get_spec(typed)


def test_an_unknown_provider_names_the_nearest_known_one() -> None:
    with pytest.raises(UsageError, match=r"unknown provider 'openruter' \(did you mean 'openrouter'\?\)"):
        get_spec("openruter")


def test_an_alias_reads_its_own_key_variable_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOUBAO_API_KEY", "ark-0000")
    assert get_spec("doubao").api_key() == "ark-0000"


@pytest.mark.parametrize(("model_id", "provider", "model"), [
    ("custom:https://llm.lan/v1/gpt-4o", "custom:https://llm.lan/v1", "gpt-4o"),
    ("custom:https://llm.lan/v1/meta-llama/Llama-3.3-70B", "custom:https://llm.lan/v1", "meta-llama/Llama-3.3-70B"),
    ("custom:https://LLM.lan/api/paas/v4/glm-4.6", "custom:https://llm.lan/api/paas/v4", "glm-4.6"),
    ("custom:http://127.0.0.1:8000/qwen3", "custom:http://127.0.0.1:8000", "qwen3"),
    ("custom:https://gw.example/openai#my/model", "custom:https://gw.example/openai", "my/model"),
    ("anthropic-custom:https://proxy.example/claude-sonnet-4-5", "anthropic-custom:https://proxy.example", "claude-sonnet-4-5"),
    ("openrouter/z-ai/glm-5", "openrouter", "z-ai/glm-5"),
])
def test_model_ids_with_url_providers_split_after_the_url(model_id: str, provider: str, model: str) -> None:
    assert split_model_id(model_id) == (provider, model)


def test_custom_url_providers_take_their_wire_from_the_prefix() -> None:
    assert (get_spec("custom:https://llm.lan/v1").family, get_spec("anthropic-custom:https://p.example").family) == (
        "openai", "anthropic")
    with pytest.raises(UsageError, match="needs an http"):
        get_spec("custom:ftp://x")


async def test_a_custom_provider_id_is_served_by_its_url(fake_server, monkeypatch: pytest.MonkeyPatch) -> None:
    server = fake_server(lambda r: web.json_response({"choices": [{"message": {"content": "hi there"}, "finish_reason": "stop"}]}))
    monkeypatch.setenv("CUSTOM_API_KEY", "custom-key-0000")
    registry = LLMRegistry.from_env()
    response = await registry.chat(f"custom:{server.url}/v1/my-model", [Message.user("hi")])
    await registry.aclose()
    assert response.text == "hi there"
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert server.requests[0]["json"]["model"] == "my-model"
    assert server.requests[0]["headers"]["Authorization"] == "Bearer custom-key-0000"


async def test_a_custom_provider_in_the_free_models_list_is_accepted(fake_server) -> None:
    from assistant.free_models import FreeModelsStore

    store = FreeModelsStore()
    entry = store.add_model({"id": "custom:http://127.0.0.1:9/v1/tiny", "local": True})
    assert entry.id == "custom:http://127.0.0.1:9/v1/tiny"
