"""The value-control file as analysts keep it: lines checked one by one, and the CSV file read and
written.

ASYCUDA's value-control file is typed in by hand; analysts here keep theirs in a spreadsheet and
load it whole, so a file is refused whole with every bad line numbered (one bad line and nothing
is stored), and an exported file reads back the same. French spreadsheets save with ``;`` and
decimal commas: both are read. A line typed at the command line or sent to the API goes through
the same check (``override_from_fields``). Pure: storing the lines is ``service``'s work.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from avance.kit import csvsafe
from avance.kit.errors import Issue, ValidationFailed
from avance.reference import hs_nomenclature, is_country
from avance.risk.valuation.model import LARGEST_UNIT_VALUE, Override, plain

CSV_COLUMNS: tuple[str, ...] = ("hs", "origin", "unit", "min", "max", "valid_from", "valid_to", "note")
REQUIRED_COLUMNS = frozenset({"hs", "min", "max"})
MAX_NOTE = 500
_HS_PREFIX = re.compile(r"[0-9]{4,10}")
_UNIT = re.compile(r"[A-Z0-9]{1,3}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


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
            override, problems = override_from_fields(dict(zip(names, map(csvsafe.restore, record))), where=where, author=author, decimal_comma=delimiter == ";")
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
    writer = csvsafe.writer(buffer, lineterminator="\n")  # no cell a spreadsheet takes for a formula
    writer.writerow(CSV_COLUMNS)
    for o in overrides:
        d = o.to_dict()
        writer.writerow([d["hs"], d["origin"] or "", d["unit"] or "", d["min"] or "", d["max"] or "", d["valid_from"] or "", d["valid_to"] or "", d["note"] or ""])
    return buffer.getvalue()
