"""The error hierarchy: one class per kind, each carrying evidence (status, body, retry hint), never a key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from .redact import redact_secrets as redact

if TYPE_CHECKING:
    from ..messages import Attempt, ChatResponse

__all__ = [
    "ErrorKind",
    "ERROR_KINDS",
    "LLMError",
    "ContextOverflowError",
    "RateLimitError",
    "BillingError",
    "AuthError",
    "TransientError",
    "BadRequestError",
    "NotFoundError",
    "ToolsUnsupportedError",
    "ContentFilterError",
    "StreamInterruptedError",
    "AllModelsFailedError",
    "UsageError",
    "error_for_kind",
]

ErrorKind = Literal[
    "context_overflow",
    "rate_limit",
    "billing",
    "auth",
    "transient",
    "bad_request",
    "not_found",
    "tools_unsupported",
    "content_filter",
]
ERROR_KINDS: tuple[str, ...] = ErrorKind.__args__  # type: ignore[attr-defined]

_BODY_LIMIT = 2000


class LLMError(Exception):
    """A provider said no. Evidence only: no side effects, no key anywhere in it."""

    kind: str = "transient"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        body: str = "",
        code: str | None = None,
        kind: str | None = None,
        partial: ChatResponse | None = None,
    ) -> None:
        self.message = redact(message)
        self.provider = provider
        self.model = model
        self.status = status
        self.retry_after = retry_after
        self.body = redact(body[:_BODY_LIMIT])
        self.code = code
        # Output received before the error (errors inside an HTTP 200 stream).
        self.partial = partial
        if kind is not None:
            self.kind = kind
        super().__init__(self.message)

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        status = f" HTTP {self.status}" if self.status else ""
        prefix = f"[{self.kind}{status}{' ' + where if where else ''}] "
        return prefix + self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.kind!r}, provider={self.provider!r}, model={self.model!r}, "
            f"status={self.status!r}, retry_after={self.retry_after!r}, message={self.message[:200]!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[LLMError], message: str, state: dict[str, Any]) -> LLMError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ContextOverflowError(LLMError):
    """The prompt (plus the requested output) does not fit the model's window."""

    kind = "context_overflow"

    def __init__(self, message: str, *, prompt_tokens: int | None = None, context_window: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.prompt_tokens = prompt_tokens
        self.context_window = context_window


class RateLimitError(LLMError):
    """Too many requests or tokens; ``never_passes`` when this request is too large for the tier."""

    kind = "rate_limit"
    retryable = True

    def __init__(self, message: str, *, never_passes: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.never_passes = never_passes
        if never_passes:
            self.retryable = False


class BillingError(LLMError):
    kind = "billing"


class AuthError(LLMError):
    kind = "auth"


class TransientError(LLMError):
    kind = "transient"
    retryable = True


class BadRequestError(LLMError):
    kind = "bad_request"


class NotFoundError(LLMError):
    kind = "not_found"


class ToolsUnsupportedError(LLMError):
    kind = "tools_unsupported"


class ContentFilterError(LLMError):
    kind = "content_filter"


class StreamInterruptedError(LLMError):
    """A stream failed after content reached the caller; ``partial`` holds what arrived."""

    def __init__(self, message: str, *, cause: LLMError | None = None, **kw: Any) -> None:
        kw.setdefault("kind", cause.kind if cause else "transient")
        super().__init__(message, **kw)
        self.cause = cause
        self.retryable = False


class AllModelsFailedError(LLMError):
    """Every candidate failed; ``attempts`` says what each one answered."""

    def __init__(self, message: str, *, attempts: list[Attempt] | None = None, **kw: Any) -> None:
        self.attempts = list(attempts or [])
        last_kind = next((a.kind for a in reversed(self.attempts) if a.kind), None)
        kw.setdefault("kind", last_kind if last_kind in ERROR_KINDS else "transient")
        super().__init__(message, **kw)


class UsageError(ValueError):
    """The caller's mistake; the message says what was wrong and how to fix it. Never retried."""


_BY_KIND: dict[str, type[LLMError]] = {
    "context_overflow": ContextOverflowError,
    "rate_limit": RateLimitError,
    "billing": BillingError,
    "auth": AuthError,
    "transient": TransientError,
    "bad_request": BadRequestError,
    "not_found": NotFoundError,
    "tools_unsupported": ToolsUnsupportedError,
    "content_filter": ContentFilterError,
}


def error_for_kind(kind: str, message: str, **kw: Any) -> LLMError:
    """Build the ``LLMError`` subclass for ``kind`` (extra keywords go to its constructor)."""
    cls = _BY_KIND[kind]
    if cls is not ContextOverflowError:
        kw.pop("prompt_tokens", None)
        kw.pop("context_window", None)
    if cls is not RateLimitError:
        kw.pop("never_passes", None)
    return cls(message, **kw)
