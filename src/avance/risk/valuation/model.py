"""What a line's goods usually cost: unit values, their statistics, and the reference an item is
compared with. Pure: no store, no clock but the build time, so that the same references can be
built from the node's history (``service``), from the demo's generated history or from an
external extract, and looked up at every lodging without I/O.

* **Unit value** of a goods item: its customs value (national currency) divided by its quantity.
  The quantity is the supplementary quantity in its unit (UN/ECE Rec. 20) when one is declared
  with a unit and is above zero, else the net mass in kg (unit ``KGM``). Items without a usable
  quantity or value are skipped.
* **Statistics** are computed in log space (unit values are log-normal, and a ratio is what an
  analyst reads) per HS6 x origin x unit, per HS6 x unit and per HS4 x unit: count, median,
  MAD (scaled by 1.4826), 10th, 25th, 75th and 90th percentiles, exported as unit values.
* **Lookup**: an override in force wins; else the most specific level with at least
  ``min_count`` observations (HS6 x origin, then HS6, then HS4).

``ValuationIndex`` holds everything in memory: ``reference`` is a few dictionary lookups, so
that it can run at every lodging.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, NamedTuple

import numpy as np

from avance.kit.errors import Issue, ValidationFailed

OVERRIDE = "override"
HS6_ORIGIN = "hs6_origin"
HS6 = "hs6"
HS4 = "hs4"
LEVELS: tuple[str, ...] = (HS6_ORIGIN, HS6, HS4)
"""Statistical levels, most specific first: the fallback order."""

KGM = "KGM"
DEFAULT_MIN_COUNT = 10
DEFAULT_K = 3.0
DEFAULT_FLOOR_Q10 = False  # flooring at q10 flagged a tenth of honest trade in the demo (see docs/valuation.md)
"""Floor the robust lower bound at the 10th percentile (see docs/valuation.md for its effect)."""
MAD_SCALE = 1.4826
"""Makes the MAD of normal data estimate its standard deviation."""
PROBABILITIES = (0.10, 0.25, 0.50, 0.75, 0.90)
SMALLEST_UNIT_VALUE = 1e-6
LARGEST_UNIT_VALUE = 1e17
"""Unit values outside this range are data errors (they also do not fit the store's decimals)."""
UNIT_VALUE_QUANTUM = Decimal("0.000001")
"""Unit values are kept to six decimals at most (the store's decimals)."""
_ONE = Decimal(1)


# --- unit values ------------------------------------------------------------------------------


def measure(net_mass: Any, supplementary_quantity: Any = None, supplementary_unit: str | None = None) -> tuple[Decimal, str] | None:
    """The quantity of an item and its unit: the supplementary quantity when declared above zero
    with a unit, else the net mass in kg (``KGM``); None when neither is above zero."""
    quantity = _positive(supplementary_quantity)
    if quantity is not None and supplementary_unit:
        return quantity, supplementary_unit
    mass = _positive(net_mass)
    if mass is not None:
        return mass, KGM
    return None


def _positive(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number > 0 else None


class ValueRow(NamedTuple):
    """One goods item of the history: what ``build_from_rows`` needs."""

    hs_code: str
    origin: str
    unit: str
    quantity: Any  # Decimal, float, int or text; zero, missing or negative rows are skipped
    value: Any  # customs value in national currency
    date: date | None = None


# --- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stats:
    """Unit-value statistics of one group (unit values in national currency per unit)."""

    level: str
    hs: str
    origin: str | None
    unit: str
    n: int
    median: Decimal
    q10: Decimal
    q25: Decimal
    q75: Decimal
    q90: Decimal
    mad_log: float

    @property
    def key(self) -> tuple[str, str, str | None, str]:
        return (self.level, self.hs, self.origin, self.unit)

    def bounds(self, k: float, floor_q10: bool) -> tuple[Decimal, Decimal]:
        """Robust lower and upper bounds: exp(median_log -/+ k * MAD), the lower one floored at the
        10th percentile and the upper one capped at the 90th when ``floor_q10``."""
        centre = math.log(float(self.median))
        low = _unit_value(math.exp(centre - k * self.mad_log))
        high = _unit_value(math.exp(min(centre + k * self.mad_log, 700.0)))
        if floor_q10:
            low = max(low, self.q10)
            high = min(high, self.q90)
        return min(low, self.median), max(high, self.median)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "hs": self.hs,
            "origin": self.origin,
            "unit": self.unit,
            "n": self.n,
            "median": plain(self.median),
            "q10": plain(self.q10),
            "q25": plain(self.q25),
            "q75": plain(self.q75),
            "q90": plain(self.q90),
            "mad_log": round(self.mad_log, 6),
        }


def _unit_value(x: float) -> Decimal:
    """A float unit value as an exact decimal: 6 significant digits, at most 6 decimals."""
    if not math.isfinite(x) or x <= 0:
        return Decimal(0)
    x = min(x, LARGEST_UNIT_VALUE)
    d = Decimal(f"{x:.6g}")
    exponent = d.as_tuple().exponent
    if exponent > 0:  # type: ignore[operator]
        return d.quantize(_ONE)
    if exponent < -6:  # type: ignore[operator]
        return d.quantize(UNIT_VALUE_QUANTUM, rounding=ROUND_HALF_UP)
    return d


def plain(value: Decimal | None) -> str | None:
    """A decimal in plain notation without trailing zeros: ``4800``, ``0.25``."""
    if value is None:
        return None
    return format(value.normalize(), "f")


def _grouped_quantiles(groups: np.ndarray, values: np.ndarray, count: int, probabilities: Sequence[float]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per group: its size and the quantiles of its values (linear interpolation, as numpy's
    default), all groups at once: one sort, then index arithmetic."""
    order = np.lexsort((values, groups))
    ordered = values[order]
    sizes = np.bincount(groups, minlength=count)
    starts = np.zeros(count, dtype=np.int64)
    if count > 1:
        starts[1:] = np.cumsum(sizes)[:-1]
    quantiles = []
    for p in probabilities:
        position = starts + p * (sizes - 1)
        below = np.floor(position).astype(np.int64)
        above = np.ceil(position).astype(np.int64)
        fraction = position - below
        quantiles.append(ordered[below] + (ordered[above] - ordered[below]) * fraction)
    return sizes, quantiles


def _level_stats(level: str, keys: np.ndarray, logs: np.ndarray) -> list[Stats]:
    if len(keys) == 0:
        return []
    uniques, groups = np.unique(keys, return_inverse=True)
    groups = groups.reshape(-1)
    sizes, (q10, q25, q50, q75, q90) = _grouped_quantiles(groups, logs, len(uniques), PROBABILITIES)
    deviations = np.abs(logs - q50[groups])
    _, (mad,) = _grouped_quantiles(groups, deviations, len(uniques), (0.5,))
    mad = mad * MAD_SCALE
    found = []
    for i, key in enumerate(uniques.tolist()):
        hs, origin, unit = key.split("\x1f")
        median = _unit_value(math.exp(q50[i]))
        if median <= 0:
            continue
        found.append(
            Stats(
                level=level,
                hs=hs,
                origin=origin or None,
                unit=unit,
                n=int(sizes[i]),
                median=median,
                q10=_unit_value(math.exp(q10[i])),
                q25=_unit_value(math.exp(q25[i])),
                q75=_unit_value(math.exp(q75[i])),
                q90=_unit_value(math.exp(q90[i])),
                mad_log=float(mad[i]),
            )
        )
    return found


@dataclass(frozen=True)
class BuildInfo:
    """What went into a snapshot."""

    built_at: datetime
    since: date | None
    until: date | None
    items_used: int = 0
    items_skipped: int = 0  # no usable quantity or value
    declarations_excluded: int = 0  # fraud found on inspection, or rejected


def unit_value_statistics(rows: Iterable[ValueRow], since: date | None, until: date | None) -> tuple[list[Stats], int, int]:
    """Statistics of every level from ``rows`` dated within ``since``..``until`` (either may be
    None); also how many rows were used and how many skipped (no usable quantity, value, HS code,
    unit or date)."""
    hs6_keys: list[str] = []
    hs6_origin_keys: list[str] = []
    hs6_logs: list[float] = []
    hs4_keys: list[str] = []
    hs4_logs: list[float] = []
    skipped = 0
    for row in rows:
        hs_code, origin, unit, quantity, value, when = row
        if since is not None or until is not None:
            when = _as_date(when)
            if when is None:
                skipped += 1
                continue
            if (since is not None and when < since) or (until is not None and when > until):
                continue
        try:
            q = float(quantity)
            v = float(value)
        except (TypeError, ValueError, ArithmeticError):
            skipped += 1
            continue
        if not (math.isfinite(q) and math.isfinite(v) and q > 0 and v > 0):
            skipped += 1
            continue
        unit_value = v / q
        hs_code = str(hs_code or "")
        if not (SMALLEST_UNIT_VALUE <= unit_value <= LARGEST_UNIT_VALUE) or not hs_code[:4].isdigit() or len(hs_code) < 4 or not unit:
            skipped += 1
            continue
        logged = math.log(unit_value)
        unit = str(unit)
        hs4_keys.append(f"{hs_code[:4]}\x1f\x1f{unit}")
        hs4_logs.append(logged)
        if len(hs_code) >= 6 and hs_code[:6].isdigit():
            hs6_keys.append(f"{hs_code[:6]}\x1f\x1f{unit}")
            hs6_origin_keys.append(f"{hs_code[:6]}\x1f{origin}\x1f{unit}" if origin else "")
            hs6_logs.append(logged)
    hs6_array = np.asarray(hs6_logs, dtype=np.float64)
    with_origin = np.asarray([bool(k) for k in hs6_origin_keys], dtype=bool)
    stats = _level_stats(HS6_ORIGIN, np.asarray(hs6_origin_keys, dtype=str)[with_origin], hs6_array[with_origin])
    stats += _level_stats(HS6, np.asarray(hs6_keys, dtype=str), hs6_array)
    stats += _level_stats(HS4, np.asarray(hs4_keys, dtype=str), np.asarray(hs4_logs, dtype=np.float64))
    return stats, len(hs4_logs), skipped


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value is not None else None
    except ValueError:
        return None


def check_settings(min_count: int, k: float) -> None:
    """Refuse build settings that would make no sense (ValidationFailed with every issue)."""
    issues = []
    if not isinstance(min_count, int) or not 1 <= min_count <= 1_000_000:
        issues.append(Issue("/min_count", "valuation.min_count", {"value": min_count}))
    if not isinstance(k, (int, float)) or not math.isfinite(k) or not 0 < k <= 20:
        issues.append(Issue("/k", "valuation.k", {"value": k}))
    if issues:
        raise ValidationFailed(issues)


def build_from_rows(
    rows: Iterable[ValueRow | Sequence[Any]],
    *,
    since: date | None = None,
    until: date | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
    k: float = DEFAULT_K,
    floor_q10: bool = DEFAULT_FLOOR_Q10,
    currency: str | None = None,
) -> ValuationIndex:
    """References from history rows (hs_code, origin, unit, quantity, value, date); rows dated
    outside ``since``..``until`` are left out. No store needed: also for external extracts."""
    check_settings(min_count, k)
    stats, used, skipped = unit_value_statistics((ValueRow(*r) for r in rows), since, until)
    info = BuildInfo(datetime.now(timezone.utc), since, until, used, skipped)
    return ValuationIndex(stats, (), min_count=min_count, k=k, floor_q10=floor_q10, currency=currency, info=info)


# --- overrides (the value-control file) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Override:
    """An analyst's bounds on the unit value of a line (national currency per unit)."""

    hs_prefix: str
    origin: str | None = None
    unit: str | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    note: str | None = None
    author: str = ""
    id: int | None = None
    updated_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str | None, str | None, date | None]:
        """Setting an override with the same key replaces it."""
        return (self.hs_prefix, self.origin, self.unit, self.valid_from)

    def in_force(self, on: date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (self.valid_to is None or on <= self.valid_to)

    def applies(self, hs_code: str, origin: str, unit: str) -> bool:
        return hs_code.startswith(self.hs_prefix) and self.origin in (None, origin) and self.unit in (None, unit)

    def specificity(self) -> tuple[int, bool, bool, date]:
        """The most specific override wins: longest prefix, then origin given, then unit given,
        then the latest start."""
        return (len(self.hs_prefix), self.origin is not None, self.unit is not None, self.valid_from or date.min)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hs": self.hs_prefix,
            "origin": self.origin,
            "unit": self.unit,
            "min": plain(self.minimum),
            "max": plain(self.maximum),
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "note": self.note,
            "author": self.author,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


# --- the index --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reference:
    """The reference an item's unit value is compared with (national currency per ``unit``).

    ``low`` is the threshold below which the item is flagged; ``high`` is, for an override, the
    maximum above which it is flagged, and for a statistical level the robust upper bound (shown,
    never flagged). ``sufficient`` is False when no level had ``min_count`` observations: the
    reference is shown but not used to flag. An override's ``basis`` is the statistical
    reference behind its median, if any.
    """

    level: str
    hs: str
    origin: str | None
    unit: str
    n: int
    median: Decimal
    low: Decimal | None
    high: Decimal | None
    sufficient: bool = True
    basis: Reference | None = None
    override: Override | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "hs": self.hs,
            "origin": self.origin,
            "unit": self.unit,
            "n": self.n,
            "median": plain(self.median),
            "low": plain(self.low),
            "high": plain(self.high),
            "sufficient": self.sufficient,
            "basis": self.basis.to_dict() if self.basis is not None else None,
            "override": self.override.to_dict() if self.override is not None else None,
        }


class ValuationIndex:
    """Statistics and overrides in memory; ``reference`` is a handful of dictionary lookups.
    The node loads it from its store with ``service.load_index``."""

    def __init__(
        self,
        stats: Iterable[Stats] = (),
        overrides: Iterable[Override] = (),
        *,
        min_count: int = DEFAULT_MIN_COUNT,
        k: float = DEFAULT_K,
        floor_q10: bool = DEFAULT_FLOOR_Q10,
        currency: str | None = None,
        info: BuildInfo | None = None,
    ) -> None:
        self.min_count = min_count
        self.k = k
        self.floor_q10 = floor_q10
        self.currency = currency
        self.info = info
        self._stats: dict[tuple[str, str, str | None, str], Stats] = {}
        self._refs: dict[tuple[str, str, str | None, str], Reference] = {}
        for s in stats:
            self._stats[s.key] = s
            low, high = s.bounds(k, floor_q10)
            self._refs[s.key] = Reference(s.level, s.hs, s.origin, s.unit, s.n, s.median, low, high, s.n >= min_count)
        self._overrides: dict[str, list[Override]] = {}
        for o in overrides:
            self._overrides.setdefault(o.hs_prefix, []).append(o)

    @classmethod
    def empty(cls) -> ValuationIndex:
        return cls()

    def with_overrides(self, overrides: Iterable[Override]) -> ValuationIndex:
        """The same statistics with another value-control file."""
        return ValuationIndex(self._stats.values(), overrides, min_count=self.min_count, k=self.k, floor_q10=self.floor_q10, currency=self.currency, info=self.info)

    def statistics(self) -> list[Stats]:
        return list(self._stats.values())

    def overrides(self) -> list[Override]:
        return [o for same in self._overrides.values() for o in same]

    def __len__(self) -> int:
        return len(self._stats)

    def counts(self) -> dict[str, int]:
        """References per level (all of them, sparse ones included)."""
        counts = dict.fromkeys(LEVELS, 0)
        for level, *_ in self._stats:
            counts[level] += 1
        return counts

    def usable_counts(self) -> dict[str, int]:
        """References per level with at least ``min_count`` observations."""
        counts = dict.fromkeys(LEVELS, 0)
        for key, s in self._stats.items():
            if s.n >= self.min_count:
                counts[key[0]] += 1
        return counts

    def stats(self, level: str, hs: str, origin: str | None, unit: str) -> Stats | None:
        return self._stats.get((level, hs, origin, unit))

    def candidates(self, hs_code: str, origin: str | None, unit: str) -> list[Reference]:
        """The statistical references of every level for this line, most specific first."""
        keys = []
        if len(hs_code) >= 6:
            if origin:
                keys.append((HS6_ORIGIN, hs_code[:6], origin, unit))
            keys.append((HS6, hs_code[:6], None, unit))
        keys.append((HS4, hs_code[:4], None, unit))
        return [self._refs[key] for key in keys if key in self._refs]

    def statistical(self, hs_code: str, origin: str | None, unit: str) -> Reference | None:
        """The most specific level with enough observations; else the most specific level
        with any (marked not sufficient); else None."""
        refs = self._refs
        sparse = None
        if len(hs_code) >= 6:
            hs6 = hs_code[:6]
            if origin:
                ref = refs.get((HS6_ORIGIN, hs6, origin, unit))
                if ref is not None:
                    if ref.sufficient:
                        return ref
                    sparse = ref
            ref = refs.get((HS6, hs6, None, unit))
            if ref is not None:
                if ref.sufficient:
                    return ref
                sparse = sparse or ref
        ref = refs.get((HS4, hs_code[:4], None, unit))
        if ref is not None:
            if ref.sufficient:
                return ref
            sparse = sparse or ref
        return sparse

    def override_for(self, hs_code: str, origin: str | None, unit: str, on: date) -> Override | None:
        """The most specific override in force on ``on`` that covers the line."""
        if not self._overrides:
            return None
        best = None
        for length in range(min(len(hs_code), 10), 3, -1):
            for o in self._overrides.get(hs_code[:length], ()):
                if o.origin in (None, origin) and o.unit in (None, unit) and o.in_force(on):
                    if best is None or o.specificity() > best.specificity():
                        best = o
        return best

    def reference(self, hs_code: str, origin: str, unit: str, on: date) -> Reference | None:
        """The reference a goods item is compared with: an override in force, else statistics."""
        stat = self.statistical(hs_code, origin, unit)
        o = self.override_for(hs_code, origin, unit, on)
        if o is None:
            return stat
        basis = stat if stat is not None and stat.sufficient else None
        median = basis.median if basis is not None else (o.minimum if o.minimum is not None else o.maximum)
        assert median is not None  # an override has a minimum or a maximum
        if o.minimum is not None:
            median = max(median, o.minimum)
        if o.maximum is not None:
            median = min(median, o.maximum)
        low = o.minimum if o.minimum is not None else (basis.low if basis is not None else None)
        return Reference(OVERRIDE, o.hs_prefix, o.origin, unit, basis.n if basis else 0, median, low, o.maximum, True, basis, o)
