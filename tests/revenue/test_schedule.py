"""National tariff schedules: which line applies to a declared HS code on a date, and which
files an administration cannot load (with the row to fix)."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from avance.revenue import Schedule, ScheduleError
from avance.revenue.schedule import HEADER

HEADER_LINE = ",".join(HEADER)
DEMO_CODES = [
    "870321", "870322", "870323", "870324", "870331", "870332", "870421", "871120", "100630",
    "100640", "110100", "170199", "040221", "150710", "151190", "220300", "240220", "300490",
    "300420", "300212", "847130", "851713", "852872", "850440", "252329", "271012", "271019",
    "271020", "630900", "520812", "551311", "611030", "620342", "640299", "732393", "392321",
    "401110", "940360", "190110", "210390", "330510", "340111",
]  # fmt: skip
COUNTRIES = ["SN", "CI", "ML", "NG", "GH", "CM"]


def write(tmp_path: Path, *rows: str, header: str = HEADER_LINE) -> Path:
    path = tmp_path / "schedule.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def cars(tmp_path: Path) -> Schedule:
    return Schedule.from_csv(
        write(
            tmp_path,
            "870323,Voitures 1500-3000 cm3,20,,,,",
            "87032310,Voitures neuves (ancienne ligne),5,,,,2021-12-31",
            "8703231000,Voitures neuves,10,,,2022-01-01,2024-12-31",
            "8703231000,Voitures neuves,15,,,2025-01-01,",
        )
    )


def test_the_longest_matching_line_in_force_applies(cars: Schedule):
    assert cars.lookup("8703231000", date(2023, 6, 1)).duty_rate == Decimal("10")
    assert cars.lookup("8703231000", date(2025, 1, 1)).duty_rate == Decimal("15")


def test_validity_dates_are_inclusive(cars: Schedule):
    assert cars.lookup("8703231000", date(2024, 12, 31)).duty_rate == Decimal("10")
    assert cars.lookup("8703231000", date(2022, 1, 1)).duty_rate == Decimal("10")


def test_a_shorter_line_applies_when_the_longer_one_is_not_in_force(cars: Schedule):
    # 2021: the 10-digit lines are not yet in force, the 8-digit one is
    assert cars.lookup("8703231000", date(2021, 6, 1)).hs_code == "87032310"
    # a national line beneath the 6-digit row only
    assert cars.lookup("8703239000", date(2023, 6, 1)).hs_code == "870323"


def test_a_six_digit_declaration_takes_the_six_digit_line(cars: Schedule):
    assert cars.lookup("870323", date(2023, 6, 1)).duty_rate == Decimal("20")


def test_a_code_outside_the_schedule_has_no_line(cars: Schedule):
    assert cars.lookup("870324", date(2023, 6, 1)) is None
    assert cars.lookup("87032", date(2023, 6, 1)) is None


def test_a_twelve_digit_code_matches_its_ten_digit_line(cars: Schedule):
    assert cars.lookup("870323100012", date(2025, 6, 1)).duty_rate == Decimal("15")


def test_blank_excise_means_none_and_blank_vat_means_the_standard_rate(tmp_path: Path):
    schedule = Schedule.from_csv(
        write(
            tmp_path,
            '220300,"Bières de malt, en bouteilles",20,40,,,',
            "30049000,Médicaments conditionnés,0,,0,2022-01-01,",
            "",  # blank lines are ignored
        )
    )
    beer = schedule.lookup("2203000000", date(2026, 1, 1))
    assert beer.description == "Bières de malt, en bouteilles"
    assert (beer.duty_rate, beer.excise_rate, beer.vat_rate) == (Decimal("20"), Decimal("40"), None)
    medicine = schedule.lookup("3004900000", date(2026, 1, 1))
    assert medicine.vat_rate == Decimal("0")
    assert medicine.excise_rate is None
    assert medicine.valid_from == date(2022, 1, 1)
    assert len(schedule) == 2


def test_a_schedule_saved_by_a_spreadsheet_with_a_byte_order_mark_loads(tmp_path: Path):
    path = tmp_path / "bom.csv"
    path.write_text("\ufeff" + HEADER_LINE + "\n870323,Voitures,20,,,,\n", encoding="utf-8")
    assert Schedule.from_csv(path).lookup("870323", date(2026, 1, 1)) is not None


@pytest.mark.parametrize(
    ("rows", "row", "code"),
    [
        (["87032A,Voitures,20,,,,"], 2, "schedule.bad_hs_code"),
        (["87032,Voitures,20,,,,"], 2, "schedule.bad_hs_code"),  # 5 digits
        (["8703231000123,Voitures,20,,,,"], 2, "schedule.bad_hs_code"),  # 13 digits
        (["8703.23,Voitures,20,,,,"], 2, "schedule.bad_hs_code"),
        (["870323,Voitures,20,,,,", "870324,Voitures,-5,,,,"], 3, "schedule.negative_rate"),
        (["870323,Voitures,20,-1,,,"], 2, "schedule.negative_rate"),
        (["870323,Voitures,vingt,,,,"], 2, "schedule.bad_rate"),
        (["870323,Voitures,20,,NaN,,"], 2, "schedule.bad_rate"),
        (["870323,Voitures,,,,,"], 2, "schedule.missing_rate"),
        (["870323,Voitures,20,,,2022-13-01,"], 2, "schedule.bad_date"),
        (["870323,Voitures,20,,,01/01/2022,"], 2, "schedule.bad_date"),
        (["870323,Voitures,20,,,2024-01-01,2023-12-31"], 2, "schedule.bad_period"),
        (["870323,Voitures,20,,,"], 2, "schedule.bad_columns"),
        (
            ["870323,Voitures,20,,,2022-01-01,2024-12-31", "870324,Autres,20,,,,", "870323,Voitures,15,,,2024-12-31,"],
            4,
            "schedule.overlap",
        ),
        (["870323,Voitures,20,,,,", "870323,Voitures,15,,,2025-01-01,"], 3, "schedule.overlap"),
    ],
)
def test_a_bad_row_is_rejected_with_its_row_number(tmp_path: Path, rows: list[str], row: int, code: str):
    with pytest.raises(ScheduleError) as caught:
        Schedule.from_csv(write(tmp_path, *rows))
    assert caught.value.row == row
    assert caught.value.code == code
    assert f"schedule.csv row {row}: " in str(caught.value)


def test_the_overlap_error_names_the_other_row(tmp_path: Path):
    with pytest.raises(ScheduleError) as caught:
        Schedule.from_csv(write(tmp_path, "870323,Voitures,20,,,,", "870324,Autres,20,,,,", "870323,Voitures,15,,,2025-01-01,"))
    assert caught.value.params["other_row"] == 2
    assert "ligne 2" in caught.value.reason("fr")


def test_a_wrong_header_is_rejected_on_row_1(tmp_path: Path):
    with pytest.raises(ScheduleError) as caught:
        Schedule.from_csv(write(tmp_path, "870323,Voitures,20,,,,", header="code,description,duty,excise,vat,from,to"))
    assert caught.value.row == 1
    assert caught.value.code == "schedule.bad_header"


def test_an_empty_or_missing_file_is_reported(tmp_path: Path):
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ScheduleError) as caught:
        Schedule.from_csv(empty)
    assert caught.value.code == "schedule.bad_header"
    with pytest.raises(ScheduleError) as caught:
        Schedule.from_csv(tmp_path / "missing.csv")
    assert caught.value.code == "schedule.unreadable"
    assert caught.value.row is None


def test_the_error_reason_is_given_in_french_and_english(tmp_path: Path):
    with pytest.raises(ScheduleError) as caught:
        Schedule.from_csv(write(tmp_path, "870323,Voitures,-5,,,,"))
    assert caught.value.reason("en") == "duty_rate -5 is negative"
    assert caught.value.reason("fr") == "duty_rate -5 est négatif"


@pytest.mark.parametrize("country", COUNTRIES)
def test_each_shipped_schedule_covers_the_demo_hs_codes(country: str):
    schedule = Schedule.default(country)
    for code in DEMO_CODES:
        for day in (date(2024, 6, 1), date(2026, 6, 1)):
            assert schedule.lookup(code + "0000", day) is not None, (country, code, day)


@pytest.mark.parametrize("country", COUNTRIES)
def test_shipped_schedules_use_the_community_bands(country: str):
    bands = {Decimal(b) for b in ("5", "10", "20", "30")} if country == "CM" else {Decimal(b) for b in ("0", "5", "10", "20", "35")}
    assert {line.duty_rate for line in Schedule.default(country)} <= bands


def test_shipped_medicines_are_vat_exempt_everywhere():
    for country in COUNTRIES:
        assert Schedule.default(country).lookup("3004900000", date(2026, 6, 1)).vat_rate == Decimal("0")


def test_a_country_without_a_shipped_schedule_is_reported():
    with pytest.raises(ScheduleError) as caught:
        Schedule.default("FR")
    assert caught.value.code == "schedule.not_shipped"


def test_an_administration_can_replace_its_schedule_without_a_release(tmp_path: Path, monkeypatch):
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "SN.csv").write_text(HEADER_LINE + "\n870323,Voitures,35,,,,\n", encoding="utf-8")
    monkeypatch.setenv("AVANCE_TARIFF_DIR", str(tmp_path))
    assert Schedule.default("SN").lookup("870323", date(2026, 6, 1)).duty_rate == Decimal("35")
    monkeypatch.delenv("AVANCE_TARIFF_DIR")
    assert Schedule.default("SN").lookup("870323", date(2026, 6, 1)).duty_rate == Decimal("20")


def test_lookup_keeps_up_with_bulk_import():
    """2,000 declarations a second with 3 items each: 6,000 lookups must take a small part of a second."""
    schedule = Schedule.default("SN")
    codes = [code + "1000" for code in DEMO_CODES] * 150  # 6,300 lookups
    day = date(2026, 6, 1)
    start = time.perf_counter()
    for code in codes:
        schedule.lookup(code, day)
    assert time.perf_counter() - start < 0.25


def test_a_schedule_built_in_code_refuses_overlapping_lines_too():
    from avance.revenue import TariffLine

    line = TariffLine("870323", "Voitures", Decimal("20"), None, None, None, None)
    later = TariffLine("870323", "Voitures", Decimal("15"), None, None, date(2025, 1, 1), None)
    with pytest.raises(ScheduleError) as caught:
        Schedule([line, later])
    assert caught.value.code == "schedule.overlap_periods"
    assert "…/…" in str(caught.value) and "2025-01-01/…" in str(caught.value)


def test_a_schedule_not_in_utf8_is_reported(tmp_path: Path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER_LINE + "\n220300,Bières,20,40,,,\n").encode("latin-1"))
    with pytest.raises(ScheduleError) as caught:
        Schedule.from_csv(path)
    assert caught.value.code == "schedule.unreadable"
    assert "UnicodeDecodeError" in str(caught.value)
