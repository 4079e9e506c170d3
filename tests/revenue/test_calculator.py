"""What the duty calculator does whatever the country: errors, declarations, JSON, properties.

The worked cases of each country (an item, a date, and every line expected, computed by hand)
are data next to the profiles, in ``profiles/cases/<CC>.yaml``, run by ``test_cases.py``. Here
remain what is not one country's case: refusals, combining items, the JSON form, the dated form
of the standard VAT rate, and properties over many items. Amounts worked by hand in comments
follow the same rule: amount = base × rate / 100, rounded half away from zero to the currency's
minor unit; a base that names another line adds that line's rounded amount.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avance.kit.money import minor_units, round_money
from avance.revenue import (
    DutyBreakdown,
    DutyItemInput,
    InvalidDutyInput,
    NoTariffLine,
    Schedule,
    combine,
    compute_duties,
    load_profile,
)
from avance.revenue.profiles import PACKAGE_DIR, profile_from_file

D = Decimal


def assess(
    country: str,
    hs: str,
    origin: str,
    value: str,
    on: date,
    *,
    fob: str | None = None,
    preference: bool = False,
) -> DutyBreakdown:
    item = DutyItemInput(hs, origin, D(value), D(fob if fob is not None else value), preference)
    return compute_duties(load_profile(country), Schedule.default(country), item, on)


def table(breakdown: DutyBreakdown) -> list[tuple[str, str, str | None, str]]:
    """(code, base, rate, amount) of every line, as the JSON output shows them."""
    return [(line["code"], line["base"], line["rate"], line["amount"]) for line in breakdown.to_dict("en")["lines"]]


# --- items, declarations, errors ------------------------------------------------------------------


def test_an_hs_code_without_a_schedule_line_is_reported():
    with pytest.raises(NoTariffLine) as caught:
        assess("SN", "999999", "FR", "1000", date(2026, 6, 1))
    assert caught.value.hs_code == "999999"
    assert caught.value.date == date(2026, 6, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hs_code": "87032"},  # too short
        {"hs_code": "87032310001"},  # 11 digits
        {"hs_code": "8703.23"},
        {"origin_country": "FRA"},
        {"origin_country": "fr"},
        {"customs_value": D("-1")},
        {"fob_value": D("NaN")},
        {"customs_value": 1000.0},  # a float is refused
        {"customs_value": D("1E18")},  # 19 integer digits
        {"fob_value": D("0.0000001")},  # 7 decimals
    ],
)
def test_an_item_that_cannot_be_assessed_is_refused(kwargs: dict):
    fields = {"hs_code": "870323", "origin_country": "FR", "customs_value": D("1000"), "fob_value": D("900")} | kwargs
    with pytest.raises(InvalidDutyInput):
        DutyItemInput(**fields)


def test_line_names_come_in_french_and_english():
    line = assess("SN", "870323", "FR", "1000", date(2026, 6, 1)).lines[0]
    assert line.name("fr") == "Droit de douane"
    assert line.name("en") == "Import duty"
    with pytest.raises(ValueError):
        line.name("de")


def test_a_declaration_total_sums_its_items_line_by_line():
    car = assess("SN", "8703231000", "FR", "10000000", date(2026, 6, 1))  # the worked example
    beer = assess("SN", "220300", "CI", "1000000", date(2026, 6, 1))
    # beer from CI: DD 200,000; RS 10,000; EXCISE 1,200,000 × 40% = 480,000;
    # VAT (1,000,000 + 200,000 + 10,000 + 480,000) = 1,690,000 × 18% = 304,200
    assert beer.total == D("994200")
    declaration = combine([car, beer])
    assert [(line["code"], line["base"], line["rate"], line["amount"]) for line in declaration.to_dict("fr")["lines"]] == [
        ("DD", "11000000", "20", "2200000"),  # 2,000,000 + 200,000 on 10,000,000 + 1,000,000
        ("RS", "11000000", "1", "110000"),  # 100,000 + 10,000
        ("PCS", "10000000", "0.8", "80000"),  # car only
        ("PC", "10000000", "0.5", "50000"),  # car only
        ("EXCISE", "1200000", "40", "480000"),  # beer only, placed before VAT as in the profile
        ("VAT", "13920000", "18", "2505600"),  # 12,230,000 + 1,690,000; 2,201,400 + 304,200
    ]
    assert declaration.total == D("5425600")  # 4,431,400 + 994,200
    assert declaration.customs_value == D("11000000")


def test_a_declaration_line_taxed_at_different_rates_shows_no_single_rate():
    car = assess("SN", "870323", "FR", "1000000", date(2026, 6, 1))
    medicine = assess("SN", "300490", "FR", "1000000", date(2026, 6, 1))
    declaration = combine([car, medicine]).to_dict("en")
    rates = {line["code"]: line["rate"] for line in declaration["lines"]}
    assert rates["DD"] is None  # 20% and 0%
    assert rates["VAT"] is None  # 18% and exempt
    assert rates["RS"] == "1"


def test_combining_needs_items_of_one_declaration():
    with pytest.raises(ValueError):
        combine([])
    sn = assess("SN", "870323", "FR", "1000", date(2026, 6, 1))
    ci = assess("CI", "870323", "FR", "1000", date(2026, 6, 1))
    with pytest.raises(ValueError):
        combine([sn, ci])


def test_json_form_has_exactly_the_documented_fields():
    data = assess("SN", "8703231000", "FR", "10000000", date(2026, 6, 1)).to_dict("fr")
    assert list(data) == ["country", "date", "currency", "customs_value", "lines", "total"]
    assert data["date"] == "2026-06-01"
    assert data["lines"][0] == {"code": "DD", "name": "Droit de douane", "base": "10000000", "rate": "20", "amount": "2000000"}


# --- dated standard VAT rate ----------------------------------------------------------------------


def test_no_vat_line_is_shown_on_a_day_when_no_vat_was_in_force(tmp_path: Path):
    """Before its first dated value there is no standard VAT rate, so no VAT at all: not even a
    0% line for goods the schedule exempts (there was nothing to be exempt from)."""
    shipped = (PACKAGE_DIR / "profiles" / "SN.yaml").read_text(encoding="utf-8")
    old = "  - {value: 18, legal_basis: Code général des impôts (TVA 18 %)}\n"
    assert old in shipped
    path = tmp_path / "SN.yaml"
    path.write_text(shipped.replace(old, "  - {valid_from: 2027-01-01, value: 18, legal_basis: Loi de finances (exemple)}\n"), encoding="utf-8")
    profile, schedule = profile_from_file(path), Schedule.default("SN")
    car = DutyItemInput("870323", "FR", D("1000000"), D("1000000"))
    medicine = DutyItemInput("300490", "FR", D("1000000"), D("1000000"))
    before = date(2026, 12, 31)
    assert compute_duties(profile, schedule, car, before).codes() == ("DD", "RS", "PCS", "PC")
    assert compute_duties(profile, schedule, medicine, before).codes() == ("DD", "RS", "PCS", "PC")
    after = date(2027, 1, 1)
    # 1,000,000 + 200,000 + 10,000 + 8,000 + 5,000 = 1,223,000 × 18% = 220,140
    assert table(compute_duties(profile, schedule, car, after))[-1] == ("VAT", "1223000", "18", "220140")
    assert table(compute_duties(profile, schedule, medicine, after))[-1] == ("VAT", "1023000", "0", "0")  # exempt


# --- properties ---------------------------------------------------------------------------------

SIX_DIGIT_CODES = [
    "870321", "870322", "870323", "870324", "870331", "870332", "870421", "871120", "100630",
    "100640", "110100", "170199", "040221", "150710", "151190", "220300", "240220", "300490",
    "300420", "300212", "847130", "852872", "850440", "252329", "271012", "271019", "271020",
    "630900", "520812", "551311", "611030", "620342", "640299", "732393", "392321", "401110",
    "940360", "190110", "210390", "330510", "340111",
]  # fmt: skip
ORIGINS = ["FR", "CN", "US", "SN", "CI", "ML", "BF", "NE", "GH", "NG", "GA", "CD", "MA", "ZA", "IN"]


def _value(places: int, limit: int = 10**18):
    largest = D(limit) - D(1).scaleb(-places)
    return st.decimals(min_value=0, max_value=largest, places=places, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    country=st.sampled_from(["SN", "CI", "ML", "NG", "GH", "CM"]),
    hs=st.sampled_from(SIX_DIGIT_CODES),
    suffix=st.sampled_from(["", "00", "1000"]),
    origin=st.sampled_from(ORIGINS),
    value=st.one_of(_value(0, 10**9), _value(2, 10**9), _value(3), _value(6)),
    fob=st.one_of(_value(0), _value(2)),
    on=st.dates(min_value=date(2016, 1, 1), max_value=date(2028, 12, 31)),
    preference=st.booleans(),
)
def test_every_breakdown_adds_up_in_the_currency_minor_unit(country, hs, suffix, origin, value, fob, on, preference):
    profile = load_profile(country)
    item = DutyItemInput(hs + suffix, origin, value, fob, preference)
    breakdown = compute_duties(profile, Schedule.default(country), item, on)
    exponent = -minor_units(profile.currency)
    assert breakdown.total == sum((line.amount for line in breakdown.lines), D(0))
    assert breakdown.total.as_tuple().exponent == exponent
    for line in breakdown.lines:
        assert line.amount.as_tuple().exponent == exponent
        assert line.amount >= 0
        assert line.base >= 0
        assert line.amount == round_money(line.base * line.rate / 100, profile.currency)
    assert len(set(breakdown.codes())) == len(breakdown.lines)  # one line per code
