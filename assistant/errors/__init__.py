"""Every error the engine raises, and the classifier that turns a provider's "no" into one.

Hierarchy::

    Exception
    ├── LLMError                      a provider (or the router) said no; carries evidence, never a key
    │   ├── ContextOverflowError      kind "context_overflow"  (.prompt_tokens, .context_window)
    │   ├── RateLimitError            kind "rate_limit"        (.retry_after, .never_passes)
    │   ├── BillingError              kind "billing"
    │   ├── AuthError                 kind "auth"
    │   ├── TransientError            kind "transient"         (5xx, timeouts, resets, overloaded)
    │   ├── BadRequestError           kind "bad_request"
    │   ├── NotFoundError             kind "not_found"
    │   ├── ToolsUnsupportedError     kind "tools_unsupported"
    │   ├── ContentFilterError        kind "content_filter"
    │   ├── StreamInterruptedError    a stream died after content arrived (.partial, .cause)
    │   └── AllModelsFailedError      the router ran out of candidates (.attempts)
    └── UsageError(ValueError)        the caller's mistake (unknown provider, bad entry); names the fix

``classify_error(provider, status, body, headers)`` is pure: every client sends every non-2xx answer
and every in-stream error event through it. The rule tables live in ``_rules*.py`` (order in ``_rules``);
body parsing in ``_parse.py``, waits and token counts in ``_hints.py``, key redaction in ``redact.py``.

This part imports only ``assistant.messages`` (and that only for type hints).
"""

from collections.abc import Mapping

from ._dialects import declare_family
from .hierarchy import (
    ERROR_KINDS,
    AllModelsFailedError,
    AuthError,
    BadRequestError,
    BillingError,
    ContentFilterError,
    ContextOverflowError,
    ErrorKind,
    LLMError,
    NotFoundError,
    RateLimitError,
    StreamInterruptedError,
    ToolsUnsupportedError,
    TransientError,
    UsageError,
    error_for_kind,
)
from .redact import redact_secrets as redact


def classify_error(
    provider: str,
    status: int,
    body: str | bytes,
    headers: Mapping[str, str] | None = None,
    *,
    now: float | None = None,
) -> LLMError:
    """Turn a provider's error answer into a typed ``LLMError``. Pure, no I/O, never raises.

        err = classify_error("groq", 413, body, {"retry-after": "7"})
    """
    # The rule tables (and their regular expressions) load on the first error, not at import.
    from ._classify import classify

    return classify(provider, status, body, headers, now=now)


for _cls in (LLMError, UsageError, *LLMError.__subclasses__(), *ContextOverflowError.__subclasses__()):
    _cls.__module__ = __name__  # tracebacks and reprs name the documented path

__all__ = [
    "ErrorKind", "ERROR_KINDS", "LLMError", "ContextOverflowError", "RateLimitError", "BillingError", "AuthError",
    "TransientError", "BadRequestError", "NotFoundError", "ToolsUnsupportedError", "ContentFilterError",
    "StreamInterruptedError", "AllModelsFailedError", "UsageError", "classify_error", "declare_family",
    "error_for_kind", "redact",
]
