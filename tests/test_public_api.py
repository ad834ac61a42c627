"""The public surface DESIGN.md promises, and a cheap, network-free import."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import assistant
from assistant.errors import ERROR_KINDS, LLMError, error_for_kind
from assistant.errors.redact import mask_key, redact_secrets, register_secret

CONTRACT = {
    "Message", "ToolCall", "ToolSpec", "Usage", "ChatRequest", "ChatResponse", "StreamEvent", "Attempt", "ModelInfo",
    "LLMError", "ContextOverflowError", "RateLimitError", "BillingError", "AuthError", "TransientError",
    "BadRequestError", "NotFoundError", "ToolsUnsupportedError", "ContentFilterError", "StreamInterruptedError",
    "AllModelsFailedError", "UsageError", "classify_error", "LLMClient", "create_client", "LLMRegistry", "Router",
    "FreeModelsStore", "FreeModel", "ModelCatalog", "Agent", "RunResult", "Tool", "tool", "parse_tool_calls",
    "ChatSession",
    # what extension code needs (issue 9)
    "RouterPolicy", "Breaker", "HealthStore", "HistoryStore", "ToolError", "Compactor",
}


def test_package_exports_exactly_the_contract() -> None:
    assert set(assistant.__all__) == CONTRACT


def test_every_exported_name_resolves() -> None:
    for name in CONTRACT:
        assert getattr(assistant, name) is not None, name


def test_import_loads_nothing_heavy_and_opens_no_socket() -> None:
    code = textwrap.dedent("""
        import socket, sys
        def refuse(*a, **k):
            raise SystemExit("network touched at import")
        socket.socket.connect = refuse
        socket.getaddrinfo = refuse
        import assistant, assistant.messages, assistant.errors, assistant.providers
        from assistant import Agent, Router, ChatSession, FreeModelsStore
        Agent, Router, ChatSession, FreeModelsStore
        heavy = ("aiohttp", "tiktoken", "xllamacpp", "opentelemetry", "cryptography", "redis", "mcp", "pypdf",
                 "filelock", "cachetools", "tomllib", "difflib",
                 "importlib.metadata")  # pydantic loads it with the first schema it builds
        print([m for m in heavy if m in sys.modules])
    """)
    # How long it takes is scripts/bench_client.py's job (a timed unit test only measures the machine's load);
    # this pins what must not load before the first request.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_import_builds_no_model_schema() -> None:
    # Records are built (validators and serializers compiled) when first used, not by importing the engine.
    code = textwrap.dedent("""
        import sys
        from pydantic import BaseModel
        from assistant import Agent, Router, ChatSession, FreeModelsStore
        models = [v for name, module in list(sys.modules.items()) if name.startswith("assistant")
                  for v in vars(module).values()
                  if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == name]
        assert len(models) > 20, models
        print([m.__qualname__ for m in models if m.__pydantic_complete__])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_error_kinds_are_exactly_the_designed_set() -> None:
    assert set(ERROR_KINDS) == {"context_overflow", "rate_limit", "billing", "auth", "transient", "bad_request",
                                "not_found", "tools_unsupported", "content_filter"}
    for kind in ERROR_KINDS:
        err = error_for_kind(kind, "x", provider="p")
        assert isinstance(err, LLMError) and err.kind == kind


def test_llm_errors_survive_pickling_with_their_evidence() -> None:
    import pickle

    err = error_for_kind("context_overflow", "too long", provider="llama", status=400, prompt_tokens=3000, context_window=2048)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.kind, copy.provider, copy.status, copy.prompt_tokens, copy.context_window) == ("context_overflow", "llama", 400, 3000, 2048)


def test_registered_and_shaped_secrets_are_masked() -> None:
    register_secret("my-own-secret-value-42")
    text = redact_secrets("key my-own-secret-value-42 and sk-ant-api03-abcdefghijklmnopqrstuv and Bearer abc.def.ghi.jkl")
    assert "my-own-secret-value-42" not in text
    assert "abcdefghijklmnopqrstuv" not in text
    assert "abc.def.ghi.jkl" not in text
    assert mask_key("sk-1234567890abcdef") == "...cdef"
    assert mask_key(None) == "(none)"
