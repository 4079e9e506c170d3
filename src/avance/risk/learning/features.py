"""The learned scorer's features: history encodings computed from the past only, and the matrix.

History encoding of a key (importer, HS6 x origin ...): the smoothed past fraud rate
``(frauds + prior * m) / (n + m)`` and the past count ``n`` (and, when the data has recovered
revenue, the smoothed past mean recovered). In training each row sees only the rows of strictly
earlier days (cumulative statistics per key and day; rows of the same day do not see each other),
so that a row's own label never reaches its features. The encoder keeps the final tables (the
whole training window) to encode new rows when scoring: unseen values get ``n = 0`` and the prior.

Adding a combination is one line in ``HISTORY_KEYS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from avance.risk.learning.frame import CATEGORICAL, DERIVED, IDENTITY, LABELS, NUMERIC, hs_digits_one


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A history key: one field or a combination of fields; ``revenue`` adds a past mean recovered."""

    name: str
    fields: tuple[str, ...]
    revenue: bool = False


HISTORY_KEYS: tuple[KeySpec, ...] = (
    KeySpec("importer", ("importer",), revenue=True),
    KeySpec("declarant", ("declarant",), revenue=True),
    KeySpec("hs6", ("hs6",), revenue=True),
    KeySpec("hs4", ("hs4",)),
    KeySpec("origin", ("origin",)),
    KeySpec("office", ("office",)),
    KeySpec("seller", ("seller",)),
    KeySpec("importer_hs6", ("importer", "hs6"), revenue=True),
    KeySpec("declarant_hs6", ("declarant", "hs6")),
    KeySpec("hs6_origin", ("hs6", "origin"), revenue=True),
    KeySpec("hs6_departure", ("hs6", "departure")),
    KeySpec("hs6_tax_type", ("hs6", "tax_type")),
    KeySpec("office_hs6", ("office", "hs6")),
)

# Fields given to LightGBM as categoricals (a fixed category list is saved with the model).
LOW_CARDINALITY: tuple[str, ...] = ("office", "transport_mode", "tax_type", "origin_indicator", "procedure", "hs2")
MAX_CATEGORIES = 100  # an extra categorical with more values becomes a history key instead
VPK_MIN_COUNT = 5  # rows of an HS6 needed before its usual value per kg is trusted

SEP = "\x1f"  # between the fields of a combined key
KNOWN_COLUMNS = frozenset((*IDENTITY, *CATEGORICAL, *DERIVED, *NUMERIC, *LABELS))

# numeric feature -> the source field an explanation names
NUMERIC_FEATURES: tuple[tuple[str, str], ...] = (
    ("log_net_mass", "net_mass"),
    ("log_gross_mass", "gross_mass"),
    ("log_quantity", "quantity"),
    ("log_value", "value"),
    ("log_value_per_kg", "value_per_kg"),
    ("value_per_kg_gap", "value_per_kg"),
    ("log_duty", "duty"),
    ("tax_rate", "tax_rate"),
)


def extra_columns(frame: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The extra categorical and numeric columns a frame carries besides the canonical ones."""
    cats, nums = [], []
    for name in frame.columns:
        if name in KNOWN_COLUMNS:
            continue
        (nums if pd.api.types.is_numeric_dtype(frame[name]) else cats).append(str(name))
    return tuple(cats), tuple(nums)


def key_values(frame: pd.DataFrame, spec: KeySpec) -> pd.Series:
    """The key of every row as one string (fields joined by an invisible separator)."""
    first = frame[spec.fields[0]].astype(str)
    if len(spec.fields) == 1:
        return first
    return first.str.cat([frame[f].astype(str) for f in spec.fields[1:]], sep=SEP)


def display_key(key: str) -> str:
    return " × ".join(part or "-" for part in key.split(SEP))


@dataclass
class HistoryTable:
    """Totals per key value over the training window."""

    spec: KeySpec
    keys: list[str]
    n: np.ndarray
    frauds: np.ndarray
    recovered: np.ndarray
    _index: pd.Index | None = field(default=None, repr=False)
    _lookup: dict[str, tuple[float, float, float, float, float]] | None = field(default=None, repr=False)

    @property
    def index(self) -> pd.Index:
        if self._index is None:
            self._index = pd.Index(self.keys, dtype=object)
        return self._index


@dataclass
class Encoder:
    """Everything needed to turn canonical rows into the feature matrix, fitted on training rows."""

    keys: tuple[KeySpec, ...]
    prior: float
    smoothing: float
    has_revenue: bool
    revenue_prior: float
    tables: dict[str, HistoryTable]
    categories: dict[str, list[str]]
    extra_numeric: tuple[str, ...]
    vpk_usual: dict[str, float]  # HS6 -> mean log(value per kg) over the training window
    features: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # feature -> source field
    kinds: dict[str, str] = field(default_factory=dict)  # source -> history | category | numeric | value_per_kg
    _cat_lookup: dict[str, dict[str, int]] | None = field(default=None, repr=False)

    # --- fitting ------------------------------------------------------------------------

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, smoothing: float, keys: Iterable[KeySpec] = HISTORY_KEYS, low_cardinality: Iterable[str] = LOW_CARDINALITY) -> tuple["Encoder", np.ndarray]:
        """Fit on labelled training rows; return the encoder and the past-only training matrix."""
        y = frame["fraud"].to_numpy(dtype=float)
        recovered = frame["recovered"].to_numpy(dtype=float) if "recovered" in frame else np.zeros(len(frame))
        has_revenue = bool((recovered > 0).any())
        prior = float(y.mean()) if len(y) else 0.0
        revenue_prior = float(recovered.mean()) if len(y) else 0.0
        extra_cat, extra_num = extra_columns(frame)
        keys = list(keys)
        categories: dict[str, list[str]] = {}
        for name in (*low_cardinality, *extra_cat):
            counts = frame[name].value_counts(sort=True)
            counts = counts[counts.index != ""]
            if name in extra_cat and len(counts) >= MAX_CATEGORIES:
                keys.append(KeySpec(name, (name,)))
                continue
            categories[name] = [str(v) for v in counts.index[:MAX_CATEGORIES]]
        day = frame["date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
        tables: dict[str, HistoryTable] = {}
        columns: dict[str, np.ndarray] = {}
        for spec in keys:
            table, past = _fit_key(spec, key_values(frame, spec), day, y, recovered)
            tables[spec.name] = table
            n, s, rs = past
            columns[f"{spec.name}_te"] = (s + prior * smoothing) / (n + smoothing)
            columns[f"{spec.name}_n"] = n
            if spec.revenue and has_revenue:
                columns[f"{spec.name}_rev"] = (rs + revenue_prior * smoothing) / (n + smoothing)
        log_vpk = _log_vpk(frame)
        vpk = pd.DataFrame({"hs6": frame["hs6"].to_numpy(), "v": log_vpk}).dropna()
        stats = vpk.groupby("hs6")["v"].agg(["mean", "size"])
        stats = stats[stats["size"] >= VPK_MIN_COUNT]
        encoder = cls(
            keys=tuple(keys),
            prior=prior,
            smoothing=float(smoothing),
            has_revenue=has_revenue,
            revenue_prior=revenue_prior,
            tables=tables,
            categories=categories,
            extra_numeric=extra_num,
            vpk_usual={str(k): float(v) for k, v in stats["mean"].items()},
        )
        encoder._describe()
        columns.update(encoder._categorical_columns(frame))
        columns.update(encoder._numeric_columns(frame, log_vpk))
        return encoder, _matrix(columns, encoder.features, len(frame))

    def _describe(self) -> None:
        features, sources, kinds = [], [], {}
        for spec in self.keys:
            suffixes = ["te", "n"] + (["rev"] if spec.revenue and self.has_revenue else [])
            for suffix in suffixes:
                features.append(f"{spec.name}_{suffix}")
                sources.append(spec.name)
            kinds[spec.name] = "history"
        for name in self.categories:
            features.append(f"cat_{name}")
            sources.append(name)
            kinds[name] = "category"
        for name, source in NUMERIC_FEATURES:
            features.append(name)
            sources.append(source)
            kinds[source] = "value_per_kg" if source == "value_per_kg" else "numeric"
        for name in self.extra_numeric:
            features.append(f"num_{name}")
            sources.append(name)
            kinds[name] = "numeric"
        self.features, self.sources, self.kinds = features, sources, kinds

    @property
    def categorical_features(self) -> list[str]:
        return [f"cat_{name}" for name in self.categories]

    # --- batch encoding -----------------------------------------------------------------

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The feature matrix of rows to score, with the history frozen at the end of training."""
        columns: dict[str, np.ndarray] = {}
        m = self.smoothing
        codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for spec in self.keys:
            table = self.tables[spec.name]
            pos = _positions(frame, spec, table.index, codes)
            seen = pos >= 0
            n = np.where(seen, table.n[pos], 0.0)
            s = np.where(seen, table.frauds[pos], 0.0)
            columns[f"{spec.name}_te"] = (s + self.prior * m) / (n + m)
            columns[f"{spec.name}_n"] = n
            if spec.revenue and self.has_revenue:
                rs = np.where(seen, table.recovered[pos], 0.0)
                columns[f"{spec.name}_rev"] = (rs + self.revenue_prior * m) / (n + m)
        columns.update(self._categorical_columns(frame))
        columns.update(self._numeric_columns(frame, _log_vpk(frame)))
        return _matrix(columns, self.features, len(frame))

    def _categorical_columns(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        out = {}
        for name, cats in self.categories.items():
            values = frame[name] if name in frame else pd.Series("", index=frame.index)
            pos = pd.Index(cats, dtype=object).get_indexer(values.astype(str)).astype(float)
            pos[pos < 0] = np.nan
            out[f"cat_{name}"] = pos
        return out

    def _numeric_columns(self, frame: pd.DataFrame, log_vpk: np.ndarray) -> dict[str, np.ndarray]:
        def col(name: str) -> np.ndarray:
            return frame[name].to_numpy(dtype=float) if name in frame else np.full(len(frame), np.nan)

        usual = frame["hs6"].map(self.vpk_usual).to_numpy(dtype=float) if len(frame) else np.zeros(0)
        with np.errstate(all="ignore"):
            out = {
                "log_net_mass": np.log1p(col("net_mass")),
                "log_gross_mass": np.log1p(col("gross_mass")),
                "log_quantity": np.log1p(col("quantity")),
                "log_value": np.log1p(col("value")),
                "log_value_per_kg": log_vpk,
                "value_per_kg_gap": log_vpk - usual,
                "log_duty": np.log1p(np.clip(col("duty"), 0, None)),
                "tax_rate": col("tax_rate"),
            }
        for name in self.extra_numeric:
            out[f"num_{name}"] = col(name)
        return {k: np.where(np.isfinite(v), v, np.nan) for k, v in out.items()}

    # --- one declaration (no pandas) ----------------------------------------------------

    def transform_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """The same matrix as ``transform`` for a few canonical records, without pandas."""
        lookups = self._lookups()
        cat_lookup = self._category_lookup()
        x = np.full((len(records), len(self.features)), np.nan)
        for i, raw in enumerate(records):
            record = prepare_record(raw)
            row: list[float] = []
            for spec in self.keys:
                key = SEP.join(record.get(f, "") for f in spec.fields)
                row.extend(lookups[spec.name].get(key) or self._unseen(spec))
            for name in self.categories:
                code = cat_lookup[name].get(record.get(name, ""))
                row.append(np.nan if code is None else float(code))
            net, gross, value = record["net_mass"], record["gross_mass"], record["value"]
            mass = net if net == net else gross
            ratio = value / mass if value == value and mass == mass else math.nan
            log_vpk = math.log(ratio) if 0 < ratio < math.inf else math.nan  # an underflow to 0 too
            usual = self.vpk_usual.get(record.get("hs6", ""), math.nan)
            duty = record["duty"]
            row.extend(
                (
                    _log1p(net),
                    _log1p(gross),
                    _log1p(record["quantity"]),
                    _log1p(value),
                    log_vpk,
                    log_vpk - usual,
                    _log1p(max(duty, 0.0) if duty == duty else duty),
                    record["tax_rate"],
                )
            )
            for name in self.extra_numeric:
                row.append(_float(raw.get(name)))
            x[i] = row
        x[~np.isfinite(x)] = np.nan
        return x

    def _unseen(self, spec: KeySpec) -> tuple[float, ...]:
        if spec.revenue and self.has_revenue:
            return (self.prior, 0.0, self.revenue_prior)
        return (self.prior, 0.0)

    def _lookups(self) -> dict[str, dict[str, tuple[float, ...]]]:
        out = {}
        m = self.smoothing
        for spec in self.keys:
            table = self.tables[spec.name]
            if table._lookup is None:
                te = (table.frauds + self.prior * m) / (table.n + m)
                if spec.revenue and self.has_revenue:
                    rev = (table.recovered + self.revenue_prior * m) / (table.n + m)
                    table._lookup = dict(zip(table.keys, zip(te.tolist(), table.n.tolist(), rev.tolist())))  # type: ignore[arg-type]
                else:
                    table._lookup = dict(zip(table.keys, zip(te.tolist(), table.n.tolist())))  # type: ignore[arg-type]
            out[spec.name] = table._lookup
        return out  # type: ignore[return-value]

    def _category_lookup(self) -> dict[str, dict[str, int]]:
        if self._cat_lookup is None:
            self._cat_lookup = {name: {v: i for i, v in enumerate(cats)} for name, cats in self.categories.items()}
        return self._cat_lookup

    def warm(self) -> None:
        """Build the lookup dictionaries now (so that the first lodging is not slower)."""
        self._lookups()
        self._category_lookup()

    def history(self, spec_name: str, key: str) -> tuple[int, int]:
        """Past frauds and past count of a key value (0, 0 when unseen)."""
        found = self._lookups()[spec_name].get(key)  # a dict lookup: this runs at every lodging
        if found is None:
            return 0, 0
        rate, n = found[0], found[1]
        m = self.smoothing
        return int(round(rate * (n + m) - self.prior * m)), int(round(n))

    # --- saved form ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "keys": [{"name": s.name, "fields": list(s.fields), "revenue": s.revenue} for s in self.keys],
            "prior": self.prior,
            "smoothing": self.smoothing,
            "has_revenue": self.has_revenue,
            "revenue_prior": self.revenue_prior,
            "categories": self.categories,
            "extra_numeric": list(self.extra_numeric),
            "vpk_usual": self.vpk_usual,
            "features": self.features,
            "tables": {
                name: {
                    "keys": t.keys,
                    "n": t.n.astype(np.int64).tolist(),
                    "frauds": t.frauds.astype(np.int64).tolist(),
                    "recovered": t.recovered.tolist() if self.has_revenue and t.spec.revenue else None,
                }
                for name, t in self.tables.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Encoder":
        keys = tuple(KeySpec(k["name"], tuple(k["fields"]), bool(k["revenue"])) for k in data["keys"])
        tables = {}
        for spec in keys:
            raw = data["tables"][spec.name]
            n = np.asarray(raw["n"], dtype=float)
            recovered = np.asarray(raw["recovered"], dtype=float) if raw.get("recovered") is not None else np.zeros(len(n))
            tables[spec.name] = HistoryTable(spec, list(raw["keys"]), n, np.asarray(raw["frauds"], dtype=float), recovered)
        encoder = cls(
            keys=keys,
            prior=float(data["prior"]),
            smoothing=float(data["smoothing"]),
            has_revenue=bool(data["has_revenue"]),
            revenue_prior=float(data["revenue_prior"]),
            tables=tables,
            categories={k: list(v) for k, v in data["categories"].items()},
            extra_numeric=tuple(data["extra_numeric"]),
            vpk_usual={k: float(v) for k, v in data["vpk_usual"].items()},
        )
        encoder._describe()
        if encoder.features != list(data["features"]):
            raise ValueError("the saved feature list does not match the encoder")
        return encoder


def _fit_key(spec: KeySpec, values: pd.Series, day: np.ndarray, y: np.ndarray, recovered: np.ndarray) -> tuple[HistoryTable, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    codes, uniques = pd.factorize(values, sort=False)
    if not len(codes):
        return HistoryTable(spec, [], np.zeros(0), np.zeros(0), np.zeros(0)), (np.zeros(0), np.zeros(0), np.zeros(0))
    # Sort by (key, day); aggregate per (key, day); cumulative sums per key, minus the same day.
    order = np.lexsort((day, codes))
    k, d = codes[order], day[order]
    boundary = np.ones(len(k), dtype=bool)
    boundary[1:] = (k[1:] != k[:-1]) | (d[1:] != d[:-1])
    group = np.cumsum(boundary) - 1  # (key, day) group of each sorted row
    starts = np.flatnonzero(boundary)
    n_g = np.diff(np.append(starts, len(k))).astype(float)
    s_g = np.add.reduceat(y[order], starts)
    r_g = np.add.reduceat(recovered[order], starts)
    key_g = k[starts]
    new_key = np.ones(len(starts), dtype=bool)
    new_key[1:] = key_g[1:] != key_g[:-1]
    past = []
    for values_g in (n_g, s_g, r_g):
        cum = np.cumsum(values_g)
        before = cum - values_g  # everything of earlier groups
        offset = np.maximum.accumulate(np.where(new_key, before, 0.0))  # what earlier keys contributed
        past_g = before - offset
        out = np.empty(len(k))
        out[order] = past_g[group]
        past.append(out)
    totals_n = np.bincount(codes, minlength=len(uniques)).astype(float)
    totals_s = np.bincount(codes, weights=y, minlength=len(uniques))
    totals_r = np.bincount(codes, weights=recovered, minlength=len(uniques))
    table = HistoryTable(spec, [str(u) for u in uniques], totals_n, totals_s, totals_r)
    return table, (past[0], past[1], past[2])


def _positions(frame: pd.DataFrame, spec: KeySpec, index: pd.Index, codes: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Position of every row's key in a table (-1: unseen), looking up each distinct key once."""
    parts = []
    for name in spec.fields:
        if name not in codes:
            values = frame[name].astype(str) if name in frame else pd.Series("", index=frame.index)
            code, uniques = pd.factorize(values, sort=False)
            codes[name] = (code.astype(np.int64), np.asarray(uniques, dtype=object))
        parts.append(codes[name])
    if len(parts) == 1:
        code, uniques = parts[0]
        return index.get_indexer(uniques)[code] if len(code) else np.zeros(0, dtype=np.int64)
    combined = np.zeros(len(frame), dtype=np.int64)
    for code, uniques in parts:
        combined = combined * max(len(uniques), 1) + code
    distinct, inverse = np.unique(combined, return_inverse=True)
    fields, rest = [], distinct
    for _code, uniques in reversed(parts):
        size = max(len(uniques), 1)
        fields.append(pd.Series(uniques[rest % size] if len(uniques) else np.array([], dtype=object)))
        rest = rest // size
    fields.reverse()
    keys = fields[0].str.cat(fields[1:], sep=SEP) if len(distinct) else pd.Series([], dtype=object)
    return index.get_indexer(keys)[inverse.reshape(-1)]


def _matrix(columns: dict[str, np.ndarray], features: list[str], rows: int) -> np.ndarray:
    x = np.empty((rows, len(features)))  # row-major, as LightGBM reads it
    for i, name in enumerate(features):
        x[:, i] = columns[name]
    return x


def _log_vpk(frame: pd.DataFrame) -> np.ndarray:
    value = frame["value"].to_numpy(dtype=float)
    mass = frame["net_mass"].to_numpy(dtype=float)
    mass = np.where(np.isnan(mass), frame["gross_mass"].to_numpy(dtype=float), mass)
    with np.errstate(all="ignore"):
        out = np.log(value / mass)
    return np.where(np.isfinite(out), out, np.nan)


def _float(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def _positive(value: Any) -> float:
    out = _float(value)
    return out if out > 0 else math.nan


def _log1p(value: float) -> float:
    return math.log1p(value) if value == value and value > -1 else math.nan


_POSITIVE = ("net_mass", "gross_mass", "quantity", "value")


def prepare_record(raw: dict[str, Any]) -> dict[str, Any]:
    """A record with canonical types: categorical as stripped text, numbers as floats (NaN unknown)."""
    record: dict[str, Any] = {}
    for name, value in raw.items():
        if name in _POSITIVE:
            record[name] = _positive(value)
        elif name in ("duty", "tax_rate"):
            record[name] = _float(value)
        elif isinstance(value, str):
            record[name] = value.strip()
        elif value is None or (isinstance(value, float) and value != value):
            record[name] = ""
        elif isinstance(value, float) and value.is_integer():
            record[name] = str(int(value))
        else:
            record[name] = str(value)
    for name in (*_POSITIVE, "duty", "tax_rate"):
        record.setdefault(name, math.nan)
    hs = hs_digits_one(record.get("hs_code", ""))
    record["hs_code"], record["hs6"], record["hs4"], record["hs2"] = hs, hs[:6], hs[:4], hs[:2]
    return record
