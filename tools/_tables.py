"""A summary line for a table file (or a JSON list of records) that ``read_file`` returns: sums, means and extremes of its number
columns, worked out exactly over every row.

Small models read a table well and add it up badly (or reach for a spreadsheet formula the calculator
does not have); with the totals beside the text they answer "what is the total amount?" and "which
region sold most?" from numbers the tool computed. Only ``.csv``/``.tsv`` files whose first row names
the columns get one; a column counts as numbers when every filled cell is one (``1,200``, ``$15``,
``-3.5``, ``12%`` included), and a row whose width differs from the header's is left out and said so.

    summarize_table("sales.csv", "region,amount\\nNorth,120\\nEast,200\\n")
    # '[table: 2 rows; amount: total 320, mean 160, min 120 (North), max 200 (East)]'
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

__all__ = ["summarize_table", "read_table", "number_lines", "parse_number", "TABLE_SUFFIXES", "RECORD_SUFFIXES"]

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
RECORD_SUFFIXES = {".json", ".jsonl"}
MAX_COLUMNS = 12
_NUMBER = re.compile(r"[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?|[-+]?\.\d+")
_DECORATION = "$€£¥ %"
_SWAP = str.maketrans(".,", ",.")


def summarize_table(name: str, text: str) -> str | None:
    """The summary line for ``text``, the content of the file called ``name``; None when it is not a
    table with a header and at least one number column (or, for ``.json``/``.jsonl``, a list of
    records with at least one number field; for any other file, a list of numbers one a line)."""
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    if suffix in RECORD_SUFFIXES:
        found = _records(text, suffix)
        return _summary(*found, "records", 0, False) if found else None
    if suffix not in TABLE_SUFFIXES:
        return _number_list(text)
    found = read_table(suffix, text)
    if found is None:
        return None
    header, body, comma_decimal = found
    if parse_number(header[0], comma_decimal) is not None or not all(header):
        return None  # no header row: nothing names the columns
    kept = [row for row in body if len(row) == len(header)]
    return _summary(header, kept, "table", len(body) - len(kept), comma_decimal)


def read_table(suffix: str, text: str) -> tuple[list[str], list[list[str]], bool] | None:
    """The first row (stripped), the other rows, and whether numbers are written 1.234,5 (a ``;``-separated
    export), of the ``.csv``/``.tsv`` ``text``; None with fewer than two rows that hold anything."""
    delimiter = TABLE_SUFFIXES[suffix]
    first = text.split("\n", 1)[0]
    comma_decimal = delimiter == "," and ";" in first and "," not in first
    if comma_decimal:
        delimiter = ";"  # the spreadsheet export of locales that write 1.234,5
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        return None
    return [cell.strip() for cell in rows[0]], rows[1:], comma_decimal


def number_lines(text: str) -> list[Decimal] | None:
    """The numbers of a text that is a list of numbers, one a line (blank lines aside); else None."""
    numbers = []
    for line in text.splitlines():
        if line.strip():
            number = parse_number(line)
            if number is None:
                return None
            numbers.append(number)
    return numbers or None


def _number_list(text: str) -> str | None:
    """For a file that is a list of numbers, one a line (and nothing else): their totals."""
    numbers = number_lines(text)
    if numbers is None or len(numbers) < 2:
        return None
    return f"[numbers: {len(numbers)}; " + _describe([(n, []) for n in numbers], None) + "]"


def _summary(header: list[str], kept: list[list[str]], kind: str, left_out: int, comma_decimal: bool) -> str | None:
    if not kept:
        return None
    label = _label_column(header, kept, comma_decimal)
    parts = []
    for index, column in enumerate(header):
        cells = [(row[index].strip(), row) for row in kept if row[index].strip()]
        values = [(parse_number(cell, comma_decimal), row) for cell, row in cells]
        if not values or any(value is None for value, _ in values):
            continue
        filled = f" ({len(values)} of {len(kept)} rows filled)" if len(values) < len(kept) else ""
        parts.append(f"{column}: " + _describe(values, label) + filled)  # type: ignore[arg-type]
        if len(parts) == MAX_COLUMNS:
            break
    if not parts:
        return None
    counted = (f"{len(kept)} rows" if kind == "table" else str(len(kept))) + (f" ({left_out} rows of another width left out)" if left_out else "")
    return f"[{kind}: {counted}; " + "; ".join(parts) + "]"


def _records(text: str, suffix: str) -> tuple[list[str], list[list[str]]] | None:
    """Field names and rows of a JSON list of flat objects (or an object holding one such list),
    or of JSON Lines; None for anything else."""
    try:
        if suffix == ".jsonl":
            items = [orjson.loads(line) for line in text.splitlines() if line.strip()]
        else:
            items = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(items, dict):
        lists = [value for value in items.values() if isinstance(value, list)]
        items = lists[0] if len(lists) == 1 else None
    if not isinstance(items, list) or len(items) < 2 or not all(isinstance(item, dict) for item in items):
        return None
    header = list(dict.fromkeys(key for item in items for key in item))
    rows = [[_cell(item.get(key)) for key in header] for item in items]
    return header, rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        # Only JSON numbers count as numbers here ("12" in quotes is text); nested values are text.
        return value if isinstance(value, str) and parse_number(value) is None else orjson.dumps(value).decode()
    return format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value)


def parse_number(cell: str, comma_decimal: bool = False) -> Decimal | None:
    """The number a table cell holds (``1,200``, ``$15``, ``-3.5``, ``12%``; ``1.234,5`` with ``comma_decimal``), else None."""
    bare = cell.strip().strip(_DECORATION)
    if comma_decimal:
        bare = bare.translate(_SWAP)  # 1.234,5 -> 1,234.5
    if cell.strip().startswith("-") and not bare.startswith("-"):
        bare = "-" + bare.lstrip("-")
    if not _NUMBER.fullmatch(bare):
        return None
    try:
        return Decimal(bare.replace(",", ""))
    except InvalidOperation:
        return None


def _label_column(header: list[str], rows: list[list[str]], comma_decimal: bool) -> int | None:
    """The first column of text (names, regions, dates): what a row with an extreme value is called."""
    for index in range(len(header)):
        cells = [row[index].strip() for row in rows if row[index].strip()]
        if cells and any(parse_number(cell, comma_decimal) is None for cell in cells):
            return index
    return None


def _describe(values: list[tuple[Decimal, list[str]]], label: int | None) -> str:
    numbers = [value for value, _ in values]
    total = sum(numbers, Decimal(0))
    low = min(values, key=lambda pair: pair[0])
    high = max(values, key=lambda pair: pair[0])

    def named(pair: tuple[Decimal, list[str]]) -> str:
        return _show(pair[0]) + (f" ({pair[1][label].strip()})" if label is not None and pair[1][label].strip() else "")

    if len(numbers) == 1:
        return f"one value, {named(high)}"
    return f"total {_show(total)}, mean {_show(total / len(numbers))}, min {named(low)}, max {named(high)}"


def _show(value: Decimal) -> str:
    """At most 6 decimals, no trailing zeros, no exponent."""
    try:
        value = value.quantize(Decimal("0.000001")) if value != value.to_integral_value() else value.to_integral_value()
    except InvalidOperation:  # more digits than the context holds: shown as it is
        pass
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
