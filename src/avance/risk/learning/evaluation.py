"""How well a targeting model would have done: metrics at inspection budgets, time splits, and a
week-by-week simulation in which labels come only from what was inspected.

Everything here is pure (numpy and pandas, no I/O): the command line (``evaluation_cli``) reads
the data, fits the models and prints what these functions compute.

Conventions
-----------
- A *score* ranks rows: higher means inspect first. Ties are broken by input order (the earlier
  row first), so results are reproducible.
- An inspection *rate* r of n units inspects k = ceil(r * n) of them, computed exactly in decimal
  (10% of 30 is 3, not 4).
- The *oracle* inspects, with the same k, the k units it knows to be fraudulent (or the k that
  hide the most revenue): it catches min(k, positives) frauds and the k largest revenues. Every
  figure is also given as a share of what the oracle reaches with the same budget.
- The *unit* of inspection is the declaration: rows (goods items) of one declaration are scored
  by their highest row score, labelled fraudulent if any row is, and their revenue is summed
  (``per_declaration``). On data with one row per declaration (KCS) the two are the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

from avance.kit.errors import AvanceError

DEFAULT_RATES: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10)


class EvaluationError(AvanceError):
    """The data cannot be evaluated as asked (empty period, no labels ...)."""

    status = 422
    code = "evaluation.error.generic"


# ---------------------------------------------------------------------------------------------
# Budgets and ranking


def budget(rate: float, n: int) -> int:
    """Units inspected at ``rate`` of ``n``: ceil(rate * n), exact in decimal, at most n."""
    if not 0 <= rate <= 1:
        raise ValueError(f"an inspection rate is between 0 and 1, not {rate}")
    if n <= 0:
        return 0
    return min(n, math.ceil(Decimal(str(rate)) * n))


def _share(part: float, n: int) -> int:
    """round(part * n), halves up, exact in decimal (the exploration share of a budget)."""
    return int((Decimal(str(part)) * n).to_integral_value(rounding=ROUND_HALF_UP))


def _as_scores(scores: Any) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    return np.where(np.isnan(s), -np.inf, s)  # a missing score ranks last


def ranking(scores: Any) -> np.ndarray:
    """Positions of the rows from highest to lowest score; ties keep input order."""
    s = _as_scores(scores)
    return np.argsort(-s, kind="stable")


def _labels(y: Any) -> np.ndarray:
    labels = np.asarray(y, dtype=float)
    if labels.ndim != 1 or not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("labels must be a 1-d array of 0 and 1")
    return labels.astype(np.int64)


def _revenue(revenue: Any, n: int) -> np.ndarray | None:
    if revenue is None:
        return None
    r = np.asarray(revenue, dtype=float)
    if r.shape != (n,) or not np.isfinite(r).all() or (r < 0).any():
        raise ValueError("revenue must be finite, zero or more, one value per label")
    return r


# ---------------------------------------------------------------------------------------------
# AUC


def auc(y: Any, scores: Any) -> float | None:
    """Area under the ROC curve by the Mann-Whitney statistic, ties counted one half.

    None when only one class is present (the AUC is undefined).
    """
    labels = _labels(y)
    s = _as_scores(scores)
    if s.shape != labels.shape:
        raise ValueError("one score per label")
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(s, kind="stable")
    ordered = s[order]
    # Average rank (1-based) of each group of tied scores.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    group_rank = (starts + 1 + ends) / 2.0
    ranks = np.empty(ordered.size)
    ranks[order] = np.repeat(group_rank, ends - starts)
    u = ranks[labels == 1].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


# ---------------------------------------------------------------------------------------------
# Metrics at inspection rates


@dataclass(frozen=True)
class AtRate:
    """What inspecting the top ``k`` (``rate`` of the units) catches, and what an oracle would."""

    rate: float
    k: int
    caught: int
    precision: float
    recall: float | None  # None when there is no fraud at all
    oracle_caught: int  # min(k, positives)
    oracle_precision: float  # min(1, positives / k)
    vs_oracle: float | None  # caught / oracle_caught: precision (and recall) as a share of the oracle's
    revenue: float | None = None
    revenue_recall: float | None = None
    oracle_revenue: float | None = None
    revenue_vs_oracle: float | None = None


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one scoring of ``n`` units, ``positives`` of them fraudulent."""

    n: int
    positives: int
    base_rate: float
    auc: float | None
    total_revenue: float | None
    at: tuple[AtRate, ...] = field(default_factory=tuple)

    def rate(self, rate: float) -> AtRate:
        for row in self.at:
            if math.isclose(row.rate, rate):
                return row
        raise KeyError(rate)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"at": [asdict(a) for a in self.at]}


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b else None


def evaluate(y: Any, scores: Any, revenue: Any = None, rates: Sequence[float] = DEFAULT_RATES) -> Evaluation:
    """Precision, recall and revenue of inspecting the top of ``scores`` at each of ``rates``.

    ``y`` holds 0/1 labels, ``revenue`` (optional, >= 0) what inspecting each unit recovers.
    """
    labels = _labels(y)
    s = _as_scores(scores)
    if s.shape != labels.shape:
        raise ValueError("one score per label")
    n = labels.size
    r = _revenue(revenue, n)
    positives = int(labels.sum())
    order = ranking(s)
    caught_cum = np.cumsum(labels[order])
    if r is not None:
        revenue_cum = np.cumsum(r[order])
        oracle_cum = np.cumsum(np.sort(r)[::-1])
        total_revenue = float(r.sum())
    rows = []
    for rate in rates:
        k = budget(rate, n)
        caught = int(caught_cum[k - 1]) if k else 0
        oracle_caught = min(k, positives)
        row = AtRate(
            rate=float(rate),
            k=k,
            caught=caught,
            precision=caught / k if k else 0.0,
            recall=_ratio(caught, positives),
            oracle_caught=oracle_caught,
            oracle_precision=min(1.0, positives / k) if k else 0.0,
            vs_oracle=_ratio(caught, oracle_caught),
        )
        if r is not None:
            caught_revenue = float(revenue_cum[k - 1]) if k else 0.0
            oracle_revenue = float(oracle_cum[k - 1]) if k else 0.0
            row = AtRate(
                **{
                    **asdict(row),
                    "revenue": caught_revenue,
                    "revenue_recall": _ratio(caught_revenue, total_revenue),
                    "oracle_revenue": oracle_revenue,
                    "revenue_vs_oracle": _ratio(caught_revenue, oracle_revenue),
                }
            )
        rows.append(row)
    return Evaluation(
        n=n,
        positives=positives,
        base_rate=positives / n if n else 0.0,
        auc=auc(labels, s),
        total_revenue=total_revenue if r is not None else None,
        at=tuple(rows),
    )


@dataclass(frozen=True)
class Units:
    """Inspection units (declarations) with their label, score and revenue, in first-seen order."""

    keys: np.ndarray
    y: np.ndarray
    scores: np.ndarray
    revenue: np.ndarray | None


def per_declaration(declaration: Any, y: Any, scores: Any, revenue: Any = None) -> Units:
    """Rows grouped into declarations: the highest row score, fraud if any row is, revenue summed."""
    data = {"key": np.asarray(declaration).astype(str), "y": _labels(y), "s": _as_scores(scores)}
    if revenue is not None:
        data["r"] = _revenue(revenue, data["y"].size)
    frame = pd.DataFrame(data)
    grouped = frame.groupby("key", sort=False)
    agg = grouped.agg(y=("y", "max"), s=("s", "max"), **({"r": ("r", "sum")} if revenue is not None else {}))
    return Units(
        keys=agg.index.to_numpy(),
        y=agg["y"].to_numpy(dtype=np.int64),
        scores=agg["s"].to_numpy(dtype=float),
        revenue=agg["r"].to_numpy(dtype=float) if revenue is not None else None,
    )


def evaluate_frame(frame: pd.DataFrame, scores: Any, rates: Sequence[float] = DEFAULT_RATES) -> Evaluation:
    """``evaluate`` on a canonical risk frame (labels ``fraud``, optional ``recovered``), per declaration."""
    if "fraud" not in frame.columns or frame["fraud"].isna().any():
        raise EvaluationError("evaluation.error.no_labels")
    revenue = None
    if "recovered" in frame.columns and frame["recovered"].notna().any():
        revenue = frame["recovered"].fillna(0.0).clip(lower=0.0).to_numpy(dtype=float)
    units = per_declaration(frame["declaration"].to_numpy(), frame["fraud"].to_numpy(), scores, revenue)
    return evaluate(units.y, units.scores, units.revenue, rates)


# ---------------------------------------------------------------------------------------------
# Time splits


def fraction_cutoff(dates: Any, fraction: float) -> date:
    """First day of the latest ``fraction`` of the rows in time order (a day is never split).

    The cut falls on the date of the row at position floor((1 - fraction) * n) in time order: all
    rows of that day and later are the later period.
    """
    if not 0 < fraction < 1:
        raise EvaluationError("evaluation.error.fraction", fraction=fraction)
    days = np.sort(pd.to_datetime(pd.Series(dates)).dt.normalize().to_numpy())
    if days.size == 0:
        raise EvaluationError("evaluation.error.empty")
    position = min(days.size - 1, int(math.floor((1 - fraction) * days.size)))
    return pd.Timestamp(days[position]).date()


def split_by_time(frame: pd.DataFrame, test_from: date | None = None, *, fraction: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows before ``test_from`` (the past, to fit on) and from it on (to evaluate).

    Give ``test_from``, or ``fraction`` to evaluate on the latest share of the rows (see
    ``fraction_cutoff``). Both parts must hold rows.
    """
    if (test_from is None) == (fraction is None):
        raise ValueError("give test_from or fraction, not both")
    if test_from is None:
        test_from = fraction_cutoff(frame["date"], fraction)  # type: ignore[arg-type]
    later = frame["date"] >= pd.Timestamp(test_from)
    past, recent = frame.loc[~later], frame.loc[later]
    if past.empty or recent.empty:
        first, last = _window(frame)
        raise EvaluationError("evaluation.error.empty_split", cutoff=test_from.isoformat(), first=first, last=last)
    return past, recent


def _window(frame: pd.DataFrame) -> tuple[str, str]:
    if frame.empty:
        return "-", "-"
    return pd.Timestamp(frame["date"].min()).date().isoformat(), pd.Timestamp(frame["date"].max()).date().isoformat()


def window(frame: pd.DataFrame) -> dict[str, str]:
    """First and last date of a frame, ISO strings."""
    first, last = _window(frame)
    return {"from": first, "to": last}


# ---------------------------------------------------------------------------------------------
# Weekly simulation

Scorer = Callable[[pd.DataFrame], np.ndarray]
"""Scores rows of a frame (higher = inspect first)."""
Fitter = Callable[[pd.DataFrame], Scorer]
"""Fits on a labelled frame and returns its scorer."""


@dataclass(frozen=True)
class SimulationOptions:
    """``budget``: share of each week's declarations inspected; ``exploration``: share of that
    budget drawn at random among the declarations the model did not put on top; the model is
    refitted every ``retrain_every`` weeks on the initial data plus the labels revealed so far."""

    budget: float = 0.05
    exploration: float = 0.10
    retrain_every: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.budget <= 1:
            raise EvaluationError("evaluation.error.budget", value=self.budget)
        if not 0 <= self.exploration <= 1:
            raise EvaluationError("evaluation.error.exploration", value=self.exploration)
        if self.retrain_every < 1:
            raise EvaluationError("evaluation.error.retrain_every", value=self.retrain_every)


@dataclass(frozen=True)
class WeekResult:
    """One week of the simulation. Counts are declarations (inspection units)."""

    week: str  # ISO week, e.g. 2021-W03
    start: date  # its Monday
    declarations: int
    inspected: int
    explored: int  # of the inspected, drawn at random
    caught: int  # frauds among the inspected
    caught_explored: int
    frauds: int  # all frauds of the week (known to the simulation, not to the model)
    revenue: float | None  # revenue recovered by the inspections
    oracle_revenue: float | None  # the most an oracle recovers with the same number of inspections
    training_rows: int  # rows the model that scored this week was fitted on
    revealed_rows: int  # of those, rows whose labels were revealed by earlier inspections
    inspected_keys: tuple[str, ...] = ()  # the declarations inspected: top scores first, then the random draws

    @property
    def precision(self) -> float | None:
        return _ratio(self.caught, self.inspected)

    @property
    def recall(self) -> float | None:
        return _ratio(self.caught, self.frauds)

    @property
    def vs_oracle(self) -> float | None:
        return _ratio(self.caught, min(self.inspected, self.frauds))


@dataclass(frozen=True)
class SimulationResult:
    options: SimulationOptions
    initial_rows: int
    weeks: tuple[WeekResult, ...]

    @property
    def inspected(self) -> int:
        return sum(w.inspected for w in self.weeks)

    @property
    def caught(self) -> int:
        return sum(w.caught for w in self.weeks)

    @property
    def frauds(self) -> int:
        return sum(w.frauds for w in self.weeks)

    @property
    def precision(self) -> float | None:
        return _ratio(self.caught, self.inspected)

    @property
    def recall(self) -> float | None:
        return _ratio(self.caught, self.frauds)

    @property
    def vs_oracle(self) -> float | None:
        return _ratio(self.caught, sum(min(w.inspected, w.frauds) for w in self.weeks))

    @property
    def revenue(self) -> float | None:
        values = [w.revenue for w in self.weeks]
        return None if not values or values[0] is None else float(sum(values))  # type: ignore[arg-type]

    @property
    def oracle_revenue(self) -> float | None:
        values = [w.oracle_revenue for w in self.weeks]
        return None if not values or values[0] is None else float(sum(values))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        weeks = []
        for w in self.weeks:
            row = asdict(w)
            row["start"] = w.start.isoformat()
            row.update(precision=w.precision, recall=w.recall, vs_oracle=w.vs_oracle)
            weeks.append(row)
        return {
            "options": asdict(self.options),
            "initial_rows": self.initial_rows,
            "total": {
                "inspected": self.inspected,
                "caught": self.caught,
                "frauds": self.frauds,
                "precision": self.precision,
                "recall": self.recall,
                "vs_oracle": self.vs_oracle,
                "revenue": self.revenue,
                "oracle_revenue": self.oracle_revenue,
                "revenue_vs_oracle": _ratio(self.revenue or 0.0, self.oracle_revenue or 0.0) if self.revenue is not None else None,
            },
            "weeks": weeks,
        }


def week_start(dates: pd.Series) -> pd.Series:
    """The Monday of each date's ISO week."""
    days = pd.to_datetime(dates).dt.normalize()
    return days - pd.to_timedelta(days.dt.day_of_week, unit="D")


def iso_week(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def simulate(frame: pd.DataFrame, test_from: date, fit: Fitter, options: SimulationOptions = SimulationOptions()) -> SimulationResult:
    """Walk week by week through the rows from ``test_from`` on, as a control service would.

    The model is first fitted on every row before ``test_from`` (the initial, fully labelled
    period). Each week, its declarations are scored by the current model; the budget is spent
    on the top-scored declarations and, for the exploration share, on declarations drawn at
    random (seeded) among the rest. Only the inspected declarations' rows, labels included,
    join the training data: the refit every ``retrain_every`` weeks sees the initial rows and
    those, never the labels of a declaration that was not inspected.
    """
    if "fraud" not in frame.columns or frame["fraud"].isna().any():
        raise EvaluationError("evaluation.error.no_labels")
    initial, later = split_by_time(frame, test_from)
    has_revenue = "recovered" in frame.columns and frame["recovered"].notna().any()
    rng = np.random.default_rng(options.seed)
    mondays = week_start(later["date"])
    revealed: list[pd.DataFrame] = []
    revealed_rows = 0
    scorer = fit(initial)
    training_rows = len(initial)
    weeks: list[WeekResult] = []
    groups = list(later.groupby(mondays.to_numpy(), sort=True))
    for index, (monday, rows) in enumerate(groups):
        scores = np.asarray(scorer(rows), dtype=float)
        revenue = rows["recovered"].fillna(0.0).clip(lower=0.0).to_numpy(dtype=float) if has_revenue else None
        units = per_declaration(rows["declaration"].to_numpy(), rows["fraud"].to_numpy(), scores, revenue)
        n = units.y.size
        k = budget(options.budget, n)
        explore = _share(options.exploration, k)  # the rest (n - top) always holds that many
        top = k - explore
        order = ranking(units.scores)
        chosen_top = order[:top]
        rest = order[top:]
        chosen_explore = np.sort(rng.choice(rest, size=explore, replace=False)) if explore else np.empty(0, dtype=np.int64)
        inspected = np.concatenate([chosen_top, chosen_explore]).astype(np.int64)
        caught = int(units.y[inspected].sum())
        caught_explored = int(units.y[chosen_explore].sum()) if explore else 0
        week_revenue = oracle_revenue = None
        if units.revenue is not None:
            week_revenue = float(units.revenue[inspected].sum())
            oracle_revenue = float(np.sort(units.revenue)[::-1][: inspected.size].sum())
        weeks.append(
            WeekResult(
                week=iso_week(pd.Timestamp(monday).date()),
                start=pd.Timestamp(monday).date(),
                declarations=n,
                inspected=int(inspected.size),
                explored=int(explore),
                caught=caught,
                caught_explored=caught_explored,
                frauds=int(units.y.sum()),
                revenue=week_revenue,
                oracle_revenue=oracle_revenue,
                training_rows=training_rows,
                revealed_rows=revealed_rows,
                inspected_keys=tuple(str(key) for key in units.keys[inspected]),
            )
        )
        # Labels are revealed for the inspected declarations only.
        revealed.append(rows.loc[rows["declaration"].astype(str).isin(set(weeks[-1].inspected_keys))])
        revealed_rows += len(revealed[-1])
        last = index == len(groups) - 1
        if not last and (index + 1) % options.retrain_every == 0:
            training = pd.concat([initial, *revealed], ignore_index=True)
            scorer = fit(training)
            training_rows = len(training)
    return SimulationResult(options=options, initial_rows=len(initial), weeks=tuple(weeks))


def compare(results: Iterable[SimulationResult]) -> list[dict[str, Any]]:
    """One summary row per simulation (e.g. per exploration share), for side-by-side reading."""
    rows = []
    for result in results:
        rows.append(
            {
                "exploration": result.options.exploration,
                "inspected": result.inspected,
                "caught": result.caught,
                "frauds": result.frauds,
                "precision": result.precision,
                "recall": result.recall,
                "vs_oracle": result.vs_oracle,
                "revenue": result.revenue,
                "oracle_revenue": result.oracle_revenue,
            }
        )
    return rows
