"""Is the model still fit for the traffic? A drift report over the last weeks of a node's store.

(a) **Score distribution shift.** Each ISO week's lodged declarations' scores (the ``score``
    column of ``declarations``) are compared with the scores of the model's training data,
    which the model keeps as a 101-point quantile table (``metadata["score_quantiles"]``). The
    measure is the population stability index over the training deciles::

        PSI = sum over bins of (actual share - expected share) * ln(actual share / expected share)

    Bins are right-closed at the training deciles (tied deciles merge into one bin whose expected
    share is read from the quantile table); shares below 0.0001 count as 0.0001. PSI above 0.1
    means *watch*, above 0.25 *serious* (the usual credit-scoring thresholds). Weeks with fewer
    than ``min_scores`` declarations get no level ("too few").
(b) **Weekly precision of the inspected.** Per ISO week of the control (the ``inspected``
    event), and per lane: declarations inspected, frauds found, precision, and the extra duty
    the controls raised (exact decimals, national currency).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from avance.declarations.tables import declaration_events, declarations

WATCH = 0.1
SERIOUS = 0.25
_FLOOR = 1e-4
_LANE_ORDER = {"green": 0, "blue": 1, "yellow": 2, "red": 3}  # by increasing severity of control


# ---------------------------------------------------------------------------------------------
# PSI (pure)


def decile_bins(quantiles: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Inner bin edges (the distinct training deciles) and each bin's expected share.

    ``quantiles`` is the model's 101-point table (q[j] = the j-th percentile of training scores).
    The share of training scores at or below an edge e is max{j : q[j] <= e} / 100.
    """
    q = np.asarray(quantiles, dtype=float)
    if q.shape != (101,) or not np.isfinite(q).all() or (np.diff(q) < 0).any():
        raise ValueError("the score quantile table must hold 101 finite, non-decreasing values")
    edges = np.unique(q[10:100:10])
    below = np.searchsorted(q, edges, side="right") - 1  # last j with q[j] <= e
    cdf = np.r_[0.0, below / 100.0, 1.0]
    return edges, np.diff(cdf)


def bin_shares(scores: Sequence[float], edges: np.ndarray) -> np.ndarray:
    """Share of ``scores`` in each right-closed bin delimited by ``edges``."""
    s = np.asarray(scores, dtype=float)
    counts = np.bincount(np.searchsorted(edges, s, side="left"), minlength=edges.size + 1)
    return counts / max(1, s.size)


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of ``actual`` shares against ``expected`` (same bins)."""
    e = np.maximum(np.asarray(expected, dtype=float), _FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_against(scores: Sequence[float], quantiles: Sequence[float]) -> float:
    edges, expected = decile_bins(quantiles)
    return psi(expected, bin_shares(scores, edges))


def level(value: float | None) -> str:
    """``stable``, ``watch`` (PSI > 0.1), ``serious`` (> 0.25), or ``too_few`` (no PSI)."""
    if value is None:
        return "too_few"
    if value > SERIOUS:
        return "serious"
    if value > WATCH:
        return "watch"
    return "stable"


# ---------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class ScoreWeek:
    week: str
    start: date
    declarations: int
    mean_score: float | None
    psi: float | None
    level: str


@dataclass(frozen=True)
class InspectionWeek:
    week: str
    start: date
    lane: str | None  # None: all lanes together
    inspected: int
    frauds: int
    extra_duty: Decimal
    currency: str | None

    @property
    def precision(self) -> float | None:
        return self.frauds / self.inspected if self.inspected else None


@dataclass(frozen=True)
class DriftReport:
    since: date
    until: date
    scores: tuple[ScoreWeek, ...]
    overall: ScoreWeek | None
    inspections: tuple[InspectionWeek, ...]
    by_lane: tuple[InspectionWeek, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        def score(w: ScoreWeek) -> dict[str, Any]:
            return {"week": w.week, "start": w.start.isoformat(), "declarations": w.declarations, "mean_score": w.mean_score, "psi": w.psi, "level": w.level}

        def inspection(w: InspectionWeek) -> dict[str, Any]:
            return {
                "week": w.week,
                "start": w.start.isoformat(),
                "lane": w.lane,
                "inspected": w.inspected,
                "frauds": w.frauds,
                "precision": w.precision,
                "extra_duty": str(w.extra_duty),
                "currency": w.currency,
            }

        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "thresholds": {"watch": WATCH, "serious": SERIOUS},
            "scores": [score(w) for w in self.scores],
            "overall": score(self.overall) if self.overall else None,
            "inspections": [inspection(w) for w in self.inspections],
            "by_lane": [inspection(w) for w in self.by_lane],
        }


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _iso(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _score_week(monday: date, week: str, scores: list[float], quantiles: Sequence[float] | None, min_scores: int) -> ScoreWeek:
    value = None
    if quantiles is not None and len(scores) >= min_scores:
        value = psi_against(scores, quantiles)
    return ScoreWeek(
        week=week,
        start=monday,
        declarations=len(scores),
        mean_score=float(np.mean(scores)) if scores else None,
        psi=value,
        level=level(value),
    )


def drift_report(
    conn: Connection,
    quantiles: Sequence[float] | None,
    *,
    weeks: int = 8,
    today: date | None = None,
    min_scores: int = 50,
    assessor_prefix: str | None = None,
) -> DriftReport:
    """The drift report of the last ``weeks`` ISO weeks up to ``today`` (its week included).

    ``quantiles``: the model's training score quantiles (None: no score shift is computed).
    ``assessor_prefix``: keep only declarations whose ``assessor`` starts with it (e.g. the
    learned engine's name), when the node ran other assessors in the window.
    """
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    today = today or datetime.now(timezone.utc).date()
    first_monday = _monday(today) - timedelta(weeks=weeks - 1)
    start, end = _start_of(first_monday), _start_of(_monday(today) + timedelta(weeks=1))
    mondays = [first_monday + timedelta(weeks=i) for i in range(weeks)]

    # (a) scores of the declarations lodged in the window, by week of lodging.
    query = select(declarations.c.lodged_at, declarations.c.score, declarations.c.assessor).where(
        declarations.c.lodged_at >= start, declarations.c.lodged_at < end
    )
    by_week: dict[date, list[float]] = defaultdict(list)
    for lodged_at, score, assessor in conn.execute(query):
        if assessor_prefix and not str(assessor).startswith(assessor_prefix):
            continue
        by_week[_monday(lodged_at.astimezone(timezone.utc).date())].append(float(score))
    score_weeks = tuple(_score_week(m, _iso(m), by_week.get(m, []), quantiles, min_scores) for m in mondays)
    everything = [s for m in mondays for s in by_week.get(m, [])]
    overall = _score_week(first_monday, f"{_iso(first_monday)}..{_iso(mondays[-1])}", everything, quantiles, min_scores)

    # (b) the controls recorded in the window, by week of the control and lane.
    query = (
        select(declaration_events.c.at, declaration_events.c.data, declaration_events.c.declaration_id, declarations.c.lane, declarations.c.currency)
        .join(declarations, declarations.c.id == declaration_events.c.declaration_id)
        .where(declaration_events.c.kind == "inspected", declaration_events.c.at >= start, declaration_events.c.at < end)
        .order_by(declaration_events.c.declaration_id, declaration_events.c.at, declaration_events.c.id)
    )
    latest: dict[int, tuple[date, dict[str, Any], str, str]] = {}
    for at, data, declaration_id, lane, currency in conn.execute(query):
        latest[declaration_id] = (_monday(at.astimezone(timezone.utc).date()), data or {}, lane, currency)  # the latest control counts
    counts: dict[tuple[date, str | None], list[Any]] = {}
    currencies: set[str] = set()
    for monday, data, lane, currency in latest.values():
        currencies.add(currency)
        fraud = bool(data.get("fraud_found"))
        extra = Decimal(str(data.get("extra_duty") or "0"))
        for key in ((monday, None), (monday, lane)):
            entry = counts.setdefault(key, [0, 0, Decimal(0)])
            entry[0] += 1
            entry[1] += int(fraud)
            entry[2] += extra
    currency = next(iter(currencies)) if len(currencies) == 1 else None

    def week_row(monday: date, lane: str | None) -> InspectionWeek:
        inspected, frauds, extra = counts.get((monday, lane), [0, 0, Decimal(0)])
        return InspectionWeek(_iso(monday), monday, lane, inspected, frauds, extra, currency)

    lanes = sorted({lane for (_, lane) in counts if lane is not None}, key=lambda lane: (_LANE_ORDER.get(lane, len(_LANE_ORDER)), lane))
    inspections = tuple(week_row(m, None) for m in mondays)
    by_lane = tuple(week_row(m, lane) for m in mondays for lane in lanes if (m, lane) in counts)
    return DriftReport(first_monday, mondays[-1] + timedelta(days=6), score_weeks, overall, inspections, by_lane)
