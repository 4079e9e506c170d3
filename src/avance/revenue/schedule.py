"""National tariff schedules: the duty, excise and VAT rates of each HS line, with validity dates.

The exchange format is the CSV of ``docs/tariffs.md`` (section 5 of the tariff reference)::

    hs_code,description,duty_rate,excise_rate,vat_rate,valid_from,valid_to

A row's ``hs_code`` (6 to 12 digits) covers every longer code beneath it; the longest row whose
validity covers the declaration date wins. Rates are ``Decimal`` percent.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from avance.kit.i18n import t

HEADER: tuple[str, ...] = ("hs_code", "description", "duty_rate", "excise_rate", "vat_rate", "valid_from", "valid_to")
OVERRIDE_ENV = "AVANCE_TARIFF_DIR"
"""A directory whose ``schedules/<CC>.csv`` replaces the shipped schedule of country CC."""

_HS_CODE = re.compile(r"[0-9]{6,12}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class TariffLine:
    """One row of a schedule. Rates are percent; ``None`` excise = no excise, ``None`` VAT = standard rate."""

    hs_code: str
    description: str
    duty_rate: Decimal
    excise_rate: Decimal | None
    vat_rate: Decimal | None
    valid_from: date | None
    valid_to: date | None

    def in_force(self, on: date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (self.valid_to is None or on <= self.valid_to)


class ScheduleError(ValueError):
    """A schedule cannot be used. ``row`` is the 1-based line of the file (header = 1) or None;
    ``code`` is a key of the catalogs' ``revenue.*`` messages (without the prefix) and ``params``
    its placeholders."""

    def __init__(self, source: str, row: int | None, code: str, **params: Any) -> None:
        super().__init__(source, row, code, params)
        self.source = source
        self.row = row
        self.code = code
        self.params = params

    def reason(self, lang: str = "en") -> str:
        return t("revenue." + self.code, lang, **self.params)

    def __str__(self) -> str:
        where = f"{self.source} row {self.row}" if self.row is not None else self.source
        return f"{where}: {self.reason('en')}"


class Schedule:
    """An immutable set of tariff lines, looked up by HS code and date."""

    __slots__ = ("source", "_rows", "_lengths", "_count")

    def __init__(self, lines: Iterable[TariffLine], source: str = "<memory>") -> None:
        rows: dict[str, list[TariffLine]] = {}
        for line in lines:
            rows.setdefault(line.hs_code, []).append(line)
        for code, same in rows.items():
            same.sort(key=_start)
            for earlier, later in zip(same, same[1:]):
                if _overlap(earlier, later):
                    periods = {"first": _period(earlier), "second": _period(later)}
                    raise ScheduleError(source, None, "schedule.overlap_periods", hs_code=code, **periods)
        self.source = source
        self._rows: dict[str, tuple[TariffLine, ...]] = {code: tuple(same) for code, same in rows.items()}
        self._lengths: tuple[int, ...] = tuple(sorted({len(code) for code in rows}, reverse=True))
        self._count = sum(len(same) for same in rows.values())

    def lookup(self, hs_code: str, on: date) -> TariffLine | None:
        """The row of the longest prefix of ``hs_code`` in force on ``on``, or None."""
        rows = self._rows
        size = len(hs_code)
        for length in self._lengths:
            if length > size:
                continue
            candidates = rows.get(hs_code[:length])
            if candidates is not None:
                for line in candidates:  # inlined TariffLine.in_force: this is the hot path
                    start, end = line.valid_from, line.valid_to
                    if (start is None or start <= on) and (end is None or on <= end):
                        return line
        return None

    def __iter__(self) -> Iterator[TariffLine]:
        for same in self._rows.values():
            yield from same

    def __len__(self) -> int:
        return self._count

    def codes(self) -> frozenset[str]:
        return frozenset(self._rows)

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> Schedule:
        """Read a schedule file; raises ScheduleError naming the row and the reason."""
        path = Path(path)
        source = path.name
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                return cls._parse(handle, source)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ScheduleError(source, None, "schedule.unreadable", detail=_describe(exc)) from None

    @classmethod
    def default(cls, country: str) -> Schedule:
        """The schedule of ``country``: ``$AVANCE_TARIFF_DIR/schedules/<CC>.csv`` if present, else the shipped one."""
        country = country.upper()
        return _default(country, os.environ.get(OVERRIDE_ENV) or None)

    @classmethod
    def _parse(cls, handle: TextIO, source: str) -> Schedule:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(cell.strip() for cell in header) != HEADER:
            raise ScheduleError(source, 1, "schedule.bad_header", expected=",".join(HEADER))
        lines: list[TariffLine] = []
        seen: dict[str, list[tuple[int, TariffLine]]] = {}
        for record in reader:
            row = reader.line_num  # the file's line number: a quoted multi-line cell counts its lines
            if not record or all(not cell.strip() for cell in record):
                continue
            line = _parse_row(record, row, source)
            for other_row, other in seen.get(line.hs_code, []):
                if _overlap(other, line):
                    raise ScheduleError(source, row, "schedule.overlap", hs_code=line.hs_code, other_row=other_row)
            seen.setdefault(line.hs_code, []).append((row, line))
            lines.append(line)
        return cls(lines, source)


def _parse_row(record: list[str], row: int, source: str) -> TariffLine:
    if len(record) != len(HEADER):
        raise ScheduleError(source, row, "schedule.bad_columns", expected=len(HEADER), found=len(record))
    code, description, duty, excise, vat, valid_from, valid_to = (cell.strip() for cell in record)
    if not _HS_CODE.fullmatch(code):
        raise ScheduleError(source, row, "schedule.bad_hs_code", value=code)
    duty_rate = _rate(duty, "duty_rate", row, source)
    if duty_rate is None:
        raise ScheduleError(source, row, "schedule.missing_rate", column="duty_rate")
    start = _date(valid_from, "valid_from", row, source)
    end = _date(valid_to, "valid_to", row, source)
    if start is not None and end is not None and end < start:
        raise ScheduleError(source, row, "schedule.bad_period", valid_from=start, valid_to=end)
    return TariffLine(
        hs_code=code,
        description=description,
        duty_rate=duty_rate,
        excise_rate=_rate(excise, "excise_rate", row, source),
        vat_rate=_rate(vat, "vat_rate", row, source),
        valid_from=start,
        valid_to=end,
    )


def _rate(text: str, column: str, row: int, source: str) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ScheduleError(source, row, "schedule.bad_rate", column=column, value=text) from None
    if not value.is_finite():
        raise ScheduleError(source, row, "schedule.bad_rate", column=column, value=text)
    if value < 0:
        raise ScheduleError(source, row, "schedule.negative_rate", column=column, value=text)
    return value


def _date(text: str, column: str, row: int, source: str) -> date | None:
    if not text:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ScheduleError(source, row, "schedule.bad_date", column=column, value=text) from None


def _start(line: TariffLine) -> date:
    return line.valid_from or date.min


def _overlap(a: TariffLine, b: TariffLine) -> bool:
    """True when the validity periods of ``a`` and ``b`` share at least one day."""
    return _start(a) <= (b.valid_to or date.max) and _start(b) <= (a.valid_to or date.max)


def _period(line: TariffLine) -> str:
    return f"{line.valid_from or '…'}/{line.valid_to or '…'}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


@lru_cache(maxsize=None)
def _default(country: str, override: str | None) -> Schedule:
    if not _COUNTRY.fullmatch(country):
        raise ScheduleError(f"{country}.csv", None, "schedule.not_shipped", country=country)
    if override:
        candidate = Path(override) / "schedules" / f"{country}.csv"
        if candidate.is_file():
            return Schedule.from_csv(candidate)
    shipped = Path(__file__).resolve().parent / "schedules" / f"{country}.csv"
    if not shipped.is_file():
        raise ScheduleError(f"{country}.csv", None, "schedule.not_shipped", country=country)
    return Schedule.from_csv(shipped)
