"""Columns of a table file named in a calculator expression: ``sum(sales.csv['amount'])``.

Asked "what is the total amount in sales.csv?", small models reach for the calculator first and write
the file into the expression, pandas- or spreadsheet-style. When the calculator is offered beside
``read_file`` it reads such a reference through the same reader (the same folder, the same refusal
of secrets) and puts the column's numbers in its place:

    sales.csv['amount']   sales.csv["Amount"]   sales.csv.amount   sales.csv!B2:B100   sales.csv

and a ``.txt`` file that is a list of numbers, one a line, is a table of one column (``sum(numbers.txt)``).

A reference without a column means the file's only number column; a spreadsheet column letter
(``B``) counts from the first column. Anything unclear is an error naming the columns there are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from assistant.agent.tools import ToolError

from ._tables import TABLE_SUFFIXES, number_lines, parse_number, read_table

__all__ = ["REFERENCE", "columns_in"]

# Names in an expression that are never a table's: the calculator's constants.
_NOT_FILES = {"pi", "e", "tau", "inf"}

REFERENCE = re.compile(
    r"""(?<![\w.'"/])(?:['"]?(?P<file>[A-Za-z_][\w-]*(?:[./][\w-]+)*\.(?:csv|tsv|txt))['"]?|(?P<stem>[A-Za-z_]\w*)(?!\s*\())"""
    r"""(?:\s*\[\s*['"](?P<key>[^'"\]]+)['"]\s*\]|\.(?P<attr>[A-Za-z_]\w*)|!\$?(?P<letter>[A-Za-z]{1,3})\$?\d*(?::\$?[A-Za-z]{1,3}\$?\d*)?)?""",
    re.IGNORECASE,
)


def columns_in(text: str, read: Callable[[str], str]) -> tuple[str, dict[str, list[int | float]]]:
    """``text`` with each table reference replaced by a name, and the numbers each name stands for."""
    values: dict[str, list[int | float]] = {}
    tables: dict[str, tuple[list[str], list[list[str]], bool]] = {}

    def replace(match: re.Match[str]) -> str:
        name = match["file"] or _stem_file(match["stem"], read, tables)
        if name is None:
            return match[0]  # a name that is no table here: the calculator says what is wrong with it
        if name not in tables:
            tables[name] = _table(name, read(name))
        header, rows, comma_decimal = tables[name]
        index = _column(name, header, rows, match["key"] or match["attr"], match["letter"], comma_decimal)
        numbers = [parse_number(row[index], comma_decimal) for row in rows if len(row) == len(header) and row[index].strip()]
        placeholder = f"column_{len(values)}"
        values[placeholder] = [_plain(n) for n in numbers if n is not None]
        return placeholder

    return REFERENCE.sub(replace, text), values


def _stem_file(stem: str, read: Callable[[str], str], tables: dict[str, Any]) -> str | None:
    """``sales`` for ``sales.csv`` (or ``.tsv``) when there is such a file: ``SUM(sales) / COUNT(sales)``."""
    if stem.startswith("column_") or stem.lower() in _NOT_FILES:
        return None
    for suffix in TABLE_SUFFIXES:
        name = stem + suffix
        if name in tables:
            return name
        try:
            tables[name] = _table(name, read(name))
        except ToolError:
            continue
        return name
    return None


def _table(name: str, text: str) -> tuple[list[str], list[list[str]], bool]:
    suffix = name[name.rfind("."):].lower()
    if suffix == ".txt":
        # numbers.txt: a list of numbers, one a line, is a table of one column.
        numbers = number_lines(text)
        if numbers is None:
            raise ToolError(f"{name} is not a list of numbers, one a line: read it with read_file and write the "
                            "numbers you need into the expression")
        return ["numbers"], [[str(n)] for n in numbers], False
    found = read_table(suffix, text)
    if found is None:
        raise ToolError(f"{name} has no rows of values")
    return found


def _column(name: str, header: list[str], rows: list[list[str]], key: str | None, letter: str | None,
            comma_decimal: bool) -> int:
    numeric = [i for i in range(len(header)) if _all_numbers(rows, i, len(header), comma_decimal)]
    if key is not None:
        wanted = key.strip().lower()
        for index, column in enumerate(header):
            if column.lower() == wanted:
                break
        else:
            raise ToolError(f"{name} has no column {key!r}; its columns: {_names(header, numeric)}")
    elif letter is not None:
        index = _letter_index(letter)
        if index >= len(header):
            raise ToolError(f"{name} has {len(header)} columns, not a column {letter.upper()}; its columns: {_names(header, numeric)}")
    elif len(numeric) == 1:
        return numeric[0]
    else:
        raise ToolError(f"say which column of {name}, e.g. {name}['{header[numeric[0]] if numeric else header[0]}']; "
                        f"its columns: {_names(header, numeric)}")
    if index not in numeric:
        example = f"; e.g. sum({name}['{header[numeric[0]]}'])" if numeric else ""
        raise ToolError(f"column {header[index]!r} of {name} does not hold only numbers; its columns: "
                        f"{_names(header, numeric)}{example}")
    return index


def _all_numbers(rows: list[list[str]], index: int, width: int, comma_decimal: bool) -> bool:
    cells = [row[index] for row in rows if len(row) == width and row[index].strip()]
    return bool(cells) and all(parse_number(cell, comma_decimal) is not None for cell in cells)


def _names(header: list[str], numeric: list[int]) -> str:
    return ", ".join(f"{column!r} ({_letter(i)}{', numbers' if i in numeric else ', text'})" for i, column in enumerate(header))


def _letter_index(letters: str) -> int:
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - ord("A") + 1
    return index - 1


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _plain(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
