"""Tools from plain functions: schema from type hints, text from docstrings, validation, running."""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from assistant.agent.tools import (
    Tool,
    ToolArgumentsError,
    ToolError,
    ToolFailedError,
    ToolTimeoutError,
    as_tool,
    as_tools,
    tool,
)
from assistant.errors import UsageError


def forecast(city: str, days: int = 1, unit: Literal["c", "f"] = "c") -> str:
    """Weather forecast for a city.

    Uses the national weather service.

    Args:
        city: City name, e.g. "Paris".
            Ask the user when unsure.
        days (int): How many days ahead.

    Returns:
        The forecast as text.
    """
    return f"{city}:{days}:{unit}"


def test_name_and_description_come_from_the_function() -> None:
    t = Tool(forecast)
    assert t.name == "forecast"
    assert t.description == "Weather forecast for a city.\n\nUses the national weather service."


def test_schema_comes_from_type_hints_with_argument_text_from_the_docstring() -> None:
    params = Tool(forecast).parameters
    assert params["required"] == ["city"]
    assert params["properties"]["city"] == {"type": "string", "description": 'City name, e.g. "Paris". Ask the user when unsure.'}
    assert params["properties"]["days"] == {"type": "integer", "default": 1, "description": "How many days ahead."}
    assert params["properties"]["unit"]["enum"] == ["c", "f"]
    assert params["additionalProperties"] is False
    assert "title" not in params and "title" not in params["properties"]["city"]


def test_sphinx_and_numpy_docstrings_give_argument_text_too() -> None:
    def sphinx(a: int) -> int:
        """Double it.

        :param a: the number
            to double.
        :returns: twice a
        """
        return 2 * a

    def numpy(a: int) -> int:
        """Double it.

        Parameters
        ----------
        a : int
            The number to double.
        """
        return 2 * a

    assert Tool(sphinx).parameters["properties"]["a"]["description"] == "the number to double."
    assert Tool(numpy).parameters["properties"]["a"]["description"] == "The number to double."


class Point(BaseModel):
    x: int
    y: int


def test_annotated_field_descriptions_and_models_are_kept() -> None:
    def place(point: Point, label: Annotated[str, Field(description="What to write")] = "") -> str:
        """Place a label."""
        return f"{point.x},{point.y}:{label}"

    t = Tool(place)
    assert t.parameters["properties"]["label"]["description"] == "What to write"
    assert t.parameters["$defs"]["Point"]["required"] == ["x", "y"]
    assert asyncio.run(t.invoke({"point": {"x": 1, "y": 2}, "label": "a"})) == "1,2:a"


@pytest.mark.parametrize("source,problem", [
    ("def f(a): pass", "parameter 'a' has no type hint"),
    ("def f(*a: int): pass", "parameter 'a' is *args/**kwargs"),
    ("def f(**kw: int): pass", "parameter 'kw' is *args/**kwargs"),
])
def test_a_malformed_tool_fails_when_defined_naming_the_parameter(source: str, problem: str) -> None:
    namespace: dict[str, object] = {}
    exec(source, namespace)
    with pytest.raises(UsageError, match=problem.replace("*", r"\*")):
        Tool(namespace["f"])  # type: ignore[arg-type]


def test_a_type_without_a_json_schema_is_named() -> None:
    def f(lock: threading.Lock) -> str:  # type: ignore[valid-type]
        """Nope."""
        return ""

    with pytest.raises(UsageError, match="parameter 'lock'"):
        Tool(f)


def test_unusable_names_and_duplicate_tools_are_refused() -> None:
    with pytest.raises(UsageError, match="not usable"):
        Tool(lambda: "x")
    with pytest.raises(UsageError, match="two tools are named 'forecast'"):
        as_tools([forecast, Tool(forecast)])


def test_decorator_works_bare_and_with_options() -> None:
    @tool
    def a(x: int) -> int:
        """A."""
        return x

    @tool(name="bee", timeout=3)
    def b(x: int) -> int:
        """B."""
        return x

    assert (a.name, b.name, b.timeout) == ("a", "bee", 3)
    assert as_tool(a) is a


def test_arguments_are_validated_and_coerced() -> None:
    assert Tool(forecast).validate({"city": "Oslo", "days": "3"}) == {"city": "Oslo", "days": 3, "unit": "c"}


def test_invalid_arguments_list_every_problem_and_the_expected_shape() -> None:
    with pytest.raises(ToolArgumentsError) as caught:
        Tool(forecast).validate({"days": "soon", "colour": "red"})
    message = str(caught.value)
    assert "- city: Field required" in message
    assert "- days: Input should be a valid integer" in message
    assert "- colour: Extra inputs are not permitted" in message
    assert "Expected arguments: {city: string, days: integer (optional), unit: string (optional)}" in message


@pytest.mark.parametrize("arguments", [
    {"_raw_arguments": '{"city": "Rome"}'},
    {"arguments": {"city": "Rome"}},
    {"parameters": '{"city": "Rome"}'},
    {"_positional": ["Rome"]},
    {"_raw_arguments": "Rome"},
])
def test_wrapped_or_stringified_arguments_are_unwrapped(arguments: dict[str, object]) -> None:
    assert Tool(forecast).validate(arguments)["city"] == "Rome"


def test_raw_arguments_cut_off_mid_json_are_refused_not_run() -> None:
    with pytest.raises(ToolArgumentsError, match="cut off"):
        Tool(forecast).validate({"_raw_arguments": '{"city": "Ro'})


def test_json_strings_for_structured_arguments_are_parsed() -> None:
    def total(numbers: list[int], weights: dict[str, float] | None = None) -> float:
        """Sum."""
        return float(sum(numbers))

    assert Tool(total).validate({"numbers": "[1, 2]", "weights": '{"a": 0.5}'}) == {"numbers": [1, 2], "weights": {"a": 0.5}}


async def test_sync_tools_run_in_a_thread() -> None:
    seen: list[int] = []

    def where() -> str:
        """Report the thread."""
        seen.append(threading.get_ident())
        return "ok"

    assert await Tool(where).invoke({}) == "ok"
    assert seen != [threading.get_ident()]


async def test_async_tools_are_awaited() -> None:
    async def later(x: int) -> int:
        """Later."""
        await asyncio.sleep(0)
        return x + 1

    assert await Tool(later).invoke({"x": 1}) == "2"


async def test_a_slow_tool_times_out() -> None:
    async def slow() -> str:
        """Slow."""
        await asyncio.sleep(30)
        return "late"

    with pytest.raises(ToolTimeoutError, match="timed out after 0.05s"):
        await Tool(slow, timeout=0.05).invoke({})


async def test_the_tools_own_timeout_wins_over_the_agents() -> None:
    async def slow() -> str:
        """Slow."""
        await asyncio.sleep(30)
        return "late"

    with pytest.raises(ToolTimeoutError, match="0.05s"):
        await Tool(slow, timeout=0.05).invoke({}, timeout=60)


async def test_exceptions_are_wrapped_with_the_cause() -> None:
    def boom() -> str:
        """Boom."""
        raise KeyError("missing")

    def polite() -> str:
        """Polite."""
        raise ToolError("try a smaller file")

    with pytest.raises(ToolFailedError) as caught:
        await Tool(boom).invoke({})
    assert str(caught.value) == "KeyError: 'missing'" and isinstance(caught.value.cause, KeyError)
    with pytest.raises(ToolFailedError, match="^try a smaller file$"):
        await Tool(polite).invoke({})


async def test_results_become_text_and_long_ones_are_cut() -> None:
    def data() -> dict[str, list[int]]:
        """Data."""
        return {"a": [1, 2]}

    def nothing() -> None:
        """Nothing."""

    def huge() -> str:
        """Huge."""
        return "x" * 5000

    assert await Tool(data).invoke({}) == '{"a":[1,2]}'
    assert await Tool(nothing).invoke({}) == "(no output)"
    cut = await Tool(huge, max_output_chars=1000).invoke({})
    assert len(cut) < 1100 and "characters cut" in cut


def test_explicit_parameters_are_checked_for_required_keys() -> None:
    def raw(**kwargs: object) -> str:
        return ""

    with pytest.raises(UsageError):
        Tool(raw)
    t = Tool(lambda **kw: "", name="raw", parameters={"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
    assert t.spec().parameters["required"] == ["q"]
    with pytest.raises(ToolArgumentsError, match="missing q"):
        t.validate({})
