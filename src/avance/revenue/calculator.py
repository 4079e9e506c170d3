"""Duties and taxes of an imported item: a country profile and a schedule in, a breakdown out.

Pure: no I/O, no clock, no float. Each line's amount is ``round_money(base × rate / 100)`` in the
profile's currency; a base that names another line adds that line's *rounded* amount; the total
is the sum of the rounded lines (section 1 of the tariff reference).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, localcontext
from typing import Any

from avance.kit.money import round_money
from avance.revenue.profiles import (
    SCHEDULE_DUTY,
    SCHEDULE_EXCISE,
    SCHEDULE_VAT,
    CountryProfile,
    ProfileLine,
    ResolvedBase,
)
from avance.revenue.schedule import Schedule, TariffLine

ZERO = Decimal(0)
MAX_VALUE = Decimal(10) ** 18
MAX_DECIMALS = 6
"""Declared values are below 10^18 with at most 6 decimals, so every computation stays exact."""
_EXACT = Context(prec=60)
_HS_CODE = re.compile(r"[0-9]{6,10}")
_COUNTRY = re.compile(r"[A-Z]{2}")


class InvalidDutyInput(ValueError):
    """An item cannot be assessed as given (bad HS code, origin or value)."""


class NoTariffLine(LookupError):
    """The schedule has no line for ``hs_code`` in force on ``date``."""

    def __init__(self, hs_code: str, date: date) -> None:
        super().__init__(hs_code, date)
        self.hs_code = hs_code
        self.date = date

    def __str__(self) -> str:
        return f"no tariff line covers HS code {self.hs_code} on {self.date.isoformat()}"


@dataclass(frozen=True, slots=True)
class DutyItemInput:
    """One item of a declaration, as the calculator needs it. Values are in national currency."""

    hs_code: str  # 6-10 digits
    origin_country: str  # ISO 3166 alpha-2
    customs_value: Decimal  # CIF, in the national currency
    fob_value: Decimal  # in the national currency
    preference_claimed: bool = False  # community preference claimed on the declaration

    def __post_init__(self) -> None:
        if not isinstance(self.hs_code, str) or not _HS_CODE.fullmatch(self.hs_code):
            raise InvalidDutyInput(f"hs_code must be 6 to 10 digits, not {self.hs_code!r}")
        if not isinstance(self.origin_country, str) or not _COUNTRY.fullmatch(self.origin_country):
            raise InvalidDutyInput(f"origin_country must be an ISO 3166 alpha-2 code, not {self.origin_country!r}")
        for name in ("customs_value", "fob_value"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise InvalidDutyInput(f"{name} must be a finite Decimal, zero or more, not {value!r}")
            if value >= MAX_VALUE or value.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
                raise InvalidDutyInput(f"{name} must be below 10^18 with at most {MAX_DECIMALS} decimals, not {value}")


@dataclass(frozen=True, slots=True)
class DutyLine:
    """One computed duty or tax. ``rate`` is percent; it is None only on a combined line whose
    items had different rates."""

    code: str
    name_fr: str
    name_en: str
    base: Decimal
    rate: Decimal | None
    amount: Decimal

    def name(self, lang: str) -> str:
        if lang == "fr":
            return self.name_fr
        if lang == "en":
            return self.name_en
        raise ValueError(f"unsupported language {lang!r}: use 'fr' or 'en'")

    def to_dict(self, lang: str) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name(lang),
            "base": decimal_text(self.base),
            "rate": None if self.rate is None else rate_text(self.rate),
            "amount": decimal_text(self.amount),
        }


@dataclass(frozen=True, slots=True)
class DutyBreakdown:
    """The duties and taxes of an item (or, combined, of a declaration)."""

    country: str
    date: date
    currency: str
    customs_value: Decimal
    lines: tuple[DutyLine, ...]
    total: Decimal

    def line(self, code: str) -> DutyLine | None:
        """The line ``code``, or None when it was not due."""
        return next((line for line in self.lines if line.code == code), None)

    def codes(self) -> tuple[str, ...]:
        return tuple(line.code for line in self.lines)

    def to_dict(self, lang: str) -> dict[str, Any]:
        """JSON-ready: rates in percent, Decimal values as strings, the date in ISO form."""
        return {
            "country": self.country,
            "date": self.date.isoformat(),
            "currency": self.currency,
            "customs_value": decimal_text(self.customs_value),
            "lines": [line.to_dict(lang) for line in self.lines],
            "total": decimal_text(self.total),
        }


def decimal_text(value: Decimal) -> str:
    """Plain notation with the value's own decimals: ``2201400``, ``123.40`` (never ``1E+3``)."""
    text = str(value)  # plain already for the rounded amounts this module makes; cheaper than format
    return format(value, "f") if "E" in text else text


def rate_text(value: Decimal) -> str:
    """A rate without trailing zeros: ``20``, ``0.8``, ``19.25``."""
    return format(value.normalize(), "f")


class _Plan:
    """A profile's lines with their resolved bases, and bloc membership answers remembered.

    Profiles are immutable, so what is derived from one can be kept for the process's life; this
    keeps the hot path of bulk imports off Pydantic's private-attribute lookups.
    """

    def __init__(self, profile: CountryProfile) -> None:
        self.profile = profile
        self.lines = tuple(zip(profile.lines, profile.resolved_bases))
        self._member: dict[tuple[str, str, date], bool] = {}
        self._preference: dict[tuple[str, date], bool] = {}
        self._lines_on: dict[date, tuple[tuple[ProfileLine, ResolvedBase, Decimal | str], ...]] = {}
        self._vat: dict[date, Decimal | None] = {}

    def lines_on(self, on: date) -> tuple[tuple[ProfileLine, ResolvedBase, Decimal | str], ...]:
        """The lines switched on and due on ``on`` (their rate has a value then), with that rate or rate source."""
        known = self._lines_on.get(on)
        if known is None:
            known = self._lines_on[on] = tuple(
                (spec, base, source)
                for spec, base in self.lines
                if spec.enabled and (source := spec.rate_on(on)) is not None
            )
        return known

    def standard_vat(self, on: date) -> Decimal | None:
        if on not in self._vat:
            self._vat[on] = self.profile.standard_vat_rate_on(on)
        return self._vat[on]

    def member(self, bloc: str, country: str, on: date) -> bool:
        key = (bloc, country, on)
        known = self._member.get(key)
        if known is None:
            known = self._member[key] = self.profile.blocs.is_member(bloc, country, on)
        return known

    def preference(self, origin: str, on: date) -> bool:
        key = (origin, on)
        known = self._preference.get(key)
        if known is None:
            known = self._preference[key] = self.profile.grants_preference(origin, on)
        return known


_PLANS: dict[int, _Plan] = {}


def _plan(profile: CountryProfile) -> _Plan:
    plan = _PLANS.get(id(profile))
    if plan is None or plan.profile is not profile:
        plan = _PLANS[id(profile)] = _Plan(profile)
    return plan


def compute_duties(profile: CountryProfile, schedule: Schedule, item: DutyItemInput, on: date) -> DutyBreakdown:
    """The duties and taxes due on ``item`` declared on ``on``; raises NoTariffLine."""
    tariff = schedule.lookup(item.hs_code, on)
    if tariff is None:
        raise NoTariffLine(item.hs_code, on)
    plan = _plan(profile)
    currency = profile.currency
    origin = item.origin_country
    preference = item.preference_claimed and plan.preference(origin, on)
    values = {"CV": item.customs_value, "FOB": item.fob_value}
    amounts: dict[str, Decimal] = {}
    lines: list[DutyLine] = []
    with localcontext(_EXACT):  # 60 digits: the sums and products below are exact
        for spec, base_spec, source in plan.lines_on(on):
            if spec.origin_outside and any(plan.member(bloc, origin, on) for bloc in spec.origin_outside):
                continue
            if spec.exclude_hs_prefixes and item.hs_code.startswith(spec.exclude_hs_prefixes):
                continue
            rate = _rate(spec, source, tariff, plan.standard_vat(on), preference)
            if rate is None:
                continue
            base = _base(base_spec, values, amounts)
            amount = round_money((base * rate).scaleb(-2), currency)
            amounts[spec.code] = amount
            lines.append(DutyLine(spec.code, spec.name.fr, spec.name.en, base, rate, amount))
    total = round_money(ZERO, currency)
    for line in lines:
        total += line.amount
    return DutyBreakdown(profile.country, on, currency, item.customs_value, tuple(lines), total)


def _base(spec: ResolvedBase, values: dict[str, Decimal], amounts: dict[str, Decimal]) -> Decimal:
    """Declared values, plus the rounded amounts of the lines named (0 when not due), plus, for
    "every line except", every line computed so far but the excepted ones."""
    base = ZERO
    for term in spec.values:
        base += values[term]
    for code in spec.lines:
        base += amounts.get(code, ZERO)
    if spec.every_line_except is not None:
        for code, amount in amounts.items():
            if code not in spec.every_line_except:
                base += amount
    return base


def _rate(spec: ProfileLine, source: Decimal | str, tariff: TariffLine, standard_vat: Decimal | None, preference: bool) -> Decimal | None:
    if isinstance(source, Decimal):
        rate = source
    elif source == SCHEDULE_DUTY:
        rate = ZERO if preference else tariff.duty_rate
    elif source == SCHEDULE_EXCISE:
        rate = tariff.excise_rate
    elif source == SCHEDULE_VAT:  # no VAT in force that day (no standard rate): no VAT line, exempt or not
        rate = None if standard_vat is None else tariff.vat_rate if tariff.vat_rate is not None else standard_vat
    else:  # pragma: no cover - the profile model admits no other source
        raise AssertionError(source)
    if rate is not None and spec.exempt_with_vat and tariff.vat_rate is not None and tariff.vat_rate == 0:
        return ZERO
    return rate


def combine(breakdowns: Sequence[DutyBreakdown]) -> DutyBreakdown:
    """A declaration's duties: the items' lines summed per code (bases too).

    Lines keep the items' order: every item lists its lines in profile order, so the combined
    order respects each item's (a code missing from some items goes where the others place it;
    between codes no item orders, first seen comes first). A combined line keeps its rate when
    every item that has the line shares it; else its rate is None (``null`` in ``to_dict``), as
    the items were taxed at different rates. The customs value and the total are summed too.
    Every breakdown must have the same country, date and currency.
    """
    if not breakdowns:
        raise ValueError("combine needs at least one breakdown")
    first = breakdowns[0]
    for other in breakdowns[1:]:
        if (other.country, other.date, other.currency) != (first.country, first.date, first.currency):
            raise ValueError("combine needs breakdowns of the same country, date and currency")
    grouped: dict[str, list[DutyLine]] = {}
    for breakdown in breakdowns:
        for line in breakdown.lines:
            grouped.setdefault(line.code, []).append(line)
    order = _merge_orders([breakdown.codes() for breakdown in breakdowns], list(grouped))
    lines = tuple(_sum_lines(grouped[code]) for code in order)
    total = round_money(ZERO, first.currency)
    customs_value = ZERO
    for breakdown in breakdowns:
        total += breakdown.total
        customs_value += breakdown.customs_value
    return DutyBreakdown(first.country, first.date, first.currency, customs_value, lines, total)


def _merge_orders(sequences: list[tuple[str, ...]], first_seen: list[str]) -> list[str]:
    """One order consistent with every sequence (topological sort, ties by first appearance)."""
    rank = {code: i for i, code in enumerate(first_seen)}
    after: dict[str, set[str]] = {code: set() for code in first_seen}
    pending = dict.fromkeys(first_seen, 0)
    for sequence in sequences:
        for earlier, later in zip(sequence, sequence[1:]):
            if later not in after[earlier]:
                after[earlier].add(later)
                pending[later] += 1
    ready = [code for code in first_seen if pending[code] == 0]
    order: list[str] = []
    while ready:
        ready.sort(key=rank.__getitem__)
        code = ready.pop(0)
        order.append(code)
        for later in after[code]:
            pending[later] -= 1
            if pending[later] == 0:
                ready.append(later)
    order.extend(code for code in first_seen if code not in order)  # only on contradictory orders
    return order


def _sum_lines(same: list[DutyLine]) -> DutyLine:
    head = same[0]
    rate = head.rate if all(line.rate == head.rate for line in same) else None
    base = sum((line.base for line in same[1:]), head.base)
    amount = sum((line.amount for line in same[1:]), head.amount)
    return DutyLine(head.code, head.name_fr, head.name_en, base, rate, amount)
