"""The data behind the dashboards: lanes over time, revenue assessed and found at control, hit rates
per lane and per selectivity profile, and the model's precision week by week.

Each function reads the tables of declarations and risk (it changes nothing), aggregates in the
database where it can, and returns frozen dataclasses; each has a CSV writer. Results are kept in
the report cache until the data changes (``avance.reports.cache``). Money is ``Decimal`` in the
node's national currency (the ``currency`` of the declarations), summed exactly in Python because
SQLite keeps exact decimals as text.

- **Lanes over time**: declarations per lane and period, by registration date (the lane as it
  stands now: a lane raised by mirror control counts as raised).
- **Revenue**: duties and taxes assessed at lodging (declarations registered in the period, not
  rejected), and the extra duty found at control (``inspected`` events of the period).
- **Hit rates**: a *hit* is a control that found an irregularity (``fraud_found``). Per lane:
  declarations registered in the range, controls recorded in the range, hits, hit rate (hits per
  control) and extra duty found. Per profile: declarations the profile hit in the range, their
  controls recorded in the range, hits, hit rate, extra duty.
- **Precision week by week**: per ISO week of the control, controls and hits, overall and by what
  chose the declaration for control (the first reason of its lane decision): the model
  (``policy.model.*``), random draws and exploration (``policy.random``,
  ``policy.exploration.*``: the baseline), selectivity profiles (``policy.profile*``), or anything
  else (an earlier assessor, mirror control). The model's precision is its hits per control.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from sqlalchemy import Connection, case, func, select, true

from avance.declarations.tables import declaration_events, declarations
from avance.kit import csvsafe
from avance.reports.cache import CACHE, ReportCache, cached
from avance.reports.periods import check_period, code_day, period_codes, period_end, period_label, period_start, period_starts, resolve_range, tupled
from avance.reports.sql import epoch, start_of
from avance.risk.profiles.tables import risk_profile_hits, risk_profiles

LANE_ORDER = ("green", "blue", "yellow", "red")
BASES = ("model", "random", "profile", "other")


@dataclass(frozen=True)
class DashboardQuery:
    """Dates are UTC days, both included (default: the 30 days up to today); ``offices``: only
    these offices (none: all); ``period``: day, week or month."""

    since: date | None = None
    until: date | None = None
    offices: tuple[str, ...] = ()
    period: str = "week"

    def resolved(self, on: date | None = None) -> DashboardQuery:
        since, until = resolve_range(self.since, self.until, on=on)
        check_period(self.period)
        return replace(self, since=since, until=until, offices=tupled(self.offices))

    @property
    def window(self) -> tuple[datetime, datetime]:
        assert self.since is not None and self.until is not None
        return start_of(self.since), start_of(self.until + timedelta(days=1))

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "offices": list(self.offices),
            "period": self.period,
        }


def _lane_key(lane: str) -> tuple[int, str]:
    return (LANE_ORDER.index(lane) if lane in LANE_ORDER else len(LANE_ORDER), lane)


def _ratio(part: int, whole: int) -> Decimal | None:
    return None if whole == 0 else (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


def _amount(text: Any) -> Decimal:
    try:
        value = Decimal(str(text if text is not None else "0"))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return value if value.is_finite() else Decimal(0)


def _office_filter(q: DashboardQuery) -> list[Any]:
    return [declarations.c.office_code.in_(q.offices)] if q.offices else []


def _resolve(q: DashboardQuery, now: datetime | None) -> DashboardQuery:
    return q.resolved(on=(now or datetime.now(timezone.utc)).date())


def _csv(columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csvsafe.DictWriter(out, fieldnames=list(columns), lineterminator="\n")  # no cell a spreadsheet takes for a formula
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def _plain(value: Any) -> Any:
    return format(value, "f") if isinstance(value, Decimal) else value


# --- lanes over time ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaneCount:
    period: str
    start: date
    end: date
    lane: str
    declarations: int
    share: Decimal | None  # of the period's declarations


@dataclass(frozen=True)
class LanesOverTime:
    query: DashboardQuery
    lanes: tuple[str, ...]
    periods: tuple[tuple[str, date, date], ...]  # label, first day, last day (within the range)
    rows: tuple[LaneCount, ...]  # one per period and lane, zeros included

    def count(self, period: str, lane: str) -> int:
        return next((r.declarations for r in self.rows if r.period == period and r.lane == lane), 0)


def _lanes(conn: Connection, q: DashboardQuery) -> LanesOverTime:
    assert q.since is not None and q.until is not None
    query = (
        select(declarations.c.registration_date, declarations.c.lane, func.count())
        .where(declarations.c.registration_date >= q.since, declarations.c.registration_date <= q.until, *_office_filter(q))
        .group_by(declarations.c.registration_date, declarations.c.lane)
    )
    counts: dict[tuple[date, str], int] = defaultdict(int)
    lanes: set[str] = set()
    for day, lane, n in conn.execute(query):
        counts[(period_start(day, q.period), lane)] += int(n)
        lanes.add(lane)
    ordered = tuple(sorted(lanes | set(LANE_ORDER), key=_lane_key))
    periods = tuple((period_label(s, q.period), max(s, q.since), min(period_end(s, q.period), q.until)) for s in period_starts(q.since, q.until, q.period))
    rows = []
    for (label, first, last), start in zip(periods, period_starts(q.since, q.until, q.period)):
        total = sum(counts.get((start, lane), 0) for lane in ordered)
        for lane in ordered:
            n = counts.get((start, lane), 0)
            rows.append(LaneCount(label, first, last, lane, n, _ratio(n, total)))
    return LanesOverTime(q, ordered, periods, tuple(rows))


def lanes_over_time(conn: Connection, query: DashboardQuery, *, now: datetime | None = None, cache: ReportCache | None = CACHE) -> LanesOverTime:
    """Declarations per lane and period (by registration date)."""
    q = _resolve(query, now)
    return cached(conn, "lanes_over_time", q, lambda: _lanes(conn, q), cache)


LANES_COLUMNS = ("period", "period_start", "period_end", "lane", "declarations", "share")


def lanes_csv(report: LanesOverTime) -> str:
    return _csv(
        LANES_COLUMNS,
        ({"period": r.period, "period_start": r.start.isoformat(), "period_end": r.end.isoformat(), "lane": r.lane, "declarations": r.declarations, "share": _plain(r.share)} for r in report.rows),
    )


# --- revenue --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevenuePeriod:
    period: str
    start: date
    end: date
    currency: str
    declarations: int  # registered in the period, not rejected
    assessed: Decimal  # duties and taxes assessed at lodging
    controls: int  # controls recorded in the period
    controls_with_extra_duty: int
    recovered_at_control: Decimal  # extra duty the controls of the period found

    @property
    def recovered_share(self) -> Decimal | None:
        """Extra duty found at control per unit assessed at lodging."""
        return None if not self.assessed else (self.recovered_at_control / self.assessed).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class RevenueReport:
    query: DashboardQuery
    rows: tuple[RevenuePeriod, ...]  # one per period and currency (every period, zeros included)

    def total(self, currency: str) -> tuple[Decimal, Decimal]:
        """Assessed and recovered at control over the whole range, in ``currency``."""
        rows = [r for r in self.rows if r.currency == currency]
        return sum((r.assessed for r in rows), Decimal(0)), sum((r.recovered_at_control for r in rows), Decimal(0))


def _revenue(conn: Connection, q: DashboardQuery) -> RevenueReport:
    assert q.since is not None and q.until is not None
    assessed: dict[tuple[date, str], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    query = select(declarations.c.registration_date, declarations.c.currency, declarations.c.duty_total).where(
        declarations.c.registration_date >= q.since, declarations.c.registration_date <= q.until, declarations.c.status != "rejected", *_office_filter(q)
    )
    for day, currency, duty in conn.execute(query):
        entry = assessed[(period_start(day, q.period), currency)]
        entry[0] += 1
        entry[1] += duty
    start, end = q.window
    controls: dict[tuple[date, str], list[Any]] = defaultdict(lambda: [0, 0, Decimal(0)])
    query = (
        select(epoch(declaration_events.c.at), declarations.c.currency, declaration_events.c.data["extra_duty"].as_string())
        .join(declarations, declarations.c.id == declaration_events.c.declaration_id)
        .where(declaration_events.c.kind == "inspected", declaration_events.c.at >= start, declaration_events.c.at < end, *_office_filter(q))
    )
    rows = conn.execute(query).all()
    if rows:
        codes = period_codes(np.array([r[0] for r in rows], dtype=float), q.period)
        for code, (_, currency, extra) in zip(codes, rows):
            entry = controls[(code_day(int(code)), currency)]
            amount = _amount(extra)
            entry[0] += 1
            entry[1] += int(amount > 0)
            entry[2] += amount
    currencies = sorted({c for _, c in assessed} | {c for _, c in controls})
    found = []
    for s in period_starts(q.since, q.until, q.period):
        for currency in currencies:
            n, total = assessed.get((s, currency), (0, Decimal(0)))
            c, with_extra, recovered = controls.get((s, currency), (0, 0, Decimal(0)))
            found.append(RevenuePeriod(period_label(s, q.period), max(s, q.since), min(period_end(s, q.period), q.until), currency, n, total, c, with_extra, recovered))
    return RevenueReport(q, tuple(found))


def revenue(conn: Connection, query: DashboardQuery, *, now: datetime | None = None, cache: ReportCache | None = CACHE) -> RevenueReport:
    """Duties assessed at lodging and extra duty found at control, per period and currency."""
    q = _resolve(query, now)
    return cached(conn, "revenue", q, lambda: _revenue(conn, q), cache)


REVENUE_COLUMNS = ("period", "period_start", "period_end", "currency", "declarations", "assessed", "controls", "controls_with_extra_duty", "recovered_at_control", "recovered_share")


def revenue_csv(report: RevenueReport) -> str:
    return _csv(
        REVENUE_COLUMNS,
        (
            {
                "period": r.period,
                "period_start": r.start.isoformat(),
                "period_end": r.end.isoformat(),
                "currency": r.currency,
                "declarations": r.declarations,
                "assessed": _plain(r.assessed),
                "controls": r.controls,
                "controls_with_extra_duty": r.controls_with_extra_duty,
                "recovered_at_control": _plain(r.recovered_at_control),
                "recovered_share": _plain(r.recovered_share),
            }
            for r in report.rows
        ),
    )


# --- hit rates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HitRate:
    """Controls and what they found, for one lane or one profile."""

    name: str  # the lane, or the profile's id
    selected: int  # lane: declarations registered in the range; profile: declarations it hit
    controls: int
    hits: int
    extra_duty: Decimal
    currency: str | None
    version: int | None = None  # profile: its current version (None: not in the profiles table)
    active: bool | None = None
    lane: str | None = None  # profile: the lane it forces, if any

    @property
    def hit_rate(self) -> Decimal | None:
        return _ratio(self.hits, self.controls)

    @property
    def control_rate(self) -> Decimal | None:
        return _ratio(self.controls, self.selected)


@dataclass(frozen=True)
class HitRates:
    query: DashboardQuery
    lanes: tuple[HitRate, ...]
    profiles: tuple[HitRate, ...]


def _fraud() -> Any:
    return case((declaration_events.c.data["fraud_found"].as_boolean() == true(), 1), else_=0)


def _hit_rates(conn: Connection, q: DashboardQuery) -> HitRates:
    assert q.since is not None and q.until is not None
    start, end = q.window
    lodged = dict(
        conn.execute(
            select(declarations.c.lane, func.count())
            .where(declarations.c.registration_date >= q.since, declarations.c.registration_date <= q.until, *_office_filter(q))
            .group_by(declarations.c.lane)
        ).all()
    )
    in_range = [declaration_events.c.kind == "inspected", declaration_events.c.at >= start, declaration_events.c.at < end, *_office_filter(q)]
    controls = (
        select(declarations.c.lane, declarations.c.currency, declaration_events.c.data["fraud_found"].as_boolean(), declaration_events.c.data["extra_duty"].as_string())
        .join(declarations, declarations.c.id == declaration_events.c.declaration_id)
        .where(*in_range)
    )
    by_lane: dict[str, list[Any]] = defaultdict(lambda: [0, 0, Decimal(0)])
    currencies: set[str] = set()
    for lane, currency, fraud, extra in conn.execute(controls):
        entry = by_lane[lane]
        entry[0] += 1
        currencies.add(currency)
        if fraud:
            entry[1] += 1
            entry[2] += _amount(extra)
    currency = next(iter(currencies)) if len(currencies) == 1 else None
    lanes = tuple(
        HitRate(lane, int(lodged.get(lane, 0)), *by_lane.get(lane, (0, 0, Decimal(0))), currency) for lane in sorted(set(lodged) | set(by_lane) | set(LANE_ORDER), key=_lane_key)
    )

    hits = risk_profile_hits
    hit_conditions = [hits.c.at >= start, hits.c.at < end]
    hit_query = select(hits.c.profile_id, func.count()).where(*hit_conditions).group_by(hits.c.profile_id)
    if q.offices:
        hit_query = hit_query.join(declarations, declarations.c.id == hits.c.declaration_id).where(*_office_filter(q))
    hit_counts = dict(conn.execute(hit_query).all())
    profile_controls = (
        select(hits.c.profile_id, declaration_events.c.data["fraud_found"].as_boolean(), declaration_events.c.data["extra_duty"].as_string())
        .join(declaration_events, declaration_events.c.declaration_id == hits.c.declaration_id)
        .join(declarations, declarations.c.id == hits.c.declaration_id)
        .where(*in_range)
    )
    by_profile: dict[str, list[Any]] = defaultdict(lambda: [0, 0, Decimal(0)])
    for profile_id, fraud, extra in conn.execute(profile_controls):
        entry = by_profile[profile_id]
        entry[0] += 1
        if fraud:
            entry[1] += 1
            entry[2] += _amount(extra)
    known = {r.id: r for r in conn.execute(select(risk_profiles.c.id, risk_profiles.c.version, risk_profiles.c.active, risk_profiles.c.lane))}
    profiles = []
    for profile_id in sorted(set(known) | set(hit_counts) | set(by_profile)):
        p = known.get(profile_id)
        controls_n, hits_n, extra = by_profile.get(profile_id, (0, 0, Decimal(0)))
        profiles.append(
            HitRate(
                profile_id,
                int(hit_counts.get(profile_id, 0)),
                controls_n,
                hits_n,
                extra,
                currency,
                version=p.version if p is not None else None,
                active=p.active if p is not None else None,
                lane=p.lane if p is not None else None,
            )
        )
    return HitRates(q, lanes, tuple(profiles))


def hit_rates(conn: Connection, query: DashboardQuery, *, now: datetime | None = None, cache: ReportCache | None = CACHE) -> HitRates:
    """Controls, hits and hit rate per lane and per selectivity profile over the range (``period`` unused)."""
    q = _resolve(query, now)
    return cached(conn, "hit_rates", q, lambda: _hit_rates(conn, q), cache)


HIT_RATE_COLUMNS = ("kind", "name", "version", "active", "profile_lane", "selected", "controls", "control_rate", "hits", "hit_rate", "extra_duty", "currency")


def hit_rates_csv(report: HitRates) -> str:
    def row(kind: str, h: HitRate) -> dict[str, Any]:
        return {
            "kind": kind,
            "name": h.name,
            "version": h.version,
            "active": None if h.active is None else str(h.active).lower(),
            "profile_lane": h.lane,
            "selected": h.selected,
            "controls": h.controls,
            "control_rate": _plain(h.control_rate),
            "hits": h.hits,
            "hit_rate": _plain(h.hit_rate),
            "extra_duty": _plain(h.extra_duty),
            "currency": h.currency,
        }

    return _csv(HIT_RATE_COLUMNS, [row("lane", h) for h in report.lanes] + [row("profile", h) for h in report.profiles])


# --- the model's precision, week by week -----------------------------------------------------------


def basis_of(code: str | None) -> str:
    """What chose a declaration for control, from the code of its lane decision's first reason."""
    family = (code or "").split(".")[:2]  # policy.model.stream, policy.exploration.random ...
    if family == ["policy", "model"]:
        return "model"
    if code == "policy.random" or family == ["policy", "exploration"]:
        return "random"
    if family == ["policy", "profile"]:
        return "profile"
    return "other"


@dataclass(frozen=True)
class Tally:
    controls: int = 0
    hits: int = 0

    @property
    def precision(self) -> Decimal | None:
        return _ratio(self.hits, self.controls)


@dataclass(frozen=True)
class PrecisionWeek:
    week: str  # ISO week, 2026-W14
    start: date  # its Monday
    all: Tally
    by_basis: dict[str, Tally]  # every name of BASES
    mean_score: float | None  # mean score of the declarations controlled

    @property
    def lift(self) -> Decimal | None:
        """The model's precision over the random baseline's (None when either is unknown or zero)."""
        model, baseline = self.by_basis["model"].precision, self.by_basis["random"].precision
        return None if model is None or not baseline else (model / baseline).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class ModelPrecision:
    query: DashboardQuery
    weeks: tuple[PrecisionWeek, ...]  # every ISO week of the range, oldest first
    overall: PrecisionWeek  # the whole range ("week" holds since..until)


def _precision(conn: Connection, q: DashboardQuery) -> ModelPrecision:
    assert q.since is not None and q.until is not None
    start, end = q.window
    query = (
        select(epoch(declaration_events.c.at), declaration_events.c.data["fraud_found"].as_boolean(), declarations.c.reasons[(0, "code")].as_string(), declarations.c.score)
        .join(declarations, declarations.c.id == declaration_events.c.declaration_id)
        .where(declaration_events.c.kind == "inspected", declaration_events.c.at >= start, declaration_events.c.at < end, *_office_filter(q))
    )
    rows = conn.execute(query).all()
    weeks: dict[int, dict[str, list[int]]] = defaultdict(lambda: {b: [0, 0] for b in BASES})
    scores: dict[int, list[float]] = defaultdict(list)
    if rows:
        codes = period_codes(np.array([r[0] for r in rows], dtype=float), "week")
        for code, (_, fraud, reason, score) in zip(codes, rows):
            entry = weeks[int(code)][basis_of(reason)]
            entry[0] += 1
            entry[1] += int(bool(fraud))
            scores[int(code)].append(float(score))

    def week(label: str, monday: date, counts: dict[str, list[int]], week_scores: list[float]) -> PrecisionWeek:
        by_basis = {b: Tally(*counts[b]) for b in BASES}
        total = Tally(sum(t.controls for t in by_basis.values()), sum(t.hits for t in by_basis.values()))
        return PrecisionWeek(label, monday, total, by_basis, float(np.mean(week_scores)) if week_scores else None)

    found = []
    for monday in period_starts(q.since, q.until, "week"):
        code = (monday - date(1970, 1, 1)).days
        found.append(week(period_label(monday, "week"), monday, weeks.get(code, {b: [0, 0] for b in BASES}), scores.get(code, [])))
    everything = {b: [sum(w[b][0] for w in weeks.values()), sum(w[b][1] for w in weeks.values())] for b in BASES}
    overall = week(f"{q.since.isoformat()}..{q.until.isoformat()}", q.since, everything, [s for v in scores.values() for s in v])
    return ModelPrecision(q, tuple(found), overall)


def model_precision(conn: Connection, query: DashboardQuery, *, now: datetime | None = None, cache: ReportCache | None = CACHE) -> ModelPrecision:
    """Controls, hits and precision per ISO week of the control, overall and by what chose the
    declarations for control (``period`` unused: always weeks)."""
    q = _resolve(query, now)
    return cached(conn, "model_precision", q, lambda: _precision(conn, q), cache)


PRECISION_COLUMNS = (
    "week",
    "week_start",
    "controls",
    "hits",
    "precision",
    *(f"{b}_{m}" for b in BASES for m in ("controls", "hits", "precision")),
    "model_lift",
    "mean_score",
)


def precision_csv(report: ModelPrecision) -> str:
    def row(w: PrecisionWeek) -> dict[str, Any]:
        data: dict[str, Any] = {"week": w.week, "week_start": w.start.isoformat(), "controls": w.all.controls, "hits": w.all.hits, "precision": _plain(w.all.precision)}
        for b in BASES:
            t = w.by_basis[b]
            data.update({f"{b}_controls": t.controls, f"{b}_hits": t.hits, f"{b}_precision": _plain(t.precision)})
        data["model_lift"] = _plain(w.lift)
        data["mean_score"] = None if w.mean_score is None else f"{w.mean_score:.4f}"
        return data

    return _csv(PRECISION_COLUMNS, [row(w) for w in report.weeks])
