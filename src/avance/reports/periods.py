"""Date ranges and the periods (day, ISO week, calendar month) the reports are cut into, in UTC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone

import numpy as np

from avance.kit.errors import Issue, ValidationFailed

PERIODS = ("day", "week", "month")
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366
"""Longest range a report covers (three years): enough for a year against the previous one."""
EARLIEST = date(1990, 1, 1)
LATEST = date(2199, 12, 31)
"""The days a report may name: customs data of this century (and room for the previous period)."""


def today() -> date:
    return datetime.now(timezone.utc).date()


def resolve_range(since: date | None, until: date | None, *, on: date | None = None) -> tuple[date, date]:
    """The inclusive range ``since``..``until``: by default the ``DEFAULT_DAYS`` days up to today (UTC).
    A range that ends before it starts, longer than ``MAX_DAYS``, or outside ``EARLIEST``..``LATEST``
    is refused (422)."""
    for pointer, day in (("/since", since), ("/until", until)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise ValidationFailed([Issue(pointer, "reports.day_out_of_range", {"day": day.isoformat(), "earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()})])
    until = until or (since + timedelta(days=DEFAULT_DAYS - 1) if since is not None else (on or today()))
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise ValidationFailed([Issue("/since", "reports.range_reversed", {"since": since.isoformat(), "until": until.isoformat()})])
    if (until - since).days + 1 > MAX_DAYS:
        raise ValidationFailed([Issue("/until", "reports.range_too_long", {"days": MAX_DAYS})])
    return since, until


def check_period(period: str | None) -> None:
    if period is not None and period not in PERIODS:
        raise ValidationFailed([Issue("/period", "reports.bad_period", {"period": period, "allowed": ", ".join(PERIODS)})])


def period_start(day: date, period: str) -> date:
    """The first day of the period holding ``day``: the day, the Monday of its ISO week, the 1st of its month."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_end(start: date, period: str) -> date:
    """The last day (inclusive) of the period starting on ``start``."""
    if period == "day":
        return start
    if period == "week":
        return start + timedelta(days=6)
    following = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return following - timedelta(days=1)


def period_label(start: date, period: str) -> str:
    """``2026-04-03``, ``2026-W14`` (ISO week) or ``2026-04``."""
    if period == "day":
        return start.isoformat()
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year:04d}-{start.month:02d}"


def period_starts(since: date, until: date, period: str) -> list[date]:
    """Every period start from the one holding ``since`` to the one holding ``until``."""
    starts = []
    current = period_start(since, period)
    while current <= until:
        starts.append(current)
        current = period_end(current, period) + timedelta(days=1)
    return starts


_EPOCH_DAY = np.datetime64("1970-01-01", "D")


def period_codes(seconds: np.ndarray, period: str) -> np.ndarray:
    """The period start of each time (seconds since the epoch, UTC) as days since 1970-01-01."""
    days = np.floor(seconds / 86400.0).astype(np.int64)
    if period == "day":
        return days
    if period == "week":
        return days - (days + 3) % 7  # 1970-01-01 was a Thursday: Monday is 3 days before
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return (months.astype("datetime64[D]") - _EPOCH_DAY).astype(np.int64)


def code_day(code: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(code))


def tupled(values: Sequence[object] | None) -> tuple:
    """A filter's values as a sorted tuple without repeats (a cache key: the same query, the same key)."""
    return tuple(sorted(set(values or ()), key=str))
