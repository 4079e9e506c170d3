"""Dated exchange rates of one administration.

A rate is how many units of the national currency one unit of a foreign currency buys, in force
from its ``valid_from`` date until the next rate of the same currency. XOF and XAF are pegged to
the euro at 655.957 (and so to each other at par): those rates are built in and cannot be loaded.
"""

from __future__ import annotations

import bisect
import csv
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterable

from avance.kit.money import is_currency

EURO_PEG = Decimal("655.957")
PEGGED_TO_EURO = frozenset({"XOF", "XAF"})


@dataclass(frozen=True, slots=True)
class Rate:
    currency: str
    valid_from: date
    rate: Decimal


class NoExchangeRate(LookupError):
    def __init__(self, currency: str, on: date) -> None:
        super().__init__(currency, on)
        self.currency = currency
        self.on = on


class RateFileError(ValueError):
    """A rate file row is wrong; ``row`` is its 1-based line number, ``code`` a catalog key."""

    def __init__(self, row: int, code: str, **params: object) -> None:
        super().__init__(row, code, params)
        self.row = row
        self.code = code
        self.params = params


def fixed_rates(national: str) -> dict[str, Decimal]:
    """Rates fixed by treaty for ``national`` (the CFA franc pegs)."""
    if national in PEGGED_TO_EURO:
        fixed = {"EUR": EURO_PEG}
        for other in PEGGED_TO_EURO - {national}:
            fixed[other] = Decimal(1)
        return fixed
    return {}


class RateTable:
    """The exchange-rate table of one administration, looked up by currency and date."""

    def __init__(self, national: str, rates: Iterable[Rate] = ()) -> None:
        self.national = national
        self._fixed = fixed_rates(national)
        series: dict[str, list[tuple[date, Decimal]]] = {}
        for r in rates:
            series.setdefault(r.currency, []).append((r.valid_from, r.rate))
        self._dates: dict[str, list[date]] = {}
        self._values: dict[str, list[Decimal]] = {}
        for currency, points in series.items():
            points.sort()
            self._dates[currency] = [d for d, _ in points]
            self._values[currency] = [v for _, v in points]

    def rate(self, currency: str, on: date) -> Decimal:
        """National-currency units for one unit of ``currency`` on date ``on``."""
        if currency == self.national:
            return Decimal(1)
        fixed = self._fixed.get(currency)
        if fixed is not None:
            return fixed
        dates = self._dates.get(currency)
        if dates:
            i = bisect.bisect_right(dates, on) - 1
            if i >= 0:
                return self._values[currency][i]
        raise NoExchangeRate(currency, on)

    def convert(self, amount: Decimal, currency: str, on: date) -> Decimal:
        """``amount`` of ``currency`` in the national currency (not rounded)."""
        return amount * self.rate(currency, on)

    def currencies(self) -> list[str]:
        return sorted(set(self._dates) | set(self._fixed) | {self.national})


def parse_rate_file(path: Path, national: str) -> list[Rate]:
    """Read a CSV ``currency,rate,valid_from`` (UTF-8, header row); raise RateFileError on a bad row."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise RateFileError(0, "rates.unreadable", path=str(path), reason=exc.strerror or str(exc)) from None
    rates: list[Rate] = []
    seen: set[tuple[str, date]] = set()
    with handle:
        reader = csv.DictReader(handle)
        missing = {"currency", "rate", "valid_from"} - set(reader.fieldnames or [])
        if missing:
            raise RateFileError(1, "rates.missing_columns", columns=sorted(missing))
        for row_number, row in enumerate(reader, start=2):
            currency = (row.get("currency") or "").strip().upper()
            if not is_currency(currency):
                raise RateFileError(row_number, "rates.unknown_currency", currency=currency)
            if currency == national or currency in fixed_rates(national):
                raise RateFileError(row_number, "rates.fixed_currency", currency=currency)
            try:
                value = Decimal((row.get("rate") or "").strip())
            except InvalidOperation:
                raise RateFileError(row_number, "rates.bad_rate", value=row.get("rate")) from None
            if not value.is_finite() or value <= 0:
                raise RateFileError(row_number, "rates.bad_rate", value=row.get("rate"))
            try:
                valid_from = date.fromisoformat((row.get("valid_from") or "").strip())
            except ValueError:
                raise RateFileError(row_number, "rates.bad_date", value=row.get("valid_from")) from None
            if (currency, valid_from) in seen:
                raise RateFileError(row_number, "rates.duplicate", currency=currency, date=valid_from)
            seen.add((currency, valid_from))
            rates.append(Rate(currency, valid_from, value))
    return rates
