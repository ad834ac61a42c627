"""Traces and logs of what the engine did: a span per agent run, step, router call and attempt, and an
INFO log line per hop for users without OpenTelemetry.

Spans follow the OpenTelemetry GenAI semantic conventions (``gen_ai.operation.name``,
``gen_ai.provider.name`` and the older ``gen_ai.system``, ``gen_ai.request.model``,
``gen_ai.response.model``, ``gen_ai.usage.input_tokens`` / ``output_tokens``,
``gen_ai.response.finish_reasons``, ``error.type``;
https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/). They go through
``opentelemetry-api`` (the optional extra ``otel``) to whatever tracer provider the application set
up; without the package, or with ``ASSISTANT_OTEL=0``, every helper returns one shared no-op object
after a single flag check, and ``opentelemetry`` is never imported. The same holds while no tracer provider
is configured (none passed to ``configure`` and none set globally): spans would go nowhere, so none are made.

    with telemetry.chat_span("auto", request) as span:     # the router, once per call
        telemetry.attempt(span, attempt)                    # each hop, as it is recorded
        span.answered(response)

Log records (logger ``assistant.telemetry``) carry providers, models, error kinds and token counts,
never keys or message text.

Part: tracing and hop logs. May import: messages, errors, files.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from typing import Any

__all__ = ["ENABLED", "NOOP", "configure", "quiet", "agent_span", "step_span", "chat_span", "attempt", "Span"]

_log = logging.getLogger(__name__)
_INFO = logging.INFO

# The one check on the hot path; find_spec does not import the package (its import costs ~150 ms).
ENABLED: bool = os.environ.get("ASSISTANT_OTEL", "1").strip().lower() not in ("0", "false", "no", "off") and (
    importlib.util.find_spec("opentelemetry") is not None)
_tracer: Any = None
_provider: Any = None
# OpenTelemetry's auto-instrumentation names a provider in the environment and sets it on first use.
_ENV_PROVIDER = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def configure(*, enabled: bool | None = None, tracer_provider: Any = None) -> None:
    """Turn spans on or off, or send them to ``tracer_provider`` instead of the global one.

        telemetry.configure(tracer_provider=TracerProvider())   # tests, or an app with its own provider
    """
    global ENABLED, _tracer, _provider
    if enabled is not None:
        ENABLED = enabled and importlib.util.find_spec("opentelemetry") is not None
    if tracer_provider is not None:
        _provider = tracer_provider
    _tracer = None


def _tracing() -> bool:
    """True when spans go somewhere: switched on, and a tracer provider given to ``configure`` or set
    globally. Until an application sets one, OpenTelemetry's global provider is a proxy whose spans
    record nothing; the application can only have set one after importing ``opentelemetry.trace``."""
    if not ENABLED:
        return False
    if _provider is not None or _ENV_PROVIDER:
        return True
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return False
    return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def quiet() -> bool:
    """True when nothing would be recorded now: no INFO logging and no tracing. A caller may then skip
    a span altogether (``NOOP`` stands in for it)."""
    return not _log.isEnabledFor(_INFO) and not _tracing()



def _get_tracer() -> Any:
    global _tracer
    if _tracer is None:
        from opentelemetry import trace

        _tracer = (_provider or trace.get_tracer_provider()).get_tracer("assistant")
    return _tracer


class _Noop:
    """What every helper returns when there is nothing to record: enters, exits, ignores."""

    __slots__ = ()
    recording = False

    def __enter__(self) -> _Noop:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def set(self, **attributes: Any) -> None:
        return None

    def answered(self, response: Any) -> None:
        return None


NOOP = _NOOP = _Noop()


class Span:
    """One span (or, without OpenTelemetry, one logged operation); made current while entered."""

    __slots__ = ("name", "kind", "attributes", "log", "_span", "_token", "mark", "start_ns")

    recording = True

    def __init__(self, name: str, attributes: dict[str, Any], *, kind: str = "internal", log: str = "") -> None:
        self.name, self.kind, self.attributes, self.log = name, kind, attributes, log
        self._span: Any = None
        self._token: Any = None
        self.start_ns = self.mark = time.time_ns()

    def __enter__(self) -> Span:
        if _tracing():
            from opentelemetry import context, trace

            kind = trace.SpanKind.CLIENT if self.kind == "client" else trace.SpanKind.INTERNAL
            self._span = _get_tracer().start_span(self.name, kind=kind, attributes=_clean(self.attributes),
                                                  start_time=self.start_ns)
            self._token = context.attach(trace.set_span_in_context(self._span))
        if self.log and _log.isEnabledFor(_INFO):
            _log.info("%s start %s", self.log, _describe(self.attributes))
        return self

    def set(self, **attributes: Any) -> None:
        """Add attributes (dots spelled as ``__``: ``gen_ai__response__model="x"``)."""
        found = {k.replace("__", "."): v for k, v in attributes.items()}
        self.attributes.update(found)
        if self._span is not None:
            self._span.set_attributes(_clean(found))

    def answered(self, response: Any) -> None:
        """The response that ended a chat call: model, provider, tokens, finish reason."""
        self.set(**_response_attributes(response))

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        error = None if exc is None or isinstance(exc, GeneratorExit) else _error_type(exc)
        if error is not None:
            self.set(error__type=error)
        if self._span is not None:
            from opentelemetry import context
            from opentelemetry.trace import Status, StatusCode

            if error is not None:
                self._span.set_status(Status(StatusCode.ERROR, str(error)))
            self._span.end()
            try:
                context.detach(self._token)
            except ValueError:  # pragma: no cover - closed from another context (an abandoned generator)
                pass
        if self.log and _log.isEnabledFor(_INFO):
            took = (time.time_ns() - self.start_ns) / 1e9
            _log.info("%s end in %.2fs %s", self.log, took, _describe(self.attributes, final=True))
        return False


def agent_span(model: Any, tools: list[str]) -> Span | _Noop:
    """The span of one ``Agent.run``."""
    if quiet():
        return _NOOP
    label = _model_label(model)
    return Span("invoke_agent assistant", {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "assistant", "gen_ai.request.model": label,
        "assistant.tools": list(tools),
    }, log="agent run")


def step_span(number: int) -> Span | _Noop:
    """The span of one agent step (a model call and the tools it asked for)."""
    if quiet():
        return _NOOP
    return Span(f"step {number}", {"assistant.step.number": number}, log=f"agent step {number}")


def chat_span(model: Any, request: Any) -> Span | _Noop:
    """The span of one router call (every candidate it tries, each an ``attempt`` span below it)."""
    if quiet():
        return _NOOP
    label = _model_label(model)
    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": label}
    if getattr(request, "max_tokens", None) is not None:
        attributes["gen_ai.request.max_tokens"] = request.max_tokens
    if getattr(request, "temperature", None) is not None:
        attributes["gen_ai.request.temperature"] = request.temperature
    return Span(f"chat {label}", attributes, kind="client", log="router call")


def attempt(parent: Any, record: Any) -> None:
    """One hop the router recorded (``Attempt``): a span from the previous hop's end until now, and a log line."""
    if _log.isEnabledFor(_INFO):
        _log.info("attempt %s/%s %s status=%s wait=%.2fs tokens=%d/%d %s", record.provider, record.model,
                  record.kind or "answered", record.status, record.wait_s, record.input_tokens,
                  record.output_tokens, record.detail)
    if not ENABLED or not isinstance(parent, Span) or parent._span is None:
        return
    from opentelemetry import trace

    now = time.time_ns()
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": record.provider, "gen_ai.system": record.provider,
        "gen_ai.request.model": record.model, "assistant.attempt.wait_s": record.wait_s,
    }
    if record.status is not None:
        attributes["http.response.status_code"] = record.status
    if record.kind is None:
        attributes.update({"gen_ai.response.model": record.model, "gen_ai.usage.input_tokens": record.input_tokens,
                           "gen_ai.usage.output_tokens": record.output_tokens})
    else:
        attributes["error.type"] = record.kind
    span = _get_tracer().start_span(f"chat {record.model}", context=trace.set_span_in_context(parent._span),
                                    kind=trace.SpanKind.CLIENT, attributes=attributes, start_time=parent.mark)
    if record.kind is not None:
        span.set_status(trace.Status(trace.StatusCode.ERROR, record.kind))
    span.end(end_time=now)
    parent.mark = now


def _response_attributes(response: Any) -> dict[str, Any]:
    usage = response.usage
    found: dict[str, Any] = {
        "gen_ai__provider__name": response.provider, "gen_ai__system": response.provider,
        "gen_ai__response__model": response.model,
        "gen_ai__usage__input_tokens": usage.input_tokens, "gen_ai__usage__output_tokens": usage.output_tokens,
        "gen_ai__response__finish_reasons": [response.finish_reason],
    }
    if getattr(usage, "cached_tokens", 0):
        found["gen_ai__usage__cache_read__input_tokens"] = usage.cached_tokens
    if getattr(usage, "cost", None) is not None:
        found["assistant__cost_usd"] = usage.cost
    return found


def _model_label(model: Any) -> str:
    return model if isinstance(model, str) else ",".join(model)


def _error_type(exc: BaseException) -> str:
    kind = getattr(exc, "kind", None)
    return kind if isinstance(kind, str) else type(exc).__qualname__


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    # OpenTelemetry takes str, bool, int, float and homogeneous lists of them; None is dropped.
    return {k: v for k, v in attributes.items() if v is not None}


def _describe(attributes: dict[str, Any], *, final: bool = False) -> str:
    keys = ("gen_ai.request.model", "gen_ai.provider.name", "gen_ai.response.model", "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens", "gen_ai.response.finish_reasons", "error.type") if final else (
            "gen_ai.request.model", "assistant.step.number")
    return " ".join(f"{k.removeprefix('gen_ai.')}={attributes[k]}" for k in keys if k in attributes)
