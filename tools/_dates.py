"""Dates in calculator expressions: ``today()``, ``date(...)``, and the arithmetic people ask of them.

Small models get "how many days until December 25?" and "what weekday is it in 3 days?" wrong when
they count in their head; with dates in the calculator the tool counts. A date minus a date is a
number of days, a date plus or minus a number of days is a date, and a date is shown with its weekday.

    date("2026-12-25") - today()     # 23 (on 2026-12-02)
    today() + 3                      # 2026-12-05 (Saturday)
    date(12, 25)                     # this year's December 25
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from assistant.agent.tools import ToolError

__all__ = ["FUNCTIONS", "arithmetic", "parse_date", "show"]

# Written without a year ("December 25", "12-25"): this year's.
_FORMATS = ("%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d")
_YEARLESS = ("%B %d", "%b %d", "%d %B", "%d %b", "%m-%d", "%m/%d")


def today() -> dt.date:
    """The machine's local date."""
    return dt.date.today()


def date(*parts: Any) -> dt.date:
    """``date("2026-12-25")``, ``date("December 25")``, ``date(2026, 12, 25)`` or ``date(12, 25)``."""
    if len(parts) == 1 and isinstance(parts[0], str):
        return parse_date(parts[0])
    if len(parts) in (2, 3) and all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        year, month, day = parts if len(parts) == 3 else (today().year, *parts)
        try:
            return dt.date(year, month, day)
        except ValueError as exc:
            raise ToolError(f"date{parts!r}: {exc}") from None
    raise ToolError('date takes "YYYY-MM-DD" (in quotes), or year, month, day as numbers, e.g. date(2026, 12, 25)')


def weekday(value: Any) -> str:
    return _as_date("weekday", value).strftime("%A")


def parse_date(text: str, today_is: dt.date | None = None) -> dt.date:
    """``text`` as a date: ISO, "December 25 2026", "25 Dec", "12/25"...; no year means this year."""
    year = (today_is or today()).year
    cleaned = " ".join(text.replace(",", " ").split())
    try:
        return dt.date.fromisoformat(cleaned)
    except ValueError:
        pass
    for form in _FORMATS:
        try:
            return dt.datetime.strptime(cleaned, form).date()
        except ValueError:
            continue
    for form in _YEARLESS:
        try:
            # strptime needs the year to accept February 29.
            return dt.datetime.strptime(f"{cleaned} {year}", f"{form} %Y").date()
        except ValueError:
            continue
    raise ToolError(f"{text!r} is not a date I can read; write it as \"YYYY-MM-DD\", e.g. \"2026-12-25\"")


def _as_date(name: str, value: Any) -> dt.date:
    if isinstance(value, str):
        return parse_date(value)
    if not isinstance(value, dt.date):
        raise ToolError(f"{name} needs a date, e.g. {name}(today()) or {name}(\"2026-12-25\")")
    return value


def arithmetic(op: str, left: Any, right: Any) -> Any:
    """``left op right`` when a date is involved: date - date (days), date +/- days, days + date."""
    if op == "-" and isinstance(left, dt.date) and isinstance(right, dt.date):
        return (left - right).days
    if isinstance(right, dt.date) and op == "+":
        left, right = right, left
    if isinstance(left, dt.date) and op in "+-" and not isinstance(right, (dt.date, bool)):
        if isinstance(right, float) and not right.is_integer():
            raise ToolError("a date moves by whole days")
        if isinstance(right, (int, float)):
            try:
                return left + dt.timedelta(days=int(right) if op == "+" else -int(right))
            except OverflowError:
                raise ToolError("the date is out of range") from None
    raise ToolError(f"cannot do {op} with a date here: subtract two dates for days, or add or subtract a number of days")


def show(value: dt.date) -> str:
    return f"{value.isoformat()} ({value.strftime('%A')})"


FUNCTIONS = {"today": today, "date": date, "weekday": weekday}
