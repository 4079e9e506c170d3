"""Release times, as the WCO Time Release Study measures them, from the stored declaration events.

Every figure is computed from the times of the events (``declaration_events``), never from the
status: a declaration belongs to the period in which its goods **arrived** (its ``arrived``
event), and rejected declarations are left out. Its milestones are:

- *lodging*: ``declarations.lodged_at``;
- *arrival*: the ``arrived`` event;
- *control*: the ``inspected`` event, when it came before the release (or the goods are not
  released yet): a post-clearance audit after release is no part of the clearance;
- *payment*: the last ``paid`` event not after the release (the payment that settled what was
  due), counted once the goods are released or fully paid;
- *release*: the first ``released`` event.

The stages measure how long the goods waited **after arrival**: each runs from the later of the
arrival and the previous milestone, and a milestone reached before arrival (a documentary check or
a payment before the ship docked) waited nothing:

- ``arrival_to_control`` = max(0, control − arrival);
- ``control_to_payment`` = max(0, payment − max(control, arrival)), controlled goods only;
- ``payment_to_release`` = max(0, release − max(payment, arrival));
- ``arrival_to_release`` = release − arrival;
- ``lodging_to_arrival`` (the pre-arrival lead time) = arrival − lodging, negative when the
  declaration was lodged after the goods arrived.

For each group: count, median, 90th percentile (linear interpolation between closest ranks, as
numpy's and a spreadsheet's PERCENTILE.INC), and a histogram over fixed buckets; the share lodged
before arrival, the share released on arrival (released within ``on_arrival_minutes`` of the
arrival, among the goods released or arrived longer ago than that), and the change from the
previous period of the same length. Durations are seconds; times UTC.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, func, select

from avance.declarations.tables import declaration_events, declarations, goods_items
from avance.kit import csvsafe
from avance.kit.errors import Issue, ValidationFailed
from avance.reference import hs_nomenclature
from avance.reports.cache import CACHE, ReportCache, cached
from avance.reports.periods import check_period, code_day, period_codes, period_end, period_label, resolve_range, tupled
from avance.reports.sql import epoch, start_of

STAGES = ("arrival_to_control", "control_to_payment", "payment_to_release", "arrival_to_release")
LEAD = "lodging_to_arrival"
MEASURES = (*STAGES, LEAD)
DIMENSIONS = ("office", "lane", "mode", "section")

HOUR = 3600.0
DAY = 24 * HOUR
STAGE_EDGES = (0.0, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, DAY, 2 * DAY, 3 * DAY, 7 * DAY, math.inf)
"""Histogram buckets of the stages: [0, 1 h), [1 h, 2 h), [2 h, 4 h), [4 h, 8 h), [8 h, 24 h),
[1 d, 2 d), [2 d, 3 d), [3 d, 7 d), 7 days and more."""
LEAD_EDGES = (-math.inf, 0.0, DAY, 2 * DAY, 3 * DAY, 7 * DAY, 14 * DAY, math.inf)
"""Histogram buckets of the lead time: lodged after arrival, [0, 1 d), [1 d, 2 d), [2 d, 3 d),
[3 d, 7 d), [7 d, 14 d), 14 days and more before arrival."""


@lru_cache(maxsize=1)
def chapter_sections() -> dict[str, str]:
    """HS 2022 section (roman numeral) of each two-digit chapter."""
    return {code: entry.section for code, entry in hs_nomenclature().items() if entry.level == 2}


def section_of(hs_code: str | None) -> str | None:
    return chapter_sections().get((hs_code or "")[:2])


@dataclass(frozen=True)
class ReleaseQuery:
    """What to measure. Dates are UTC days, both included (default: the 30 days up to today);
    ``by`` names the dimensions to group by (``office``, ``lane``, ``mode``, ``section``);
    ``period`` cuts the range into days, ISO weeks or calendar months (None: the range only)."""

    since: date | None = None
    until: date | None = None
    offices: tuple[str, ...] = ()
    lanes: tuple[str, ...] = ()
    modes: tuple[int, ...] = ()
    sections: tuple[str, ...] = ()
    by: tuple[str, ...] = ()
    period: str | None = "week"
    on_arrival_minutes: int = 60

    def resolved(self, on: date | None = None) -> ReleaseQuery:
        """The query with its range filled in and checked, and its filters in one order (a cache key)."""
        since, until = resolve_range(self.since, self.until, on=on)
        check_period(self.period)
        issues = [Issue("/by", "reports.bad_dimension", {"dimension": d, "allowed": ", ".join(DIMENSIONS)}) for d in self.by if d not in DIMENSIONS]
        issues += [Issue("/sections", "reports.bad_section", {"section": s}) for s in self.sections if s not in set(chapter_sections().values())]
        if not 0 <= self.on_arrival_minutes <= 7 * 24 * 60:
            issues.append(Issue("/on_arrival_minutes", "reports.bad_on_arrival", {"maximum": 7 * 24 * 60}))
        if issues:
            raise ValidationFailed(issues)
        by = tuple(d for d in DIMENSIONS if d in self.by)
        return replace(
            self,
            since=since,
            until=until,
            offices=tupled(self.offices),
            lanes=tupled(self.lanes),
            modes=tupled(self.modes),
            sections=tupled(self.sections),
            by=by,
        )

    @property
    def days(self) -> int:
        assert self.since is not None and self.until is not None
        return (self.until - self.since).days + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "offices": list(self.offices),
            "lanes": list(self.lanes),
            "modes": list(self.modes),
            "sections": list(self.sections),
            "by": list(self.by),
            "period": self.period,
            "on_arrival_minutes": self.on_arrival_minutes,
        }


@dataclass(frozen=True)
class Bucket:
    lower: float | None  # seconds, included; None: no lower bound
    upper: float | None  # seconds, excluded; None: no upper bound
    count: int


@dataclass(frozen=True)
class Figure:
    """One measure over one group: how many, median and 90th percentile (seconds), distribution."""

    count: int
    median: float | None
    p90: float | None
    histogram: tuple[Bucket, ...] = ()

    @property
    def median_hours(self) -> float | None:
        return None if self.median is None else self.median / HOUR

    @property
    def p90_hours(self) -> float | None:
        return None if self.p90 is None else self.p90 / HOUR


@dataclass(frozen=True)
class Change:
    """A measure against the previous period of the same length."""

    previous_count: int
    previous_median: float | None
    median_change: float | None  # seconds: this period's median minus the previous one
    median_change_ratio: float | None  # median_change / previous median


@dataclass(frozen=True)
class GroupKey:
    office: str | None = None
    lane: str | None = None
    mode: int | None = None
    section: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"office": self.office, "lane": self.lane, "mode": self.mode, "section": self.section}


@dataclass(frozen=True)
class GroupFigures:
    """The figures of one group over one period (the whole range, or one day/week/month of it)."""

    key: GroupKey
    period: str  # "2026-W14", "2026-04", "2026-04-03", or "since..until" for the whole range
    start: date
    end: date  # included
    arrived: int  # declarations whose goods arrived in the period (not rejected)
    measures: dict[str, Figure]  # every name of MEASURES
    lodged_before_arrival: float | None  # share of ``arrived``
    released_on_arrival: float | None  # share of the goods released, or arrived longer ago than the allowance
    changes: dict[str, Change] = field(default_factory=dict)  # against the previous period, when there is one
    previous_lodged_before_arrival: float | None = None
    previous_released_on_arrival: float | None = None
    has_previous: bool = False


@dataclass(frozen=True)
class ReleaseReport:
    query: ReleaseQuery  # resolved: dates filled in
    previous_since: date
    previous_until: date
    totals: tuple[GroupFigures, ...]  # per group over the whole range, against the previous range of the same length
    series: tuple[GroupFigures, ...]  # per period and group, each against the period before it in the series
    computed_at: datetime


# --- reading the milestones -----------------------------------------------------------------------


@dataclass
class _Rows:
    office: np.ndarray
    lane: np.ndarray
    mode: np.ndarray
    section: np.ndarray
    lodged: np.ndarray
    arrived: np.ndarray
    control: np.ndarray
    payment: np.ndarray
    release: np.ndarray

    def take(self, mask: np.ndarray) -> _Rows:
        return _Rows(**{name: getattr(self, name)[mask] for name in self.__dataclass_fields__})

    def __len__(self) -> int:
        return len(self.arrived)


def _first(kind: str, alias: str) -> Any:
    e = declaration_events.alias(alias)
    return select(func.min(e.c.at)).where(e.c.declaration_id == declarations.c.id, e.c.kind == kind).correlate(declarations).scalar_subquery()


def _read(conn: Connection, q: ReleaseQuery, start: datetime, end: datetime) -> _Rows:
    """The milestones of the declarations whose goods arrived in [start, end), filters applied."""
    arrival = declaration_events.alias("arrival")
    released = _first("released", "r")
    inspected = _first("inspected", "i")
    p = declaration_events.alias("p")
    paid = (
        select(func.max(p.c.at))
        .where(p.c.declaration_id == declarations.c.id, p.c.kind == "paid", p.c.at <= func.coalesce(_first("released", "r2"), p.c.at))
        .scalar_subquery()
    )
    first_hs = goods_items.alias("g")
    query = (
        select(
            declarations.c.office_code,
            declarations.c.lane,
            declarations.c.transport_mode_code,
            first_hs.c.hs_code,
            declarations.c.status,
            epoch(declarations.c.lodged_at),
            epoch(arrival.c.at),
            epoch(inspected),
            epoch(paid),
            epoch(released),
        )
        .select_from(arrival)
        .join(declarations, declarations.c.id == arrival.c.declaration_id)
        .outerjoin(first_hs, and_(first_hs.c.declaration_id == declarations.c.id, first_hs.c.sequence == 1))
        .where(arrival.c.kind == "arrived", arrival.c.at >= start, arrival.c.at < end, declarations.c.status != "rejected")
    )
    if q.offices:
        query = query.where(declarations.c.office_code.in_(q.offices))
    if q.lanes:
        query = query.where(declarations.c.lane.in_(q.lanes))
    if q.modes:
        query = query.where(declarations.c.transport_mode_code.in_(q.modes))
    if q.sections:
        chapters = sorted(c for c, s in chapter_sections().items() if s in q.sections)
        query = query.where(func.substr(first_hs.c.hs_code, 1, 2).in_(chapters))
    rows = conn.execute(query).all()
    n = len(rows)
    columns = list(zip(*rows)) if rows else [()] * 10

    def times(i: int) -> np.ndarray:
        # NULL: NaN; to the millisecond (SQLite's julianday arithmetic is exact to about 10 µs)
        return np.round(np.array(columns[i], dtype=float), 3) if n else np.empty(0)

    sections = chapter_sections()
    status = np.array(columns[4], dtype=object)
    release = times(9)
    control = times(7)
    control = np.where(np.isnan(release) | (control <= release), control, np.nan)  # an audit after release is no control
    payment = times(8)
    payment = np.where(~np.isnan(release) | (status == "paid"), payment, np.nan)  # settled: released, or fully paid
    return _Rows(
        office=np.array(columns[0], dtype=object),
        lane=np.array(columns[1], dtype=object),
        mode=np.array(columns[2], dtype=object),
        section=np.array([sections.get((hs or "")[:2]) for hs in columns[3]], dtype=object),
        lodged=times(5),
        arrived=times(6),
        control=control,
        payment=payment,
        release=release,
    )


# --- figures --------------------------------------------------------------------------------------


def _durations(r: _Rows) -> dict[str, np.ndarray]:
    """Each measure's duration per row (NaN where it does not apply)."""
    with np.errstate(invalid="ignore"):
        after_control = np.fmax(r.control, r.arrived)  # fmax: the arrival when there was no control
        after_payment = np.fmax(r.payment, r.arrived)
        to_payment = np.where(np.isnan(r.control), np.nan, r.payment - after_control)
        durations = {
            "arrival_to_control": np.maximum(r.control - r.arrived, 0.0),
            "control_to_payment": np.maximum(to_payment, 0.0),
            "payment_to_release": np.maximum(np.where(np.isnan(r.payment), np.nan, r.release - after_payment), 0.0),
            "arrival_to_release": np.maximum(r.release - r.arrived, 0.0),
            LEAD: r.arrived - r.lodged,
        }
    return {name: np.round(values, 3) for name, values in durations.items()}


def _histogram(values: np.ndarray, edges: Sequence[float]) -> tuple[Bucket, ...]:
    counts, _ = np.histogram(values, bins=np.asarray(edges, dtype=float))
    return tuple(
        Bucket(None if math.isinf(lo) else lo, None if math.isinf(hi) else hi, int(c)) for lo, hi, c in zip(edges[:-1], edges[1:], counts)
    )


def figure(values: np.ndarray, edges: Sequence[float] | None = STAGE_EDGES) -> Figure:
    """Count, median, 90th percentile and histogram of ``values`` (NaN ignored)."""
    v = values[~np.isnan(values)]
    if v.size == 0:
        return Figure(0, None, None, _histogram(v, edges) if edges else ())
    return Figure(int(v.size), float(np.median(v)), float(np.percentile(v, 90)), _histogram(v, edges) if edges else ())


def _shares(r: _Rows, within: float, now: float) -> tuple[float | None, float | None]:
    n = len(r)
    if n == 0:
        return None, None
    before = float(np.count_nonzero(r.lodged < r.arrived)) / n
    released = ~np.isnan(r.release)
    judged = released | (now - r.arrived > within)  # not released yet but past the allowance: missed it
    on_arrival = released & (r.release - r.arrived <= within)
    count = int(np.count_nonzero(judged))
    return before, (float(np.count_nonzero(on_arrival)) / count if count else None)


def _measures(r: _Rows, histograms: bool) -> dict[str, Figure]:
    durations = _durations(r)
    return {name: figure(durations[name], (LEAD_EDGES if name == LEAD else STAGE_EDGES) if histograms else None) for name in MEASURES}


def _change(now: Figure, before: Figure) -> Change:
    delta = None if now.median is None or before.median is None else now.median - before.median
    ratio = None if delta is None or not before.median else delta / before.median
    return Change(before.count, before.median, delta, ratio)


def _group(
    key: GroupKey, label: str, start: date, end: date, rows: _Rows, previous: _Rows | None, within: float, now: float, histograms: bool
) -> GroupFigures:
    measures = _measures(rows, histograms)
    before, on_arrival = _shares(rows, within, now)
    if previous is None:
        return GroupFigures(key, label, start, end, len(rows), measures, before, on_arrival)
    old = _measures(previous, False)
    old_before, old_on_arrival = _shares(previous, within, now)
    return GroupFigures(
        key,
        label,
        start,
        end,
        len(rows),
        measures,
        before,
        on_arrival,
        changes={name: _change(measures[name], old[name]) for name in MEASURES},
        previous_lodged_before_arrival=old_before,
        previous_released_on_arrival=old_on_arrival,
        has_previous=True,
    )


def _split(r: _Rows, by: tuple[str, ...]) -> dict[GroupKey, np.ndarray]:
    """Row positions of each group, groups in the order of their values (a missing value last)."""
    if not by:
        return {GroupKey(): np.arange(len(r))}
    if not len(r):
        return {}
    columns = {"office": r.office, "lane": r.lane, "mode": r.mode, "section": r.section}
    combined = np.zeros(len(r), dtype=np.int64)
    for d in by:
        text = np.array(["\uffff" if v is None else str(v) for v in columns[d]], dtype=str)  # None sorts last
        values, codes = np.unique(text, return_inverse=True)
        combined = combined * len(values) + codes
    groups, inverse = np.unique(combined, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(groups) + 1))
    found = {}
    for g in range(len(groups)):
        positions = order[bounds[g] : bounds[g + 1]]
        first = positions[0]
        found[GroupKey(**{d: columns[d][first] for d in by})] = positions
    return found


def compute(conn: Connection, q: ReleaseQuery, *, now: datetime | None = None) -> ReleaseReport:
    """The report of a resolved query, computed now (no cache)."""
    assert q.since is not None and q.until is not None
    now = now or datetime.now(timezone.utc)
    now_s = now.timestamp()
    within = q.on_arrival_minutes * 60.0
    previous_since = q.since - timedelta(days=q.days)
    previous_until = q.since - timedelta(days=1)
    rows = _read(conn, q, start_of(previous_since), start_of(q.until + timedelta(days=1)))
    current = rows.take(rows.arrived >= start_of(q.since).timestamp())
    before = rows.take(rows.arrived < start_of(q.since).timestamp())

    label = f"{q.since.isoformat()}..{q.until.isoformat()}"
    previous_groups = _split(before, q.by)
    totals = []
    for key, positions in _split(current, q.by).items():
        old = before.take(previous_groups[key]) if key in previous_groups else before.take(np.zeros(0, dtype=np.int64))
        totals.append(_group(key, label, q.since, q.until, current.take(positions), old, within, now_s, True))

    series: list[GroupFigures] = []
    if q.period is not None and len(current):
        codes = period_codes(current.arrived, q.period)
        for key, positions in _split(current, q.by).items():
            group = current.take(positions)
            group_codes = codes[positions]
            last: _Rows | None = None
            for code in np.unique(group_codes):
                start = code_day(int(code))
                rows_in = group.take(group_codes == code)
                series.append(
                    _group(key, period_label(start, q.period), max(start, q.since), min(period_end(start, q.period), q.until), rows_in, last, within, now_s, False)
                )
                last = rows_in
        series.sort(key=lambda g: g.start)
    return ReleaseReport(q, previous_since, previous_until, tuple(totals), tuple(series), now)


def release_times(conn: Connection, query: ReleaseQuery, *, now: datetime | None = None, cache: ReportCache | None = CACHE) -> ReleaseReport:
    """Release-time figures for ``query`` (see the module's documentation), kept in ``cache`` until
    the data changes (``cache=None``: computed afresh). Invalid queries are refused (422)."""
    q = query.resolved(on=(now or datetime.now(timezone.utc)).date())
    return cached(conn, "release_times", q, lambda: compute(conn, q, now=now), cache)


# --- the CSV file ---------------------------------------------------------------------------------

BUCKET_COLUMNS = ("0_1h", "1_2h", "2_4h", "4_8h", "8_24h", "1_2d", "2_3d", "3_7d", "7d_plus")
LEAD_BUCKET_COLUMNS = ("after_arrival", "0_1d", "1_2d", "2_3d", "3_7d", "7_14d", "14d_plus")
CSV_COLUMNS = (
    "scope",
    "period",
    "period_start",
    "period_end",
    "office",
    "lane",
    "transport_mode",
    "hs_section",
    "measure",
    "count",
    "median_seconds",
    "p90_seconds",
    "median_hours",
    "p90_hours",
    "previous_count",
    "previous_median_seconds",
    "median_change_seconds",
    "median_change_percent",
    "arrived",
    "lodged_before_arrival_share",
    "released_on_arrival_share",
    "previous_lodged_before_arrival_share",
    "previous_released_on_arrival_share",
    *(f"bucket_{b}" for b in BUCKET_COLUMNS),
    *(f"lead_bucket_{b}" for b in LEAD_BUCKET_COLUMNS),
)
"""Columns of ``release_times_csv`` (documented one by one in docs/reports.md)."""


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}"


def _rows_of(scope: str, g: GroupFigures) -> list[dict[str, str]]:
    rows = []
    for name in MEASURES:
        f = g.measures[name]
        c = g.changes.get(name)
        row = {
            "scope": scope,
            "period": g.period,
            "period_start": g.start.isoformat(),
            "period_end": g.end.isoformat(),
            "office": g.key.office or "",
            "lane": g.key.lane or "",
            "transport_mode": "" if g.key.mode is None else str(g.key.mode),
            "hs_section": g.key.section or "",
            "measure": name,
            "count": str(f.count),
            "median_seconds": _num(f.median),
            "p90_seconds": _num(f.p90),
            "median_hours": _num(f.median_hours, 2),
            "p90_hours": _num(f.p90_hours, 2),
            "previous_count": "" if c is None else str(c.previous_count),
            "previous_median_seconds": "" if c is None else _num(c.previous_median),
            "median_change_seconds": "" if c is None else _num(c.median_change),
            "median_change_percent": "" if c is None or c.median_change_ratio is None else _num(100 * c.median_change_ratio, 1),
            "arrived": str(g.arrived),
            "lodged_before_arrival_share": _num(g.lodged_before_arrival, 4),
            "released_on_arrival_share": _num(g.released_on_arrival, 4),
            "previous_lodged_before_arrival_share": _num(g.previous_lodged_before_arrival, 4),
            "previous_released_on_arrival_share": _num(g.previous_released_on_arrival, 4),
        }
        names = LEAD_BUCKET_COLUMNS if name == LEAD else BUCKET_COLUMNS
        prefix = "lead_bucket_" if name == LEAD else "bucket_"
        for bucket_name, bucket in zip(names, f.histogram):
            row[prefix + bucket_name] = str(bucket.count)
        rows.append(row)
    return rows


def release_times_csv(report: ReleaseReport) -> str:
    """The report as CSV: one line per group, period and measure; the whole range first
    (``scope`` = ``range``), then each period (``scope`` = ``period``)."""
    out = io.StringIO()
    writer = csvsafe.DictWriter(out, fieldnames=CSV_COLUMNS, restval="", lineterminator="\n")  # no cell a spreadsheet takes for a formula
    writer.writeheader()
    for g in report.totals:
        writer.writerows(_rows_of("range", g))
    for g in report.series:
        writer.writerows(_rows_of("period", g))
    return out.getvalue()


# --- plain data (the API's JSON) ------------------------------------------------------------------


def _figure_dict(f: Figure, c: Change | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "count": f.count,
        "median_seconds": f.median,
        "p90_seconds": f.p90,
        "median_hours": f.median_hours,
        "p90_hours": f.p90_hours,
        "histogram": [{"lower_seconds": b.lower, "upper_seconds": b.upper, "count": b.count} for b in f.histogram],
    }
    if c is not None:
        data["change"] = {
            "previous_count": c.previous_count,
            "previous_median_seconds": c.previous_median,
            "median_change_seconds": c.median_change,
            "median_change_ratio": c.median_change_ratio,
        }
    else:
        data["change"] = None
    return data


def group_dict(g: GroupFigures) -> dict[str, Any]:
    return {
        "key": g.key.to_dict(),
        "period": g.period,
        "start": g.start.isoformat(),
        "end": g.end.isoformat(),
        "arrived": g.arrived,
        "lodged_before_arrival_share": g.lodged_before_arrival,
        "released_on_arrival_share": g.released_on_arrival,
        "previous_lodged_before_arrival_share": g.previous_lodged_before_arrival if g.has_previous else None,
        "previous_released_on_arrival_share": g.previous_released_on_arrival if g.has_previous else None,
        "measures": {name: _figure_dict(g.measures[name], g.changes.get(name)) for name in MEASURES},
    }


def report_dict(report: ReleaseReport) -> dict[str, Any]:
    """The report as plain JSON values (the API's answer)."""
    return {
        "query": report.query.to_dict(),
        "previous_since": report.previous_since.isoformat(),
        "previous_until": report.previous_until.isoformat(),
        "computed_at": report.computed_at.isoformat(),
        "totals": [group_dict(g) for g in report.totals],
        "series": [group_dict(g) for g in report.series],
    }
