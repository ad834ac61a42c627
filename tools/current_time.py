"""current_time: the date and time now in a timezone (IANA name, UTC, or an offset like +05:30).

    current_time("Asia/Tokyo")   # "2025-03-01T18:04:05+09:00 (Saturday, Asia/Tokyo)"
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant.agent.tools import ToolError

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


def current_time(timezone: str = "UTC", days_from_now: int = 0) -> str:
    """The current date and time (ISO 8601) and the weekday in a timezone; with days_from_now, also
    the date and weekday that many days later (negative: earlier).

    Args:
        timezone: An IANA timezone name such as "Europe/Paris" or "Asia/Tokyo", "UTC", or an offset like "+05:30".
        days_from_now: 3 for the date in 3 days, -1 for yesterday; 0 for just now.
    """
    zone = resolve_timezone(timezone)
    now = datetime.now(zone).replace(microsecond=0)
    label = timezone.strip() or "UTC"
    text = f"{now.isoformat()} ({now.strftime('%A')}, {label})"
    if not days_from_now:
        return text
    if abs(days_from_now) > 3_000_000:
        raise ToolError("days_from_now must be within 3,000,000 days")
    try:
        then = now.date() + timedelta(days=days_from_now)
    except OverflowError:
        raise ToolError("that date is outside the years 1-9999") from None
    span = f"{abs(days_from_now)} day{'s' if abs(days_from_now) != 1 else ''} {'from now' if days_from_now > 0 else 'ago'}"
    return f"{then.isoformat()} ({then.strftime('%A')}) is {span}; now it is {text}"
