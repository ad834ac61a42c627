"""Tools the agent can call: a plain Python function (sync or async) or a ``Tool`` for full control.

    @tool
    def get_weather(city: str, days: int = 1) -> str:
        '''Forecast for a city.

        Args:
            city: City name, e.g. "Paris".
            days: How many days ahead.
        '''

The name comes from ``__name__``, the description and per-argument text from the docstring, the JSON
Schema from the type hints (through pydantic). A malformed tool fails when it is defined, naming the
parameter. Arguments are validated with pydantic before the call; sync tools run on the tool threads
(``_threads``: a bounded pool of their own, so a stuck tool never starves the engine); every call has
a time limit, and whatever a model sends as arguments ends as a result or an observation.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

from ..errors import UsageError
from ..messages import ToolSpec
from ..toolcall_text.lenient_json import IncompleteJSONError, loads_lenient
from ._docstrings import parse_docstring
from ._arguments import describe_invalid, expected, json_safe, show, unwrap_json_strings
from ._threads import tool_threads

__all__ = [
    "Tool",
    "tool",
    "as_tool",
    "ToolError",
    "ToolCallError",
    "ToolArgumentsError",
    "ToolTimeoutError",
    "ToolFailedError",
    "as_tools",
    "run_in_thread",
]

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_OUTPUT = 20_000
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
# Keys models wrap real arguments in: {"arguments": {...}} sent as the arguments themselves.
_WRAPPER_KEYS = ("arguments", "parameters", "args", "input", "kwargs", "params")


class ToolError(Exception):
    """Raise inside a tool to send a plain message back to the model (no exception type shown)."""


class ToolCallError(Exception):
    """A call the model made could not produce a result; ``str()`` is the observation for the model."""


class ToolArgumentsError(ToolCallError):
    """The arguments did not validate; the message lists each problem and the expected arguments."""


class ToolTimeoutError(ToolCallError):
    """The tool ran past its time limit."""


class ToolFailedError(ToolCallError):
    """The tool's own code raised; ``cause`` is the original exception."""

    def __init__(self, message: str, cause: BaseException) -> None:
        super().__init__(message)
        self.cause = cause


class Tool:
    """A callable the model may use. ``parameters`` (a JSON Schema) defaults to one built from the
    function's type hints; arguments are validated against the hints when there are any. ``timeout``
    None leaves the limit to the agent (``Agent(tool_timeout=...)``, 60 s by default).

        calc = Tool(calculator, name="calc", timeout=5)
        text = await calc.invoke({"expression": "2+2"})
    """

    __slots__ = ("fn", "name", "description", "parameters", "timeout", "max_output_chars", "_model", "_is_async", "_order")

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        max_output_chars: int = DEFAULT_MAX_OUTPUT,
    ) -> None:
        if not callable(fn):
            raise UsageError(f"Tool needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "")
        if not _NAME.match(self.name):
            raise UsageError(f"tool name {self.name!r} is not usable: use 1-64 letters, digits, '_' or '-' (name=...)")
        summary, arg_docs = parse_docstring(inspect.getdoc(fn))
        self.description = description if description is not None else summary
        if parameters is None:
            self._model, self._order = _arguments_model(fn, self.name, arg_docs)
        else:
            # A given schema is the contract; the hints still validate when they describe every argument.
            try:
                self._model, self._order = _arguments_model(fn, self.name, arg_docs)
            except UsageError:
                self._model, self._order = None, list(parameters.get("properties") or {})
        if parameters is not None:
            self.parameters = dict(parameters)
        elif self._model is not None:
            self.parameters = _clean_schema(self._model.model_json_schema())
        else:
            self.parameters = {"type": "object", "properties": {}}
        self.timeout = timeout
        self.max_output_chars = max_output_chars
        target = fn.__call__ if not inspect.isroutine(fn) and hasattr(fn, "__call__") else fn
        self._is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(target)

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, timeout={self.timeout!r})"

    def spec(self) -> ToolSpec:
        """What the model is shown: name, description, JSON Schema of the arguments."""
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments for the function, or ``ToolArgumentsError`` saying what is wrong.

        JSON given as a string is unwrapped first (``"{\\"a\\": 1}"``, ``{"arguments": {...}}``,
        ``{"items": "[1, 2]"}``), so a near-miss from a small model still gets through.
        """
        if not isinstance(arguments, Mapping):
            raise ToolArgumentsError(
                f"arguments for {self.name!r} must be a JSON object like {expected(self.parameters)}; got {show(arguments)}"
            )
        try:
            args = self._unwrap(dict(arguments))
        except ToolArgumentsError:
            raise
        except (TypeError, ValueError) as exc:  # junk in the conventional keys (a number as "_positional")
            raise ToolArgumentsError(
                f"arguments for {self.name!r} could not be read ({exc}); send a JSON object like {expected(self.parameters)}"
            ) from None
        if self._model is None:
            return _check_required(self.name, args, self.parameters)
        try:
            return self._construct(args)
        except ValidationError as first:
            retry = unwrap_json_strings(args, first)
            if retry is not None:
                try:
                    return self._construct(retry)
                except ValidationError:
                    pass
            raise ToolArgumentsError(describe_invalid(self.name, first, self.parameters)) from None

    def _construct(self, args: dict[str, Any]) -> dict[str, Any]:
        assert self._model is not None
        instance = self._model.model_validate(args)
        return {name: getattr(instance, name) for name in self._order}

    def _unwrap(self, args: dict[str, Any]) -> dict[str, Any]:
        if set(args) == {"_raw_arguments"}:
            raw = args["_raw_arguments"]
            try:
                value = loads_lenient(raw) if isinstance(raw, str) else raw
            except IncompleteJSONError:
                # Never run a tool on arguments the model did not finish.
                raise ToolArgumentsError(
                    f"arguments for {self.name!r} were cut off before the JSON closed; got {str(raw)[-200:]!r}"
                ) from None
            except ValueError:
                value = None
            if isinstance(value, dict):
                return self._unwrap(value)
            required = self.parameters.get("required") or []
            if len(required) == 1:
                # {"action_input": "2+2"} for a tool with one required argument.
                return {required[0]: raw}
            raise ToolArgumentsError(
                f"arguments for {self.name!r} must be a JSON object like {expected(self.parameters)}; got {show(raw)}"
            )
        if "_positional" in args:
            positional = args.pop("_positional")
            for name, value in zip(self._order, positional):
                args.setdefault(name, value)
        if len(args) == 1:
            (key, value), = args.items()
            if key in _WRAPPER_KEYS and key not in self._order:
                if isinstance(value, str):
                    try:
                        value = loads_lenient(value)
                    except ValueError:
                        return args
                if isinstance(value, dict):
                    return value
        return args

    async def invoke(self, arguments: Mapping[str, Any], *, timeout: float | None = None) -> str:
        """Validate, run within the time limit, and return the result as text.

            text = await calc.invoke({"expression": "2+2"})

        Raises ``ToolArgumentsError``, ``ToolTimeoutError`` or ``ToolFailedError``; anything else is a bug.
        """
        return await self.call(self.validate(arguments), timeout=timeout)

    async def call(self, kwargs: Mapping[str, Any], *, timeout: float | None = None) -> str:
        """Run with already validated ``kwargs`` (a sync tool in a thread). The tool's own ``timeout``
        wins over the one given here (the agent's default)."""
        limit = self.timeout if self.timeout is not None else timeout if timeout is not None else DEFAULT_TIMEOUT
        threads = tool_threads()
        started = False

        def run() -> Any:
            nonlocal started
            started = True
            return self.fn(**kwargs)

        try:
            async with asyncio.timeout(limit):
                if self._is_async:
                    result = await self.fn(**kwargs)
                else:
                    result = await threads.run(run)
                if inspect.isawaitable(result):
                    result = await result
        except TimeoutError:
            if not self._is_async and not started:
                raise ToolTimeoutError(
                    f"tool {self.name!r} could not start within {limit:g}s: all {threads.size} tool threads "
                    "are busy with earlier calls that have not returned"
                ) from None
            raise ToolTimeoutError(f"tool {self.name!r} timed out after {limit:g}s") from None
        except Exception as exc:  # the tool's own code failed: the model hears about it
            message = str(exc) if isinstance(exc, ToolError) else f"{type(exc).__name__}: {exc}"
            raise ToolFailedError(message, exc) from exc
        return _as_text(result, self.max_output_chars)


async def run_in_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """For async tools: run CPU-heavy or blocking work on the tool threads, off the event loop.

        text = await run_in_thread(html_to_text, page)
    """
    return await tool_threads().run(fn, *args, **kwargs)


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    max_output_chars: int = DEFAULT_MAX_OUTPUT,
) -> Any:
    """Make a ``Tool`` from a function; usable bare (``@tool``) or with options (``@tool(timeout=5)``).

        search = tool(my_search, name="search", timeout=10)
    """

    def build(f: Callable[..., Any]) -> Tool:
        return Tool(f, name=name, description=description, timeout=timeout, max_output_chars=max_output_chars)

    return build(fn) if fn is not None else build


def as_tool(obj: Tool | Callable[..., Any]) -> Tool:
    """A ``Tool`` as is; a function becomes one."""
    if isinstance(obj, Tool):
        return obj
    if callable(obj):
        return Tool(obj)
    raise UsageError(f"tools must be functions or Tool objects, got {type(obj).__name__}: {obj!r}")


def as_tools(items: Iterable[Tool | Callable[..., Any]]) -> dict[str, Tool]:
    """Tools by name; two tools with one name are a mistake."""
    out: dict[str, Tool] = {}
    for item in items:
        t = as_tool(item)
        if t.name in out:
            raise UsageError(f"two tools are named {t.name!r}; give one another name with Tool(fn, name=...)")
        out[t.name] = t
    return out


# --- schema from the signature ----------------------------------------------------------------

def _arguments_model(fn: Callable[..., Any], name: str, docs: Mapping[str, str]) -> tuple[type[BaseModel] | None, list[str]]:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None, []
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError, AttributeError, SyntaxError) as exc:  # a forward reference that does not resolve
        raise UsageError(f"tool {name!r}: its type hints cannot be resolved ({exc}); define the types at module level") from None
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise UsageError(f"tool {name!r}: parameter {param.name!r} is *args/**kwargs; tools take named parameters")
        if param.name not in hints:
            raise UsageError(f"tool {name!r}: parameter {param.name!r} has no type hint; add one, e.g. `{param.name}: str`")
        default = ... if param.default is param.empty else param.default
        description = docs.get(param.name)
        fields[param.name] = (hints[param.name], Field(default, description=description) if description else default)
    try:
        model = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
        model.model_json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError) as exc:
        bad = _unschemable(fields)
        where = f"parameter {bad!r}" if bad else "its parameters"
        raise UsageError(f"tool {name!r}: {where} has a type with no JSON Schema ({exc.__class__.__name__}); use plain types or pydantic models") from None
    return model, list(fields)


def _unschemable(fields: Mapping[str, Any]) -> str | None:
    for field_name, spec in fields.items():
        try:
            create_model("probe", **{field_name: spec}).model_json_schema()
        except (PydanticSchemaGenerationError, PydanticUserError, TypeError):
            return field_name
    return None


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's generated titles: noise for the model, tokens on every request."""
    def walk(node: Any, in_properties: bool = False) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k in ("properties", "$defs")) for k, v in node.items() if in_properties or k != "title"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    cleaned = walk(schema)
    cleaned.setdefault("properties", {})
    return cleaned


# --- validation messages (wording in ``_arguments``) -------------------------------------------

def _check_required(name: str, args: dict[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in parameters.get("required") or [] if k not in args]
    if missing:
        raise ToolArgumentsError(f"invalid arguments for {name!r}: missing {', '.join(missing)}. Expected arguments: {expected(parameters)}")
    return args


def _as_text(value: Any, limit: int) -> str:
    if isinstance(value, str):
        text = value
    elif value is None:
        text = "(no output)"
    elif isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace")
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(json_safe(value))
    elif isinstance(value, BaseModel):
        text = value.model_dump_json()
    else:
        try:
            text = orjson.dumps(json_safe(value)).decode()
        except TypeError:
            text = str(value)
    if len(text) > limit:
        head = text[: limit * 3 // 4]
        tail = text[-(limit // 4) :]
        text = f"{head}\n[... {len(text) - len(head) - len(tail)} characters cut ...]\n{tail}"
    return text
