"""assistant: an async ReAct agent engine that finishes the task on whatever model you can reach.

    from assistant import Agent
    result = await Agent(tools=[my_function]).run("What is 17 * 23?")

Importing the package is cheap and touches no network: names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Message": "messages", "ToolCall": "messages", "ToolSpec": "messages", "Usage": "messages",
    "ChatRequest": "messages", "ChatResponse": "messages", "StreamEvent": "messages", "Attempt": "messages",
    "ModelInfo": "messages",
    "LLMError": "errors", "ContextOverflowError": "errors", "RateLimitError": "errors", "BillingError": "errors",
    "AuthError": "errors", "TransientError": "errors", "BadRequestError": "errors", "NotFoundError": "errors",
    "ToolsUnsupportedError": "errors", "ContentFilterError": "errors", "StreamInterruptedError": "errors",
    "AllModelsFailedError": "errors", "UsageError": "errors", "classify_error": "errors",
    "LLMClient": "providers", "create_client": "providers",
    "LLMRegistry": "registry",
    "Router": "router",
    "FreeModelsStore": "free_models", "FreeModel": "free_models",
    "ModelCatalog": "catalog",
    "Agent": "agent", "RunResult": "agent",
    "Tool": "agent.tools", "tool": "agent.tools", "ToolError": "agent.tools",
    "RouterPolicy": "router.policies", "Breaker": "router.policies", "HealthStore": "router.health",
    "Compactor": "context.compaction", "HistoryStore": "chat.history",
    "parse_tool_calls": "toolcall_text",
    "ChatSession": "chat",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # pragma: no cover
    from .agent import Agent, RunResult
    from .agent.tools import Tool, tool
    from .catalog import ModelCatalog
    from .chat import ChatSession
    from .errors import (
        AllModelsFailedError,
        AuthError,
        BadRequestError,
        BillingError,
        ContentFilterError,
        ContextOverflowError,
        LLMError,
        NotFoundError,
        RateLimitError,
        StreamInterruptedError,
        ToolsUnsupportedError,
        TransientError,
        UsageError,
        classify_error,
    )
    from .free_models import FreeModel, FreeModelsStore
    from .messages import (
        Attempt,
        ChatRequest,
        ChatResponse,
        Message,
        ModelInfo,
        StreamEvent,
        ToolCall,
        ToolSpec,
        Usage,
    )
    from .providers import LLMClient, create_client
    from .registry import LLMRegistry
    from .router import Router
    from .toolcall_text import parse_tool_calls
