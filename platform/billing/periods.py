"""Billing periods: calendar months in UTC."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timezone as dt_timezone

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_start(day: date | datetime) -> date:
    if isinstance(day, datetime):
        day = day.astimezone(dt_timezone.utc).date()
    return day.replace(day=1)


def next_month(period: date) -> date:
    return date(period.year + (period.month == 12), period.month % 12 + 1, 1)


def period_bounds(period: date) -> tuple[datetime, datetime]:
    """[start, end) of the month as aware UTC datetimes."""
    start = datetime.combine(month_start(period), time.min, tzinfo=dt_timezone.utc)
    return start, datetime.combine(next_month(period), time.min, tzinfo=dt_timezone.utc)


def parse_month(value: str) -> date:
    """'2026-03' -> date(2026, 3, 1); ValueError otherwise."""
    match = _MONTH.match(value or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError("month must be YYYY-MM")
    return date(int(match.group(1)), int(match.group(2)), 1)
