"""The public surface DESIGN.md promises, and a cheap, network-free import."""

from __future__ import annotations

import os
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


def test_the_main_names_load_no_pydantic_aiohttp_or_asyncio() -> None:
    # Issue 14's cold start: the four classes load without their records and collaborators, which come
    # with the first Agent(), Router(), ChatSession() or FreeModelsStore(); the classes are the real ones.
    code = textwrap.dedent("""
        import sys
        from assistant import Agent, Router, ChatSession, FreeModelsStore
        heavy = ("pydantic", "pydantic_core", "aiohttp", "asyncio", "logging", "assistant.messages", "assistant.errors")
        print([m for m in heavy if m in sys.modules])
        import inspect
        import assistant.agent, assistant.chat, assistant.free_models, assistant.router
        assert (Agent, Router, ChatSession, FreeModelsStore) == (assistant.agent.Agent, assistant.router.Router,
                                                                 assistant.chat.ChatSession, assistant.free_models.FreeModelsStore)
        assert "tools" in inspect.signature(Agent).parameters and "policy" in inspect.signature(Router).parameters
        assert inspect.signature(ChatSession).parameters["conversation_id"].default is None
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_names_that_load_late_import_from_their_modules_in_a_fresh_interpreter() -> None:
    code = textwrap.dedent("""
        from assistant.agent import Agent, AgentEvent, RunResult, Step, ToolResult, ToolSource, DEFAULT_SYSTEM_PROMPT
        from assistant.chat import ChatEvent, ChatSession, HistoryStore
        from assistant.free_models import BrokenFileError, CURRENT_VERSION, FREE_ROLES, FreeModel, FreeModelsStore
        from assistant.router import AllModelsFailedError, CompactFn, Router, RouterPolicy
        from assistant.messages import Message
        from assistant.agent.tools import DEFAULT_TIMEOUT
        import inspect
        assert inspect.signature(Agent).parameters["tool_timeout"].default == DEFAULT_TIMEOUT
        assert ChatEvent(type="reply", text="hi").text == "hi" and FreeModel(id="groq/x").provider == "groq"
        assert RunResult.__module__ == "assistant.agent.records" and ToolSource.__module__ == "assistant.agent.sources"
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_the_first_instance_of_each_main_class_works_in_a_fresh_interpreter(tmp_path) -> None:
    code = textwrap.dedent("""
        from assistant import Agent, Router, ChatSession, FreeModelsStore

        class MyRouter(Router):
            pass

        def double(x: int) -> int:
            \"\"\"Twice x.\"\"\"
            return 2 * x

        store = FreeModelsStore()
        router = MyRouter(free_models=store)
        agent = Agent("llama/smollm2", tools=[double], router=router)
        session = ChatSession(agent, "c1", greeting=False)
        assert isinstance(router, Router) and agent.router is router and store.list_models()
        assert agent.tool_names == ["double"] and session.history == []
        print("ok")
    """)
    env = {**os.environ, "ASSISTANT_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_import_builds_no_model_schema() -> None:
    # Records are built (validators and serializers compiled) when first used, not by importing the engine.
    code = textwrap.dedent("""
        import sys
        from pydantic import BaseModel
        import assistant
        for name in assistant.__all__:
            getattr(assistant, name)
        from assistant.chat import ChatEvent
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
