"""calculator: exact arithmetic from an expression, read as a syntax tree (no ``eval``).

Big integers are exact, so every operation whose result can grow is sized before it runs: powers,
products, ``factorial``, ``perm``, ``comb`` and ``lcm`` past ``MAX_BITS`` are refused with a clear
error instead of computed (``perm(10**6)`` once held the GIL, and with it the event loop, for 38 s),
a result is shown only up to ``MAX_DIGITS`` digits, and the whole evaluation has a time limit.

    calculator("(2 + 3) * 4 ** 2")   # "80"
    evaluate("sqrt(2) * 2")          # 2.8284271247461903
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
import re
import time
from collections.abc import Callable
from typing import Any

from assistant.agent.tools import ToolError

from . import _dates
from ._columns import columns_in

__all__ = ["calculator", "evaluate", "table_calculator"]

MAX_EXPRESSION = 500
# Results past this many bits (about 30,000 digits) are refused before they are computed.
MAX_BITS = 100_000
# Python's own limit for turning an int into text (sys.get_int_max_str_digits), and enough for anyone.
MAX_DIGITS = 4_300
MAX_ROUND_DIGITS = 1_000
TIME_LIMIT = 2.0

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf}


def _whole(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
        raise ToolError(f"{name} needs whole numbers, got {_brief(value)}")
    if value < 0:
        raise ToolError(f"{name} needs numbers >= 0, got {_brief(value)}")
    return int(value)


def _product_bits(n: int, k: int, step: Callable[[int], float]) -> float:
    """log2 of a product of ``k`` terms ``step(i)``, stopping as soon as it passes ``MAX_BITS``."""
    total = 0.0
    for i in range(k):
        total += step(i)
        if total > MAX_BITS:
            break
    return total


def _perm(n: Any, k: Any = None) -> int:
    n = _whole("perm", n)
    k = n if k is None else _whole("perm", k)
    if k > n:
        return 0
    # perm(n, k) >= 2**k once k >= 4, so a k past MAX_BITS needs no counting.
    if k > MAX_BITS or _product_bits(n, k, lambda i: math.log2(n - i)) > MAX_BITS:
        raise ToolError(f"perm({_brief(n)}, {_brief(k)}) is too large to compute (more than {MAX_BITS} bits)")
    return math.perm(n, k)


def _factorial(n: Any) -> int:
    n = _whole("factorial", n)
    if n > MAX_BITS or _product_bits(n, n, lambda i: math.log2(n - i)) > MAX_BITS:
        raise ToolError(f"factorial({_brief(n)}) is too large to compute (more than {MAX_BITS} bits)")
    return math.factorial(n)


def _comb(n: Any, k: Any) -> int:
    n, k = _whole("comb", n), _whole("comb", k)
    if k > n:
        return 0
    short = min(k, n - k)
    # comb(n, k) >= 2**k for k <= n/2.
    if short > MAX_BITS or _product_bits(n, short, lambda i: math.log2(n - i) - math.log2(i + 1)) > MAX_BITS:
        raise ToolError(f"comb({_brief(n)}, {_brief(k)}) is too large to compute (more than {MAX_BITS} bits)")
    return math.comb(n, k)


def _lcm(*values: Any) -> int:
    if sum(_bits(v) for v in values) > MAX_BITS:
        raise ToolError(f"lcm of these numbers may pass {MAX_BITS} bits; too large to compute")
    return math.lcm(*values)


def _round(x: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        # round(5, -10**9) builds 10**(10**9) first.
        raise ToolError(f"round: ndigits must be between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}, got {ndigits}")
    return round(x, ndigits)


def _numbers(name: str, values: tuple[Any, ...]) -> list[Any]:
    """The numbers of ``sum(1, 2)`` and of ``sum([1, 2])`` alike (models write both)."""
    flat = [v for value in values for v in (value if isinstance(value, list) else [value])]
    if not flat:
        raise ToolError(f"{name} needs at least one number")
    return flat


def _sum(*values: Any) -> Any:
    numbers = _numbers("sum", values)
    return math.fsum(numbers) if any(isinstance(v, float) for v in numbers) else sum(numbers)


def _mean(*values: Any) -> float:
    numbers = _numbers("mean", values)
    return _sum(numbers) / len(numbers)


def _median(*values: Any) -> Any:
    numbers = sorted(_numbers("median", values))
    middle = len(numbers) // 2
    return numbers[middle] if len(numbers) % 2 else (numbers[middle - 1] + numbers[middle]) / 2


def _log(x: Any, base: Any = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "cbrt": math.cbrt, "exp": math.exp, "log": _log, "ln": math.log, "log10": math.log10,
    "log2": math.log2, "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "atan2": math.atan2, "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh,
    "degrees": math.degrees, "radians": math.radians, "hypot": math.hypot, "abs": abs, "round": _round,
    "floor": math.floor, "ceil": math.ceil, "trunc": math.trunc, "factorial": _factorial, "gcd": math.gcd,
    "lcm": _lcm, "comb": _comb, "perm": _perm, "pow": lambda base, exponent: _power(base, exponent),
    "min": lambda *values: min(_numbers("min", values)), "max": lambda *values: max(_numbers("max", values)),
    "sum": _sum, "mean": _mean, "avg": _mean, "average": _mean, "median": _median,
    "count": lambda *values: len(_numbers("count", values)),
    **_dates.FUNCTIONS,
}
# Models ask the calculator to read a file or a spreadsheet range (SUM(sales.csv!A2:A9)).
_NUMBERS_ONLY = ("The calculator sees only the numbers written in the expression: read the values first (a file "
                 "with read_file), then write those numbers into the expression")
# A file name in an expression (sales.csv, data.xlsx!A2:A9): the model meant "add up that file's column".
_FILE_NAME = re.compile(r"(?<![\w.])([A-Za-z_][\w-]*(?:\.[\w-]+)*\.(?:csv|tsv|txt|json|jsonl|xlsx?|ods|md|log|dat|xml|ya?ml))\b",
                        re.IGNORECASE)

_A_COLUMN = "a column is a list of numbers: use it inside sum(), mean(), median(), min(), max() or count()"
# The functions that take a date written as text: date("2026-12-25").
_DATE_FUNCTIONS = (_dates.date, _dates.weekday)
# "12.5% of 80": a percentage of something ("%" alone stays the remainder, as in Python).
_PERCENT_OF = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*%\s*of\b\s*", re.IGNORECASE)
# What people type that Python spells differently ("^" means power in a calculator, not xor).
_SPELLINGS = {"^": "**", "×": "*", "·": "*", "÷": "/", "−": "-", "–": "-"}


def _bits(value: Any) -> float:
    if isinstance(value, int):
        return value.bit_length()
    return 0.0


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        # Bit lengths first: a huge exponent times a float would overflow before the comparison.
        if exponent > MAX_BITS or exponent * math.log2(abs(base)) > MAX_BITS:
            raise ToolError(f"{_brief(base)} ** {_brief(exponent)} is too large to compute (more than {MAX_BITS} bits)")
    try:
        result = base**exponent
    except OverflowError:
        raise ToolError(f"{_brief(base)} ** {_brief(exponent)} overflows") from None
    if isinstance(result, complex):
        raise ToolError("the result is a complex number; only real arithmetic is supported")
    return result


def _brief(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 64:
        return f"<a {_digits(value)}-digit number>"
    return repr(value)


def _digits(value: int) -> int:
    """Decimal digits of ``value`` without ``str`` (which refuses past ``MAX_DIGITS``)."""
    magnitude = abs(value)
    if magnitude < 10:
        return 1
    estimate = int((magnitude.bit_length() - 1) * math.log10(2)) + 1
    return estimate + 1 if magnitude >= 10**estimate else estimate


def _eval(node: ast.AST, deadline: float, names: dict[str, Any]) -> Any:
    if time.monotonic() > deadline:
        raise ToolError(f"the expression takes longer than {TIME_LIMIT:g}s to evaluate; simplify it")
    if isinstance(node, ast.Expression):
        return _eval(node.body, deadline, names)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.Name) and node.id in names:  # a table's column (_columns)
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        operand = _eval(node.operand, deadline, names)
        if isinstance(operand, list):
            raise ToolError(_A_COLUMN)
        if isinstance(operand, dt.date):
            raise ToolError(f"a date has no sign: {ast.unparse(node)!r}")
        return _UNARY[type(node.op)](operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, deadline, names), _eval(node.right, deadline, names)
        if isinstance(left, list) or isinstance(right, list):
            raise ToolError(_A_COLUMN)
        if isinstance(left, dt.date) or isinstance(right, dt.date):
            return _dates.arithmetic({ast.Add: "+", ast.Sub: "-"}.get(type(node.op), "this operator"), left, right)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        if isinstance(node.op, ast.Mult) and _bits(left) + _bits(right) > MAX_BITS:
            raise ToolError("the product is too large to compute")
        try:
            return _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError as exc:
            raise ToolError(f"the result is too large: {exc}") from None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        # SQRT, Sum, AVERAGE: spreadsheet spellings are common.
        fn = _FUNCTIONS.get(node.func.id) or _FUNCTIONS.get(node.func.id.lower())
        if fn is None:
            raise ToolError(f"unknown function {node.func.id!r}; available: {', '.join(sorted(_FUNCTIONS))}")
        # A list or tuple is a function's argument only: sum([1, 2, 3]).
        args = [[_eval(item, deadline, names) for item in a.elts] if isinstance(a, (ast.List, ast.Tuple))
                else a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) and fn in _DATE_FUNCTIONS
                else _eval(a, deadline, names)
                for a in node.args]
        try:
            value = fn(*args)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ToolError(f"{node.func.id}: {exc}") from None
        if _bits(value) > MAX_BITS:
            raise ToolError(f"{node.func.id}: the result is too large (more than {MAX_BITS} bits)")
        return value
    if isinstance(node, ast.Name):
        raise ToolError(f"unknown name {node.id!r}; constants: {', '.join(_CONSTANTS)}. {_NUMBERS_ONLY}")
    if isinstance(node, (ast.Attribute, ast.Subscript)):  # sales.csv, data[0]: a file or a variable
        raise ToolError(f"not allowed in an arithmetic expression: {ast.unparse(node)!r}. {_NUMBERS_ONLY}")
    raise ToolError(f"not allowed in an arithmetic expression: {ast.unparse(node)!r}")


def evaluate(expression: str, read: Callable[[str], str] | None = None) -> int | float | dt.date | str:
    """The value of ``expression``; ``ToolError`` says what is wrong with a bad one. With ``read`` (a
    file's text by its path), columns of .csv/.tsv files may be named in it (``_columns``).

        evaluate("2^10")   # 1024
    """
    # "17 * 23 = 391" (a guess written after the sum) is common from small models: keep the left side.
    text = expression.split("=", 1)[0].strip()
    for typed, python in _SPELLINGS.items():
        text = text.replace(typed, python)
    text = _PERCENT_OF.sub(r"(\1 / 100) * ", text)
    if not text:
        raise ToolError("the expression is empty")
    columns: dict[str, Any] = {}
    if read is not None:
        text, columns = columns_in(text, read)
    named = _FILE_NAME.search(text)
    if named:
        raise ToolError(f"the calculator cannot open {named.group(1)!r}: call read_file with path {named.group(1)!r} "
                        "first, then call calculator again with the numbers you read written in the expression")
    if len(text) > MAX_EXPRESSION:
        raise ToolError(f"the expression is longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        hint = f". {_NUMBERS_ONLY}" if any(c.isalpha() for c in text) else ""
        raise ToolError(f"not a valid expression: {exc.msg} in {text!r}{hint}") from None
    value = _eval(tree, time.monotonic() + TIME_LIMIT, columns)
    if isinstance(value, list):
        raise ToolError(f"{_A_COLUMN}; its values: {', '.join(_format(v) for v in value[:50])}"
                        + (f" and {len(value) - 50} more" if len(value) > 50 else ""))
    if isinstance(value, float) and math.isnan(value):
        raise ToolError("the result is not a number")
    return value


def _format(value: int | float | dt.date | str) -> str:
    if isinstance(value, str):  # weekday("2026-12-25")
        return value
    if isinstance(value, dt.date):
        return _dates.show(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return f"{value:.15g}"
    digits = _digits(value)
    if digits > MAX_DIGITS:
        top = value >> max(value.bit_length() - 64, 0)
        mantissa = top * 2.0 ** (value.bit_length() - top.bit_length() - (digits - 1) * math.log2(10))
        raise ToolError(f"the result has {digits} digits (about {mantissa:.6g}e+{digits - 1}), more than the "
                        f"{MAX_DIGITS} that can be shown; ask for a smaller quantity, e.g. its log10")
    return str(value)


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly and return the result.

    Args:
        expression: Numbers with + - * / // % and ** (or ^ for power), parentheses, the constants
            pi and e, and functions such as sqrt, log, sin, round, factorial, sum, mean, min, max.
            Dates: today(), date("2026-12-25"); a date minus a date gives days, a date plus 3 gives
            the date 3 days later with its weekday. Percentages: "12.5% of 80".
            Example: "(2 + 3) * 4 ** 2".
    """
    return _format(evaluate(expression))


def table_calculator(read: Callable[[str], str]) -> Callable[[str], str]:
    """The calculator that also reads table columns named in an expression, through ``read`` (a
    file's text by its path: give it read_file's reader so the same folder and secret rules hold).

        Tool(table_calculator(lambda path: Path(path).read_text()))   # name: "calculator"
    """

    def calculator(expression: str) -> str:
        return _format(evaluate(expression, read))

    calculator.__doc__ = _TABLE_DOC
    return calculator


_TABLE_DOC = (calculator.__doc__ or "").replace(
    'Example: "(2 + 3) * 4 ** 2".',
    "A column of a .csv or .tsv file in the folder: sum(sales.csv['amount']).\n            "
    'Example: "(2 + 3) * 4 ** 2".')
