"""The canonical risk frame: one row per goods item, the same columns whatever the source.

Three sources feed it:
- an administration's own extract (CSV) read through a column-mapping YAML ("bring your own data");
- a declaration being lodged (``records_from_subject``: the learned engine scores it);
- the node's store (``frame_from_store``: inspected declarations become training rows).

Columns (see docs/risk-model.md): ``id``, ``declaration``, ``date``; the categorical fields of
``CATEGORICAL`` (``str``, ``""`` when unknown) and the ``hs6``/``hs4``/``hs2`` derived from
``hs_code``; the numeric fields of ``NUMERIC`` (``float``, NaN when unknown); extra fields named by
the mapping; the labels ``fraud`` (0/1) and ``recovered`` (>= 0) when the source has them. Labels
are only read when fitting, never when scoring.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from sqlalchemy import and_, func, select

from avance.declarations.tables import declaration_events as ev
from avance.declarations.tables import declarations as dt
from avance.declarations.tables import goods_items as gi
from avance.kit.datafiles import DataFileError, load_yaml_model
from avance.kit.errors import AvanceError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from avance.declarations.assessment import AssessmentInput

IDENTITY: tuple[str, ...] = ("id", "declaration", "date")
CATEGORICAL: tuple[str, ...] = (
    "office",
    "procedure",
    "importer",
    "declarant",
    "seller",
    "carrier",
    "hs_code",
    "origin",
    "departure",
    "transport_mode",
    "tax_type",
    "origin_indicator",
)
DERIVED: tuple[str, ...] = ("hs6", "hs4", "hs2")
NUMERIC: tuple[str, ...] = ("net_mass", "gross_mass", "quantity", "value", "duty", "tax_rate")
POSITIVE: tuple[str, ...] = ("net_mass", "gross_mass", "quantity", "value")  # zero or negative: unknown
LABELS: tuple[str, ...] = ("fraud", "recovered")
MAPPABLE: tuple[str, ...] = ("id", "declaration", "date", *CATEGORICAL, *NUMERIC)
RESERVED: frozenset[str] = frozenset((*IDENTITY, *CATEGORICAL, *DERIVED, *NUMERIC, *LABELS))
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class FrameError(AvanceError):
    """A data file or its mapping cannot be used; the message names the file, column or line."""

    status = 422
    code = "model.error.data"


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    decimal: Literal[".", ","] = "."


class RiskMapping(BaseModel):
    """A column mapping (version 1): which column of the extract holds each canonical field."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1]
    name: str = Field(min_length=1, max_length=64)
    description: dict[str, str] = Field(default_factory=dict)
    csv: CsvOptions = CsvOptions()
    date_format: str | None = None
    columns: dict[str, str]
    extra_categorical: dict[str, str] = Field(default_factory=dict)
    extra_numeric: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def has_fraud_label(self) -> bool:
        return "fraud" in self.labels


def load_mapping(path: Path) -> RiskMapping:
    """Read and check a mapping file; FrameError naming the problem otherwise."""
    if not path.is_file():
        raise FrameError("model.error.no_file", path=str(path))
    try:
        mapping = load_yaml_model(RiskMapping, path)
    except DataFileError as exc:
        raise FrameError("model.error.mapping", path=str(path), detail=exc.detail) from None
    return check_mapping(mapping, str(path))


def check_mapping(mapping: RiskMapping, where: str = "mapping") -> RiskMapping:
    for name in mapping.columns:
        if name not in MAPPABLE:
            raise FrameError("model.error.unknown_field", path=where, name=name, known=", ".join(MAPPABLE))
    for name in ("id", "date"):
        if name not in mapping.columns:
            raise FrameError("model.error.missing_field", path=where, name=name)
    for name in (*mapping.extra_categorical, *mapping.extra_numeric):
        if name in RESERVED or not _NAME.match(name):
            raise FrameError("model.error.bad_extra", path=where, name=name)
    if set(mapping.extra_categorical) & set(mapping.extra_numeric):
        name = sorted(set(mapping.extra_categorical) & set(mapping.extra_numeric))[0]
        raise FrameError("model.error.bad_extra", path=where, name=name)
    for name in mapping.labels:
        if name not in LABELS:
            raise FrameError("model.error.unknown_field", path=where, name=name, known=", ".join(LABELS))
    return mapping


# --- normalisation (every source ends here) -------------------------------------------------


def hs_digits(codes: pd.Series) -> pd.Series:
    """HS codes as digit strings left-padded to 6 (a spreadsheet may have dropped a leading 0)."""
    code, uniques = pd.factorize(codes, use_na_sentinel=True)
    texts = np.array([hs_digits_one(u) for u in uniques] + [""], dtype=object)
    return pd.Series(texts[code], index=codes.index, dtype=object)


def hs_digits_one(code: Any) -> str:
    if isinstance(code, float):
        code = _text(code) if code == code else ""
    digits = "".join(ch for ch in str(code if code is not None else "") if ch.isdigit())
    return digits.zfill(6) if digits else ""


def _categorical(values: pd.Series) -> pd.Series:
    """Stripped text, ``""`` for missing; each distinct value is converted once (no per-row work)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.array(["" if u is None else _text(u).strip() for u in uniques] + [""], dtype=object)
    return pd.Series(texts[codes], index=values.index, dtype=object)  # code -1 (missing) -> ""


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 30.0 read by a spreadsheet stays office "30"
    return str(value)


def _numeric(values: pd.Series, positive: bool) -> pd.Series:
    if not pd.api.types.is_numeric_dtype(values):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        numbers = np.array([_number(u) for u in uniques] + [np.nan], dtype=float)
        values = pd.Series(numbers[codes], index=values.index)
    out = pd.to_numeric(values, errors="coerce").astype(float)
    out = out.where(np.isfinite(out))
    if positive:
        out = out.where(out > 0)
    return out


def _number(value: Any) -> float:
    if value is None:
        return np.nan
    if isinstance(value, (int, float, Decimal, np.number)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return np.nan


def normalize(frame: pd.DataFrame, *, extra_categorical: Iterable[str] = (), extra_numeric: Iterable[str] = ()) -> pd.DataFrame:
    """The canonical frame from a frame holding some canonical columns (missing ones are filled)."""
    n = len(frame)
    out: dict[str, Any] = {}
    ids = _categorical(frame["id"]) if "id" in frame else pd.Series([str(i) for i in range(n)], index=frame.index)
    out["id"] = ids
    out["declaration"] = _categorical(frame["declaration"]) if "declaration" in frame else ids
    out["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]") if "date" in frame else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for name in (*CATEGORICAL, *extra_categorical):
        out[name] = _categorical(frame[name]) if name in frame else pd.Series("", index=frame.index, dtype=object)
    hs = hs_digits(out["hs_code"])
    out["hs_code"] = hs
    for name, width in (("hs6", 6), ("hs4", 4), ("hs2", 2)):
        code, uniques = pd.factorize(hs)
        out[name] = pd.Series(np.array([u[:width] for u in uniques] + [""], dtype=object)[code], index=hs.index, dtype=object)
    for name in (*NUMERIC, *extra_numeric):
        out[name] = _numeric(frame[name], name in POSITIVE) if name in frame else pd.Series(np.nan, index=frame.index, dtype=float)
    if "fraud" in frame:
        out["fraud"] = _numeric(frame["fraud"], False)
    if "recovered" in frame:
        out["recovered"] = _numeric(frame["recovered"], False).clip(lower=0).fillna(0.0)
    result = pd.DataFrame(out, index=frame.index).reset_index(drop=True)
    result.attrs = dict(frame.attrs)
    return result


def frame_from_records(records: list[dict[str, Any]], **extras: Any) -> pd.DataFrame:
    """The canonical frame of records holding canonical names (e.g. ``records_from_subject``)."""
    return normalize(pd.DataFrame.from_records(records), **extras)


# --- CSV extracts through a mapping ---------------------------------------------------------

_TRUE = {"1", "true", "yes", "oui", "y", "o", "t", "vrai"}
_FALSE = {"0", "false", "no", "non", "n", "f", "faux", ""}


def read_csv(paths: Iterable[Path], mapping: RiskMapping, *, labels: bool = False) -> pd.DataFrame:
    """The canonical frame of one or more CSV extracts (same mapping), concatenated in order.

    With ``labels=False`` (scoring) the label columns are neither needed nor read.
    """
    frames = [_read_one(Path(p), mapping, labels) for p in paths]
    if not frames:
        raise FrameError("model.error.no_data")
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    frame = normalize(frame, extra_categorical=tuple(mapping.extra_categorical), extra_numeric=tuple(mapping.extra_numeric))
    frame.attrs["mapping"] = mapping.name
    return frame


def _read_one(path: Path, mapping: RiskMapping, labels: bool) -> pd.DataFrame:
    if not path.is_file():
        raise FrameError("model.error.no_file", path=str(path))
    wanted: dict[str, str] = {**mapping.columns, **mapping.extra_categorical, **mapping.extra_numeric}
    if labels:
        wanted.update(mapping.labels)
    options = {"sep": mapping.csv.delimiter, "encoding": mapping.csv.encoding, "dtype": str, "keep_default_na": False, "na_filter": False}
    try:
        header = pd.read_csv(path, nrows=0, **options).columns
        missing = [col for col in wanted.values() if col not in header]
        if missing:
            raise FrameError("model.error.missing_column", path=str(path), column=missing[0])
        raw = pd.read_csv(path, usecols=sorted(set(wanted.values())), **options)
    except FrameError:
        raise
    except (UnicodeDecodeError, LookupError) as exc:
        raise FrameError("model.error.unreadable", path=str(path), detail=type(exc).__name__) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise FrameError("model.error.unreadable", path=str(path), detail=" ".join(str(exc).split())[:200]) from None
    frame = pd.DataFrame({name: raw[col] for name, col in wanted.items()})
    if mapping.csv.decimal == ",":
        for name in (*NUMERIC, *mapping.extra_numeric, "recovered"):
            if name in frame:
                frame[name] = frame[name].str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    frame["date"] = _dates(frame["date"], mapping.date_format, path)
    if "fraud" in frame:
        frame["fraud"] = _fraud(frame["fraud"], path)
    return frame


def _dates(values: pd.Series, fmt: str | None, path: Path) -> pd.Series:
    text = values.str.strip()
    if fmt:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    else:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = parsed.isna() | (parsed < pd.Timestamp("1900-01-01")) | (parsed >= pd.Timestamp("2200-01-01"))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise FrameError("model.error.bad_date", path=str(path), line=row + 2, value=str(values.iloc[row])[:40])
    return parsed.dt.normalize().astype("datetime64[ns]")


def _fraud(values: pd.Series, path: Path) -> pd.Series:
    """0/1 labels; an empty cell means "not inspected" (NaN, left out of training)."""
    text = values.str.strip().str.lower()
    number = pd.to_numeric(text, errors="coerce")
    out = pd.Series(np.nan, index=values.index, dtype=float)
    out[number.notna()] = (number[number.notna()] > 0).astype(float)
    out[text.isin(_TRUE - {"1"})] = 1.0
    out[text.isin(_FALSE - {"0", ""})] = 0.0
    bad = out.isna() & (text != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise FrameError("model.error.bad_label", path=str(path), line=row + 2, value=str(values.iloc[row])[:40])
    return out


# --- a declaration being lodged -------------------------------------------------------------


def records_from_subject(subject: "AssessmentInput") -> list[dict[str, Any]]:
    """One canonical record per goods item of a declaration being lodged (no labels)."""
    d = subject.declaration
    seller = d.exporter.id or d.exporter.name
    departure = d.exporter.country or ""
    when = datetime(subject.registration_date.year, subject.registration_date.month, subject.registration_date.day)
    records = []
    for item, facts in zip(d.goods_items, subject.items):
        value = float(facts.customs_value)
        duty = float(facts.duty_total)
        records.append(
            {
                "id": f"{d.lrn}/{item.sequence}",
                "declaration": d.lrn,
                "date": when,
                "office": d.office_code,
                "procedure": item.procedure_code or d.procedure_code,
                "importer": d.importer.id,
                "declarant": d.declarant.id,
                "seller": seller,
                "carrier": "",
                "hs_code": item.hs_code,
                "origin": item.origin_country,
                "departure": departure,
                "transport_mode": str(d.transport_mode_code),
                "tax_type": item.duty_regime,
                "origin_indicator": "",
                "net_mass": float(item.net_mass),
                "gross_mass": float(item.gross_mass),
                "quantity": float(item.supplementary_quantity) if item.supplementary_quantity is not None else None,
                "value": value,
                "duty": duty,
                "tax_rate": round(100.0 * duty / value, 4) if value > 0 else None,
            }
        )
    return records


# --- the node's store -----------------------------------------------------------------------


def frame_from_store(conn: "Connection", *, since: date | None = None, until: date | None = None, inspected_only: bool = True) -> pd.DataFrame:
    """Training rows from the store: one per goods item, labels from the latest inspection.

    ``fraud`` is the declaration's ``fraud_found`` on every one of its items (NaN when it was
    never inspected, only with ``inspected_only=False``); the declaration's ``extra_duty`` is
    spread over its items in proportion to their duty (their customs value when no duty was
    due, equal shares when neither is known). Rejected declarations are left out.
    """
    latest = (
        select(ev.c.declaration_id, func.max(ev.c.id).label("event_id"))
        .where(ev.c.kind == "inspected")
        .group_by(ev.c.declaration_id)
        .subquery()
    )
    rejected = select(ev.c.declaration_id).where(ev.c.kind == "rejected")
    query = (
        select(
            dt.c.id,
            dt.c.registration_date,
            dt.c.office_code,
            dt.c.procedure_code,
            dt.c.importer_id,
            dt.c.declarant_id,
            dt.c.transport_mode_code,
            dt.c.document,
            latest.c.event_id,
        )
        .select_from(dt.outerjoin(latest, latest.c.declaration_id == dt.c.id))
        .where(dt.c.id.not_in(rejected))
        .order_by(dt.c.registration_date, dt.c.id)
    )
    if inspected_only:
        query = query.where(latest.c.event_id.is_not(None))
    if since is not None:
        query = query.where(dt.c.registration_date >= since)
    if until is not None:
        query = query.where(dt.c.registration_date <= until)
    heads = conn.execute(query).all()
    event_ids = [h.event_id for h in heads if h.event_id is not None]
    findings: dict[int, dict[str, Any]] = {}
    for chunk in range(0, len(event_ids), 500):
        part = event_ids[chunk : chunk + 500]
        for row in conn.execute(select(ev.c.declaration_id, ev.c.data).where(ev.c.id.in_(part))):
            findings[row.declaration_id] = row.data or {}
    ids = [h.id for h in heads]
    items: dict[int, list[Any]] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        rows = conn.execute(
            select(
                gi.c.declaration_id,
                gi.c.sequence,
                gi.c.hs_code,
                gi.c.origin_country,
                gi.c.procedure_code,
                gi.c.duty_regime,
                gi.c.net_mass,
                gi.c.gross_mass,
                gi.c.supplementary_quantity,
                gi.c.customs_value,
                gi.c.duty_total,
            )
            .where(and_(gi.c.declaration_id.in_(part)))
            .order_by(gi.c.declaration_id, gi.c.sequence)
        )
        for row in rows:
            items.setdefault(row.declaration_id, []).append(row)
    records: list[dict[str, Any]] = []
    for head in heads:
        document = head.document or {}
        exporter = document.get("exporter") or {}
        found = findings.get(head.id)
        fraud = (1.0 if found.get("fraud_found") else 0.0) if found is not None else np.nan
        extra = _decimal((found or {}).get("extra_duty")) if found is not None else Decimal(0)
        rows = items.get(head.id, [])
        shares = _shares([r.duty_total for r in rows], [r.customs_value for r in rows])
        when = datetime(head.registration_date.year, head.registration_date.month, head.registration_date.day)
        for row, share in zip(rows, shares):
            value = float(row.customs_value)
            duty = float(row.duty_total)
            records.append(
                {
                    "id": f"{head.id}/{row.sequence}",
                    "declaration": str(head.id),
                    "date": when,
                    "office": head.office_code,
                    "procedure": row.procedure_code,
                    "importer": head.importer_id,
                    "declarant": head.declarant_id,
                    "seller": exporter.get("id") or exporter.get("name") or "",
                    "carrier": "",
                    "hs_code": row.hs_code,
                    "origin": row.origin_country,
                    "departure": exporter.get("country") or "",
                    "transport_mode": str(head.transport_mode_code),
                    "tax_type": row.duty_regime,
                    "origin_indicator": "",
                    "net_mass": float(row.net_mass),
                    "gross_mass": float(row.gross_mass),
                    "quantity": float(row.supplementary_quantity) if row.supplementary_quantity is not None else None,
                    "value": value,
                    "duty": duty,
                    "tax_rate": round(100.0 * duty / value, 4) if value > 0 else None,
                    "fraud": fraud,
                    "recovered": float(extra * share),
                }
            )
    if not records:
        empty = normalize(pd.DataFrame({"id": pd.Series([], dtype=object), "date": pd.Series([], dtype="datetime64[ns]"), "fraud": pd.Series([], dtype=float), "recovered": pd.Series([], dtype=float)}))
        empty.attrs["mapping"] = "store"
        return empty
    frame = frame_from_records(records)
    frame.attrs["mapping"] = "store"
    return frame


def _decimal(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value if value is not None else "0"))
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() and amount > 0 else Decimal(0)


def _shares(duties: list[Decimal], values: list[Decimal]) -> list[Decimal]:
    for weights in (duties, values):
        total = sum((w for w in weights if w > 0), Decimal(0))
        if total > 0:
            return [(w / total if w > 0 else Decimal(0)) for w in weights]
    return [Decimal(1) / len(duties)] * len(duties) if duties else []
