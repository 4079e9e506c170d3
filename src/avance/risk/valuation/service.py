"""The valuation reference database: what a line's goods usually cost, and the value-control file.

ASYCUDA's value-control file is typed in by hand; here the references are built from the history
of lodged declarations, and analysts add minimum and maximum overrides per line.

* **Unit value** of a goods item: its customs value (national currency) divided by its quantity.
  The quantity is the supplementary quantity in its unit (UN/ECE Rec. 20) when one is declared
  with a unit and is above zero, else the net mass in kg (unit ``KGM``). Items without a usable
  quantity or value are skipped.
* **Statistics** are computed in log space (unit values are log-normal, and a ratio is what an
  analyst reads) per HS6 x origin x unit, per HS6 x unit and per HS4 x unit: count, median,
  MAD (scaled by 1.4826), 10th, 25th, 75th and 90th percentiles, exported as unit values.
  Declarations found fraudulent on inspection and rejected declarations are left out.
* **Lookup**: an override in force wins; else the most specific level with at least
  ``min_count`` observations (HS6 x origin, then HS6, then HS4).
* **Flag**: a declared unit value below the threshold (override minimum, else the robust lower
  bound ``exp(median_log - k * MAD)`` floored at the 10th percentile), or above an override
  maximum. The revenue at risk is the duties due at the reference median minus the duties
  declared, computed by the same calculator as the lodging.

``ValuationIndex`` holds everything in memory: ``reference`` is a few dictionary lookups, so
that it can run at every lodging.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select, update

from avance.kit.errors import Issue, NotFound, ValidationFailed
from avance.kit.i18n import LANGUAGES, t
from avance.kit.money import round_money
from avance.revenue.profiles import load_profile
from avance.store.node_settings import read_country
from avance.declarations.assessment import AssessmentInput, Reason
from avance.declarations.tables import declaration_events, declarations, goods_items
from avance.risk.valuation.tables import valuation_overrides, valuation_references

if TYPE_CHECKING:
    from avance.revenue.context import ReferenceContext

log = logging.getLogger("avance.risk.valuation.service")

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
MAX_NOTE = 500
_HS_PREFIX = re.compile(r"[0-9]{4,10}")
_UNIT = re.compile(r"[A-Z0-9]{1,3}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SIX_DECIMALS = Decimal("0.000001")
_ONE = Decimal(1)
_WIDE = Context(prec=60)
"""Enough digits for any ratio or unit value of declared amounts: quantize never overflows."""


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
        return d.quantize(_SIX_DECIMALS, rounding=ROUND_HALF_UP)
    return d


def plain(value: Decimal | None) -> str | None:
    """A decimal in plain notation without trailing zeros: ``4800``, ``0.25``."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return text


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


def _statistics(rows: Iterable[ValueRow], since: date | None, until: date | None) -> tuple[list[Stats], int, int]:
    """Statistics of every level from ``rows``; also how many rows were used and skipped."""
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


def build_from_rows(
    rows: Iterable[ValueRow | Sequence[Any]],
    *,
    since: date | None = None,
    until: date | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
    k: float = DEFAULT_K,
    floor_q10: bool = DEFAULT_FLOOR_Q10,
    currency: str | None = None,
) -> "ValuationIndex":
    """References from history rows (hs_code, origin, unit, quantity, value, date); rows dated
    outside ``since``..``until`` are left out. No store needed: also for external extracts."""
    _check_settings(min_count, k)
    stats, used, skipped = _statistics((ValueRow(*r) for r in rows), since, until)
    info = BuildInfo(datetime.now(timezone.utc), since, until, used, skipped)
    return ValuationIndex(stats, (), min_count=min_count, k=k, floor_q10=floor_q10, currency=currency, info=info)


def _check_settings(min_count: int, k: float) -> None:
    issues = []
    if not isinstance(min_count, int) or not 1 <= min_count <= 1_000_000:
        issues.append(Issue("/min_count", "valuation.min_count", {"value": min_count}))
    if not isinstance(k, (int, float)) or not math.isfinite(k) or not 0 < k <= 20:
        issues.append(Issue("/k", "valuation.k", {"value": k}))
    if issues:
        raise ValidationFailed(issues)


def excluded_declarations(conn: Connection) -> set[int]:
    """Declarations whose inspection found fraud: their values say nothing of honest prices."""
    rows = conn.execute(
        select(declaration_events.c.declaration_id, declaration_events.c.data).where(declaration_events.c.kind == "inspected")
    )
    return {int(r.declaration_id) for r in rows if isinstance(r.data, dict) and r.data.get("fraud_found") is True}


def history_rows(conn: Connection, *, since: date | None = None, until: date | None = None) -> tuple[list[ValueRow], int, int]:
    """Unit-value rows of the lodged goods items (fraud found and rejected declarations left out);
    also how many items had no usable quantity and how many declarations were left out."""
    conditions = [declarations.c.status != "rejected"]
    if since is not None:
        conditions.append(declarations.c.registration_date >= since)
    if until is not None:
        conditions.append(declarations.c.registration_date <= until)
    excluded = excluded_declarations(conn)
    # The supplementary unit is only in the lodged document: read it for the items that need it.
    with_units = select(goods_items.c.declaration_id).where(goods_items.c.supplementary_quantity.is_not(None))
    units: dict[tuple[int, int], str] = {}
    documents = conn.execute(select(declarations.c.id, declarations.c.document).where(declarations.c.id.in_(with_units), *conditions))
    for declaration_id, document in documents:
        for item in (document or {}).get("goods_items", ()):
            unit = item.get("supplementary_unit")
            if unit:
                units[(int(declaration_id), int(item.get("sequence", 0)))] = str(unit)
    window = conditions[1:]
    rejected = conn.execute(select(func.count()).select_from(declarations).where(declarations.c.status == "rejected", *window)).scalar_one()
    query = (
        select(
            goods_items.c.declaration_id,
            goods_items.c.sequence,
            goods_items.c.hs_code,
            goods_items.c.origin_country,
            goods_items.c.net_mass,
            goods_items.c.supplementary_quantity,
            goods_items.c.customs_value,
            declarations.c.registration_date,
        )
        .select_from(goods_items.join(declarations, goods_items.c.declaration_id == declarations.c.id))
        .where(*conditions)
    )
    rows: list[ValueRow] = []
    skipped = 0
    left_out: set[int] = set()
    for r in conn.execute(query):
        if r.declaration_id in excluded:
            left_out.add(r.declaration_id)
            continue
        found = measure(r.net_mass, r.supplementary_quantity, units.get((r.declaration_id, r.sequence)))
        if found is None:
            skipped += 1
            continue
        quantity, unit = found
        rows.append(ValueRow(r.hs_code, r.origin_country, unit, quantity, r.customs_value, r.registration_date))
    return rows, skipped, len(left_out) + int(rejected)


def _node_currency(conn: Connection) -> str | None:
    country = read_country(conn)
    return load_profile(country).currency if country else None


def build_from_store(
    conn: Connection,
    *,
    since: date | None = None,
    until: date | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
    k: float = DEFAULT_K,
    floor_q10: bool = DEFAULT_FLOOR_Q10,
) -> "ValuationIndex":
    """References from the declarations lodged on this node (registration dates in the window).
    The overrides are not included: ``ValuationIndex.load`` reads snapshot and overrides."""
    _check_settings(min_count, k)
    if since is not None and until is not None and since > until:
        raise ValidationFailed([Issue("/since", "valuation.window", {"since": since, "until": until})])
    rows, no_quantity, excluded = history_rows(conn, since=since, until=until)
    stats, used, skipped = _statistics(rows, None, None)
    info = BuildInfo(datetime.now(timezone.utc), since, until, used, skipped + no_quantity, excluded)
    return ValuationIndex(stats, (), min_count=min_count, k=k, floor_q10=floor_q10, currency=_node_currency(conn), info=info)


def save_snapshot(conn: Connection, index: "ValuationIndex") -> dict[str, int]:
    """Replace the stored snapshot with ``index``'s statistics (call inside one write
    transaction: readers see the old snapshot or the new one, never a mix). Returns the number
    of references per level."""
    info = index.info or BuildInfo(datetime.now(timezone.utc), None, None)
    currency = index.currency or _node_currency(conn) or ""
    conn.execute(delete(valuation_references))
    rows = [
        {
            "level": s.level,
            "hs": s.hs,
            "origin": s.origin,
            "unit": s.unit,
            "n": s.n,
            "median": s.median,
            "q10": s.q10,
            "q25": s.q25,
            "q75": s.q75,
            "q90": s.q90,
            "mad_log": s.mad_log,
            "currency": currency,
            "min_count": index.min_count,
            "k": index.k,
            "floor_q10": index.floor_q10,
            "built_at": info.built_at,
            "window_from": info.since,
            "window_to": info.until,
        }
        for s in index.statistics()
    ]
    for start in range(0, len(rows), 5000):
        conn.execute(insert(valuation_references), rows[start : start + 5000])
    return index.counts()


def rebuild(conn: Connection, **settings: Any) -> "ValuationIndex":
    """``build_from_store(conn, **settings)`` and save it as the snapshot, in ``conn``'s (write)
    transaction."""
    index = build_from_store(conn, **settings)
    save_snapshot(conn, index)
    return index


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


CSV_COLUMNS: tuple[str, ...] = ("hs", "origin", "unit", "min", "max", "valid_from", "valid_to", "note")
REQUIRED_COLUMNS = frozenset({"hs", "min", "max"})


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _amount(value: Any, where: str, name: str, issues: list[Issue], decimal_comma: bool) -> Decimal | None:
    text = _text(value)
    if text is None:
        return None
    if decimal_comma:
        text = text.replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(text)
    except (InvalidOperation, ValueError):
        amount = None
    if (
        amount is None
        or not amount.is_finite()
        or amount <= 0
        or amount >= Decimal(LARGEST_UNIT_VALUE)
        or amount.as_tuple().exponent < -6  # type: ignore[operator]
    ):
        issues.append(Issue(f"{where}/{name}", "valuation.amount", {"value": text}))
        return None
    return amount


def _date(value: Any, where: str, name: str, issues: list[Issue]) -> date | None:
    if isinstance(value, date):
        return value
    text = _text(value)
    if text is None:
        return None
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    issues.append(Issue(f"{where}/{name}", "valuation.date", {"value": text}))
    return None


def override_from_fields(fields: Mapping[str, Any], *, where: str = "", author: str = "", decimal_comma: bool = False) -> tuple[Override | None, list[Issue]]:
    """Check one override given as fields (``hs``, ``origin``, ``unit``, ``min``, ``max``,
    ``valid_from``, ``valid_to``, ``note``; text or typed values). Returns it, or every issue
    found, each with its JSON pointer under ``where``."""
    from avance.reference import hs_nomenclature, is_country

    issues: list[Issue] = []
    hs = _text(fields.get("hs"))
    if hs is None or not _HS_PREFIX.fullmatch(hs):
        issues.append(Issue(f"{where}/hs", "valuation.hs_prefix", {"value": hs or ""}))
        hs = None
    else:
        known = hs_nomenclature()
        head = hs[:6] if len(hs) >= 6 else hs[:4]
        if head not in known:
            issues.append(Issue(f"{where}/hs", "valuation.hs_unknown", {"value": hs}))
    origin = _text(fields.get("origin"))
    if origin is not None:
        origin = origin.upper()
        if not (len(origin) == 2 and origin.isalpha() and is_country(origin)):
            issues.append(Issue(f"{where}/origin", "country.unknown", {"code": origin}))
    unit = _text(fields.get("unit"))
    if unit is not None:
        unit = unit.upper()
        if not _UNIT.fullmatch(unit):
            issues.append(Issue(f"{where}/unit", "valuation.unit", {"value": unit}))
    minimum = _amount(fields.get("min"), where, "min", issues, decimal_comma)
    maximum = _amount(fields.get("max"), where, "max", issues, decimal_comma)
    if _text(fields.get("min")) is None and _text(fields.get("max")) is None:
        issues.append(Issue(f"{where}/min", "valuation.bounds_missing", {}))
    if minimum is not None and maximum is not None and minimum > maximum:
        issues.append(Issue(f"{where}/max", "valuation.bounds_order", {"min": plain(minimum), "max": plain(maximum)}))
    valid_from = _date(fields.get("valid_from"), where, "valid_from", issues)
    valid_to = _date(fields.get("valid_to"), where, "valid_to", issues)
    if valid_from is not None and valid_to is not None and valid_from > valid_to:
        issues.append(Issue(f"{where}/valid_to", "valuation.dates_order", {"valid_from": valid_from, "valid_to": valid_to}))
    note = _text(fields.get("note"))
    if note is not None and len(note) > MAX_NOTE:
        issues.append(Issue(f"{where}/note", "valuation.note_long", {"limit": MAX_NOTE}))
    if issues:
        return None, issues
    assert hs is not None
    return Override(hs, origin, unit, minimum, maximum, valid_from, valid_to, note, author[:70]), []


def parse_overrides_csv(text: str | bytes, *, author: str = "") -> list[Override]:
    """Every row of a value-control file (CSV: hs,origin,unit,min,max,valid_from,valid_to,note;
    columns in any order, only hs, min and max required; ``;`` separators with decimal commas
    as French spreadsheets write them). Raises ValidationFailed with every bad line: the
    pointer is ``/lines/<line number>/<column>`` (the header is line 1)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed([Issue("", "valuation.csv_encoding", {})]) from None
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        raise ValidationFailed([Issue("", "valuation.csv_encoding", {})])
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationFailed([Issue("/lines/1", "valuation.csv_empty", {})]) from None
    except csv.Error:
        raise ValidationFailed([Issue("/lines/1", "valuation.csv_header", {"missing": sorted(REQUIRED_COLUMNS), "unknown": ""})]) from None
    names = [h.strip().lower() for h in header]
    unknown = [n for n in names if n not in CSV_COLUMNS]
    missing = sorted(REQUIRED_COLUMNS - set(names))
    if unknown or missing or len(set(names)) != len(names):
        raise ValidationFailed([Issue("/lines/1", "valuation.csv_header", {"missing": missing or "-", "unknown": unknown or "-"})])
    issues: list[Issue] = []
    found: list[Override] = []
    seen: dict[tuple[str, str | None, str | None, date | None], int] = {}
    line = 1
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank lines are allowed
            where = f"/lines/{line}"
            if len(record) != len(names):
                issues.append(Issue(where, "valuation.csv_fields", {"expected": len(names), "found": len(record)}))
                continue
            override, problems = override_from_fields(dict(zip(names, record)), where=where, author=author, decimal_comma=delimiter == ";")
            if override is None:
                issues.extend(problems)
                continue
            if override.key in seen:
                issues.append(Issue(where, "valuation.csv_duplicate", {"line": seen[override.key]}))
                continue
            seen[override.key] = line
            found.append(override)
    except csv.Error:
        issues.append(Issue(f"/lines/{line + 1}", "valuation.csv_fields", {"expected": len(names), "found": "?"}))
    if issues:
        raise ValidationFailed(issues)
    return found


def overrides_csv(overrides: Iterable[Override]) -> str:
    """The value-control file as CSV (the format ``parse_overrides_csv`` reads)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for o in overrides:
        d = o.to_dict()
        writer.writerow([d["hs"], d["origin"] or "", d["unit"] or "", d["min"] or "", d["max"] or "", d["valid_from"] or "", d["valid_to"] or "", d["note"] or ""])
    return buffer.getvalue()


def _override_from_row(r: Any) -> Override:
    return Override(
        hs_prefix=r.hs_prefix,
        origin=r.origin,
        unit=r.unit,
        minimum=r.minimum,
        maximum=r.maximum,
        valid_from=r.valid_from,
        valid_to=r.valid_to,
        note=r.note,
        author=r.author,
        id=r.id,
        updated_at=r.updated_at,
    )


def list_overrides(conn: Connection, *, hs: str | None = None, on: date | None = None) -> list[Override]:
    """The value-control file, by HS prefix; with ``hs``, the lines that cover it or lie beneath
    it; with ``on``, those in force that day."""
    rows = conn.execute(select(valuation_overrides).order_by(valuation_overrides.c.hs_prefix, valuation_overrides.c.id))
    found = [_override_from_row(r) for r in rows]
    if hs is not None:
        found = [o for o in found if hs.startswith(o.hs_prefix) or o.hs_prefix.startswith(hs)]
    if on is not None:
        found = [o for o in found if o.in_force(on)]
    return found


def _values(o: Override, now: datetime) -> dict[str, Any]:
    return {
        "hs_prefix": o.hs_prefix,
        "origin": o.origin,
        "unit": o.unit,
        "minimum": o.minimum,
        "maximum": o.maximum,
        "valid_from": o.valid_from,
        "valid_to": o.valid_to,
        "note": o.note,
        "author": o.author[:70],
        "updated_at": now,
    }


def _same_key(o: Override) -> Any:
    c = valuation_overrides.c
    conditions = [c.hs_prefix == o.hs_prefix]
    for column, value in ((c.origin, o.origin), (c.unit, o.unit), (c.valid_from, o.valid_from)):
        conditions.append(column.is_(None) if value is None else column == value)
    return conditions


def set_override(conn: Connection, override: Override, *, now: datetime | None = None) -> tuple[Override, bool]:
    """Store an override; one with the same HS prefix, origin, unit and start date is replaced.
    Returns it as stored, and whether it is new."""
    now = now or datetime.now(timezone.utc)
    existing = conn.execute(select(valuation_overrides.c.id).where(*_same_key(override))).scalar()
    if existing is None:
        new_id = conn.execute(insert(valuation_overrides).values(**_values(override, now)).returning(valuation_overrides.c.id)).scalar_one()
        return replace(override, id=int(new_id), updated_at=now), True
    conn.execute(update(valuation_overrides).where(valuation_overrides.c.id == existing).values(**_values(override, now)))
    return replace(override, id=int(existing), updated_at=now), False


def get_override(conn: Connection, override_id: int) -> Override:
    row = conn.execute(select(valuation_overrides).where(valuation_overrides.c.id == override_id)).first()
    if row is None:
        raise NotFound("valuation.override_not_found", id=override_id)
    return _override_from_row(row)


def remove_override(conn: Connection, override_id: int) -> Override:
    """Delete an override; raises NotFound."""
    found = get_override(conn, override_id)
    conn.execute(delete(valuation_overrides).where(valuation_overrides.c.id == override_id))
    return found


@dataclass(frozen=True)
class ImportResult:
    created: int
    replaced: int
    removed: int


def import_overrides(conn: Connection, overrides: Sequence[Override], *, replace_all: bool = False, now: datetime | None = None) -> ImportResult:
    """Store checked overrides in ``conn``'s transaction (all or nothing). Lines with the key of
    a stored override replace it; with ``replace_all`` the file replaces the whole value-control
    file."""
    removed = 0
    if replace_all:
        removed = conn.execute(delete(valuation_overrides)).rowcount or 0
    created = replaced = 0
    for o in overrides:
        _, new = set_override(conn, o, now=now)
        created += new
        replaced += not new
    return ImportResult(created, replaced, removed)


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
    basis: "Reference | None" = None
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
    """Statistics and overrides in memory; ``reference`` is a handful of dictionary lookups."""

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
    def empty(cls) -> "ValuationIndex":
        return cls()

    @classmethod
    def load(cls, conn: Connection, *, hs: str | None = None, k: float | None = None, min_count: int | None = None) -> "ValuationIndex":
        """The stored snapshot and the value-control file (all its lines: ``reference`` picks
        those in force on the day asked). With ``hs``, only what concerns that code."""
        query = select(valuation_references)
        if hs is not None:
            query = query.where(valuation_references.c.hs.in_(sorted({hs[:6], hs[:4]})))
        stats = []
        settings: dict[str, Any] = {}
        for r in conn.execute(query):
            if not settings:
                settings = {"min_count": r.min_count, "k": r.k, "floor_q10": r.floor_q10, "currency": r.currency or None}
                settings["info"] = BuildInfo(r.built_at, r.window_from, r.window_to)
            stats.append(Stats(r.level, r.hs, r.origin, r.unit, r.n, r.median, r.q10, r.q25, r.q75, r.q90, float(r.mad_log)))
        if not settings:
            settings = _snapshot_settings(conn)
        if k is not None:
            settings["k"] = k
        if min_count is not None:
            settings["min_count"] = min_count
        if hs is not None:
            prefixes = {hs[:n] for n in range(4, min(len(hs), 10) + 1)}
            rows = conn.execute(select(valuation_overrides).where(valuation_overrides.c.hs_prefix.in_(sorted(prefixes))))
        else:
            rows = conn.execute(select(valuation_overrides))
        overrides = [_override_from_row(r) for r in rows]
        if settings.get("currency") is None:
            settings["currency"] = _node_currency(conn)
        return cls(stats, overrides, **settings)

    def with_overrides(self, overrides: Iterable[Override]) -> "ValuationIndex":
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


def _snapshot_settings(conn: Connection) -> dict[str, Any]:
    row = conn.execute(select(valuation_references).limit(1)).first()
    if row is None:
        return {}
    return {"min_count": row.min_count, "k": row.k, "floor_q10": row.floor_q10, "currency": row.currency or None, "info": BuildInfo(row.built_at, row.window_from, row.window_to)}


def snapshot_info(conn: Connection) -> dict[str, Any] | None:
    """When and how the stored snapshot was built, and its references per level; None if none."""
    settings = _snapshot_settings(conn)
    if not settings:
        return None
    counts = dict.fromkeys(LEVELS, 0)
    usable = dict.fromkeys(LEVELS, 0)
    for level, n in conn.execute(select(valuation_references.c.level, valuation_references.c.n)):
        counts[level] = counts.get(level, 0) + 1
        if n >= settings["min_count"]:
            usable[level] = usable.get(level, 0) + 1
    info: BuildInfo = settings["info"]
    return {
        "built_at": info.built_at.isoformat(),
        "window_from": info.since.isoformat() if info.since else None,
        "window_to": info.until.isoformat() if info.until else None,
        "min_count": settings["min_count"],
        "k": settings["k"],
        "floor_q10": settings["floor_q10"],
        "currency": settings["currency"],
        "references": counts,
        "usable": usable,
    }


# --- flags ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValuationFlag:
    """A goods item whose declared unit value is below its reference threshold (or above an
    override maximum), with the duties that under-valuation would hide."""

    reference: Reference
    unit: str
    quantity: Decimal
    declared_unit_value: Decimal
    threshold: Decimal
    ratio: Decimal  # declared / reference median
    reference_value: Decimal  # the item's customs value at the reference median
    revenue_at_risk: Decimal  # national currency, >= 0
    currency: str
    sequence: int = 0
    hs_code: str = ""
    origin: str = ""
    kind: str = "under"  # "under" or "over" (above an override maximum)
    declared_value: Decimal = Decimal(0)

    def reason(self) -> Reason:
        """A plain sentence in French and English."""
        with localcontext(_WIDE):
            return self._reason()

    def _reason(self) -> Reason:
        params = {
            "item": self.sequence,
            "hs": self.hs_code[:6],
            "origin": self.origin,
            "unit": self.unit,
            "level": self.reference.level,
            "declared": plain(self.declared_unit_value.quantize(_SIX_DECIMALS, rounding=ROUND_HALF_UP)),
            "threshold": plain(self.threshold),
            "median": plain(self.reference.median),
            "ratio": plain(self.ratio),
            "revenue": plain(self.revenue_at_risk),
            "currency": self.currency,
        }
        return Reason(self.code, params, {lang: self.sentence(lang) for lang in LANGUAGES})

    @property
    def code(self) -> str:
        """Catalog key of the sentence."""
        if self.kind == "over":
            return "valuation.reason_over"
        override = self.reference.override
        if override is not None and override.minimum is not None:
            return "valuation.reason_minimum"
        return "valuation.reason_under"

    def sentence(self, lang: str) -> str:
        code = self.code
        unit = unit_label(self.unit, lang)
        return t(
            code,
            lang,
            item=self.sequence,
            hs=self.hs_code[:6],
            origin=self.origin,
            declared=number(self.declared_unit_value, lang),
            median=number(self.reference.median, lang),
            threshold=number(self.threshold, lang),
            unit=unit,
            currency=self.currency,
            percent=percent(self.ratio, lang),
            revenue=number(self.revenue_at_risk, lang, places=_money_places(self.currency)),
            basis=basis_text(self.reference, lang),
        )


def _money_places(currency: str) -> int:
    from avance.kit.money import minor_units

    try:
        return minor_units(currency)
    except Exception:
        return 0


def number(value: Decimal, lang: str, places: int | None = None) -> str:
    """A number as the reader writes it: ``1,250.50`` (en), ``1 250,50`` (fr)."""
    if places is None:
        size = abs(value)
        places = 0 if size >= 100 else 2 if size >= 1 else 4
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{places}f}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def percent(ratio: Decimal, lang: str) -> str:
    value = (ratio * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return f"{value}\u202f%" if lang == "fr" else f"{value}%"


_UNIT_LABELS = frozenset({"KGM", "LTR", "NAR", "MTR", "MTK", "MTQ", "TNE", "PR", "GRM"})


def unit_label(unit: str, lang: str) -> str:
    """How a unit code reads in a sentence: ``kg``, ``l``, ``unit`` (other codes as they are)."""
    return t(f"valuation.unit_{unit.lower()}", lang) if unit in _UNIT_LABELS else unit


def basis_text(ref: Reference, lang: str) -> str:
    """Where a reference comes from, in a few words."""
    if ref.level == OVERRIDE:
        if ref.basis is None:
            return t("valuation.basis_override", lang, hs=ref.hs)
        return t("valuation.basis_override_with", lang, hs=ref.hs, basis=basis_text(ref.basis, lang))
    if ref.level == HS6_ORIGIN:
        return t("valuation.basis_hs6_origin", lang, n=ref.n, hs=ref.hs, origin=ref.origin)
    return t("valuation.basis_all_origins", lang, n=ref.n, hs=ref.hs)


def _duties_due(ctx: "ReferenceContext", subject: AssessmentInput, position: int, customs_value: Decimal) -> Decimal | None:
    """The item's duties and taxes with its customs value replaced by ``customs_value`` (the
    freight and insurance in it unchanged), computed as the lodging computes them; None when
    they cannot be computed."""
    from avance.revenue.customs_value import item_values
    from avance.reference import procedures
    from avance.reference.rates import NoExchangeRate
    from avance.revenue.calculator import DutyItemInput, InvalidDutyInput, NoTariffLine, compute_duties

    d = subject.declaration
    item = d.goods_items[position]
    procedure = procedures().get(item.procedure_code or d.procedure_code)
    if procedure is not None and not procedure.duties_due:
        return Decimal(0)
    currency = subject.currency
    try:
        declared_cv, declared_fob = item_values(ctx, d, subject.registration_date)[position]
        fob = round_money(max(declared_fob + (customs_value - declared_cv), Decimal(0)), currency)
        breakdown = compute_duties(
            ctx.profile,
            ctx.schedule,
            DutyItemInput(item.hs_code, item.origin_country, round_money(customs_value, currency), fob, item.duty_regime == "community"),
            subject.registration_date,
        )
    except (NoExchangeRate, NoTariffLine, InvalidDutyInput) as exc:
        log.warning("revenue at risk not computed for item %s of %s: %s", item.sequence, d.lrn, exc)
        return None
    return breakdown.total


def check_item(index: ValuationIndex, ctx: "ReferenceContext", subject: AssessmentInput, position: int) -> ValuationFlag | None:
    """Compare goods item ``position`` (0-based) of an assessed declaration with its reference;
    a flag when its unit value is below the threshold or above an override maximum."""
    item = subject.declaration.goods_items[position]
    found = measure(item.net_mass, item.supplementary_quantity, item.supplementary_unit)
    if found is None:
        return None
    quantity, unit = found
    ref = index.reference(item.hs_code, item.origin_country, unit, subject.registration_date)
    if ref is None or not ref.sufficient or ref.median <= 0:
        return None
    with localcontext(_WIDE):
        return _flag(ctx, subject, position, ref, quantity, unit)


def _flag(ctx: "ReferenceContext", subject: AssessmentInput, position: int, ref: Reference, quantity: Decimal, unit: str) -> ValuationFlag | None:
    item = subject.declaration.goods_items[position]
    facts = subject.items[position]
    declared = facts.customs_value / quantity
    if ref.low is not None and declared < ref.low:
        kind, threshold = "under", ref.low
    elif ref.level == OVERRIDE and ref.high is not None and declared > ref.high:
        kind, threshold = "over", ref.high
    else:
        return None
    currency = subject.currency
    reference_value = round_money(ref.median * quantity, currency)
    at_risk = Decimal(0)
    if kind == "under":
        due = _duties_due(ctx, subject, position, reference_value)
        if due is not None:
            at_risk = max(round_money(due - facts.duty_total, currency), round_money(Decimal(0), currency))
    return ValuationFlag(
        reference=ref,
        unit=unit,
        quantity=quantity,
        declared_unit_value=declared,
        threshold=threshold,
        ratio=(declared / ref.median).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
        reference_value=reference_value,
        revenue_at_risk=at_risk,
        currency=currency,
        sequence=item.sequence,
        hs_code=item.hs_code,
        origin=item.origin_country,
        kind=kind,
        declared_value=facts.customs_value,
    )


def check_declaration(index: ValuationIndex, ctx: "ReferenceContext", subject: AssessmentInput) -> list[ValuationFlag]:
    """The flags of every goods item of a declaration."""
    flags = []
    for position in range(len(subject.declaration.goods_items)):
        flag = check_item(index, ctx, subject, position)
        if flag is not None:
            flags.append(flag)
    return flags
