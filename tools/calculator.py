"""calculator: exact arithmetic from an expression, read as a syntax tree (no ``eval``).

    calculator("(2 + 3) * 4 ** 2")   # "80"
    evaluate("sqrt(2) * 2")          # 2.8284271247461903
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from assistant.agent.tools import ToolError

__all__ = ["calculator", "evaluate"]

MAX_EXPRESSION = 500
# Results past this many bits (about 30,000 digits) are refused before they are computed.
MAX_BITS = 100_000
MAX_FACTORIAL = 2_000

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


def _factorial(n: Any) -> int:
    if not float(n).is_integer() or n < 0:
        raise ToolError("factorial needs a whole number >= 0")
    if n > MAX_FACTORIAL:
        raise ToolError(f"factorial({n}) is too large (limit {MAX_FACTORIAL})")
    return math.factorial(int(n))


def _log(x: Any, base: Any = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "cbrt": math.cbrt, "exp": math.exp, "log": _log, "ln": math.log, "log10": math.log10,
    "log2": math.log2, "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "atan2": math.atan2, "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh,
    "degrees": math.degrees, "radians": math.radians, "hypot": math.hypot, "abs": abs, "round": round,
    "floor": math.floor, "ceil": math.ceil, "trunc": math.trunc, "factorial": _factorial, "gcd": math.gcd,
    "lcm": math.lcm, "comb": math.comb, "perm": math.perm, "min": min, "max": max,
}
# What people type that Python spells differently ("^" means power in a calculator, not xor).
_SPELLINGS = {"^": "**", "×": "*", "·": "*", "÷": "/", "−": "-", "–": "-"}


def _bits(value: Any) -> float:
    if isinstance(value, int):
        return value.bit_length()
    return 0.0


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent * math.log2(abs(base)) > MAX_BITS:
            raise ToolError(f"{base} ** {exponent} is too large to compute")
    try:
        result = base**exponent
    except OverflowError:
        raise ToolError(f"{base} ** {exponent} overflows") from None
    if isinstance(result, complex):
        raise ToolError("the result is a complex number; only real arithmetic is supported")
    return result


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
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
        fn = _FUNCTIONS.get(node.func.id)
        if fn is None:
            raise ToolError(f"unknown function {node.func.id!r}; available: {', '.join(sorted(_FUNCTIONS))}")
        args = [_eval(a) for a in node.args]
        try:
            return fn(*args)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ToolError(f"{node.func.id}: {exc}") from None
    if isinstance(node, ast.Name):
        raise ToolError(f"unknown name {node.id!r}; constants: {', '.join(_CONSTANTS)}")
    raise ToolError(f"not allowed in an arithmetic expression: {ast.unparse(node)!r}")


def evaluate(expression: str) -> int | float:
    """The value of ``expression``; ``ToolError`` says what is wrong with a bad one.

        evaluate("2^10")   # 1024
    """
    # "17 * 23 = 391" (a guess written after the sum) is common from small models: keep the left side.
    text = expression.split("=", 1)[0].strip()
    for typed, python in _SPELLINGS.items():
        text = text.replace(typed, python)
    if not text:
        raise ToolError("the expression is empty")
    if len(text) > MAX_EXPRESSION:
        raise ToolError(f"the expression is longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"not a valid expression: {exc.msg} in {text!r}") from None
    value = _eval(tree)
    if isinstance(value, float) and math.isnan(value):
        raise ToolError("the result is not a number")
    return value


def _format(value: int | float) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return f"{value:.15g}"
    return str(value)


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly and return the result.

    Args:
        expression: Numbers with + - * / // % and ** (or ^ for power), parentheses, the constants
            pi and e, and functions such as sqrt, log, sin, round, factorial. Example: "(2 + 3) * 4 ** 2".
    """
    return _format(evaluate(expression))
