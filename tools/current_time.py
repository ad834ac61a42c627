"""current_time: the date and time now in a timezone (IANA name, UTC, or an offset like +05:30).

    current_time("Asia/Tokyo")   # "2025-03-01T18:04:05+09:00 (Saturday, Asia/Tokyo)"
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant.agent.tools import ToolError

from ._dates import parse_date

__all__ = ["current_time", "resolve_timezone"]

_OFFSET = re.compile(r"^(?:UTC|GMT|Z)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_UTC_NAMES = {"utc", "gmt", "z", "zulu", "universal", "etc/utc"}


def resolve_timezone(name: str) -> tzinfo:
    """The tzinfo for an IANA name ("Europe/Paris"), "UTC", or a fixed offset ("UTC+2", "-05:30")."""
    text = name.strip()
    if text.lower() in _UTC_NAMES or not text:
        return dt_timezone.utc
    m = _OFFSET.match(text)
    if m:
        sign, hours, minutes = m.group(1), int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes >= 60:
            raise ToolError(f"{name!r} is not a valid UTC offset")
        delta = timedelta(hours=hours, minutes=minutes)
        return dt_timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(text.replace(" ", "_"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"unknown timezone {name!r}: use an IANA name like 'Europe/Paris' or 'America/New_York', 'UTC', or an offset like '+05:30'"
        ) from None


def current_time(timezone: str = "UTC", days_from_now: int = 0, days_ago: int = 0, until: str = "") -> str:
    """The current date and time (ISO 8601) and the weekday in a timezone. With days_from_now or
    days_ago: the date and weekday that many days later or earlier instead; with until: how many days
    from today to that date.

    Args:
        timezone: An IANA timezone name such as "Europe/Paris" or "Asia/Tokyo", "UTC", or an offset like "+05:30".
        days_from_now: 3 for the date in 3 days; 0 for now.
        days_ago: 10 for the date 10 days ago; 0 for now.
        until: A date to count the days to, such as "December 25" or "2027-03-01" (a date already past
            counts as its next occurrence).
    """
    zone = resolve_timezone(timezone)
    now = datetime.now(zone).replace(microsecond=0)
    if until.strip():
        today = now.date()
        target = parse_date(until, today)
        if target < today:
            # "Until" looks ahead: a past date is one written with a stale year (small models add their
            # training year to "December 25"), so it counts as that day's next occurrence.
            target = _next(target, today)
        days = (target - today).days
        return f"{target.isoformat()} ({target.strftime('%A')}) is {'today' if days == 0 else _days(days) + ' from today'} ({today.isoformat()})"
    days_from_now -= days_ago
    if days_from_now:
        if abs(days_from_now) > 3_000_000:
            raise ToolError("days_from_now and days_ago must be within 3,000,000 days")
        try:
            then = now.date() + timedelta(days=days_from_now)
        except OverflowError:
            raise ToolError("that date is outside the years 1-9999") from None
        # The day asked for only: given today's weekday too, small models answered with that one.
        return f"{_days(days_from_now)} {'from now' if days_from_now > 0 else 'ago'}: {then.strftime('%A, %B')} {then.day}, {then.year} ({then.isoformat()})"
    label = timezone.strip() or "UTC"
    return f"{now.isoformat()} ({now.strftime('%A')}, {label})"


def _next(day: date, today: date) -> date:
    """The first ``day.month``/``day.day`` on or after ``today`` (February 29 waits for a leap year)."""
    for year in range(today.year, today.year + 9):
        try:
            candidate = day.replace(year=year)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise ToolError(f"{day.isoformat()} has no next occurrence")


def _days(count: int) -> str:
    return f"{abs(count)} day{'s' if abs(count) != 1 else ''}"
