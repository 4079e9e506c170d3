"""What the duty calculator tells a customs officer, country by country.

Every expected amount is worked by hand in the comment beside it: amount = base × rate / 100,
rounded half away from zero to the currency's minor unit (XOF, XAF: units; NGN, GHS: 2
decimals); a base that names another line adds that line's rounded amount.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

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


# --- Senegal ------------------------------------------------------------------------------------


def test_senegal_car_from_france_matches_the_worked_example():
    """Section 4 of the tariff reference, line for line."""
    breakdown = assess("SN", "8703231000", "FR", "10000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "10000000", "20", "2000000"),  # 10,000,000 × 20% = 2,000,000
        ("RS", "10000000", "1", "100000"),  # 10,000,000 × 1% = 100,000
        ("PCS", "10000000", "0.8", "80000"),  # 10,000,000 × 0.8% = 80,000 (France is outside UEMOA)
        ("PC", "10000000", "0.5", "50000"),  # 10,000,000 × 0.5% = 50,000 (France is outside ECOWAS)
        # VAT base = 10,000,000 + 2,000,000 + 100,000 + 80,000 + 50,000 = 12,230,000; × 18% = 2,201,400
        ("VAT", "12230000", "18", "2201400"),
    ]
    assert breakdown.total == D("4431400")  # 2,000,000 + 100,000 + 80,000 + 50,000 + 2,201,400
    assert breakdown.currency == "XOF"
    assert breakdown.to_dict("en")["total"] == "4431400"


def test_senegal_never_charges_the_switched_off_au_levy_or_cosec():
    breakdown = assess("SN", "870323", "CN", "1000000", date(2026, 6, 1))
    assert "PUA" not in breakdown.codes()  # not collected by Senegal
    assert "COSEC" not in breakdown.codes()  # low confidence: shipped off


def test_senegal_uemoa_goods_pay_neither_the_solidarity_nor_the_ecowas_levy():
    breakdown = assess("SN", "870323", "CI", "1000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "1000000", "20", "200000"),  # no preference claimed: 1,000,000 × 20% = 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        # no PCS (CI is in UEMOA), no PC (CI is in ECOWAS)
        ("VAT", "1210000", "18", "217800"),  # (1,000,000 + 200,000 + 10,000) × 18% = 217,800
    ]
    assert breakdown.total == D("427800")  # 200,000 + 10,000 + 217,800


def test_senegal_ecowas_preference_claimed_removes_the_import_duty():
    breakdown = assess("SN", "870323", "GH", "1000000", date(2026, 6, 1), preference=True)
    assert table(breakdown) == [
        ("DD", "1000000", "0", "0"),  # preference granted: shown at 0
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PCS", "1000000", "0.8", "8000"),  # Ghana is outside UEMOA: 1,000,000 × 0.8% = 8,000
        ("VAT", "1018000", "18", "183240"),  # (1,000,000 + 0 + 10,000 + 8,000) × 18% = 183,240
    ]
    assert breakdown.total == D("201240")  # 0 + 10,000 + 8,000 + 183,240


def test_senegal_ecowas_origin_without_a_claim_pays_the_full_duty():
    breakdown = assess("SN", "870323", "GH", "1000000", date(2026, 6, 1), preference=False)
    assert table(breakdown) == [
        ("DD", "1000000", "20", "200000"),  # 1,000,000 × 20% = 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PCS", "1000000", "0.8", "8000"),  # 1,000,000 × 0.8% = 8,000
        ("VAT", "1218000", "18", "219240"),  # (1,000,000 + 200,000 + 10,000 + 8,000) × 18% = 219,240
    ]
    assert breakdown.total == D("437240")  # 200,000 + 10,000 + 8,000 + 219,240


def test_senegal_preference_claimed_for_goods_from_outside_the_blocs_is_refused():
    breakdown = assess("SN", "870323", "FR", "1000000", date(2026, 6, 1), preference=True)
    assert table(breakdown)[0] == ("DD", "1000000", "20", "200000")  # 1,000,000 × 20%


def test_senegal_malian_goods_pay_the_ecowas_levy_once_mali_has_left():
    before = assess("SN", "870323", "ML", "1000000", date(2025, 1, 28))
    assert table(before) == [
        ("DD", "1000000", "20", "200000"),  # 1,000,000 × 20% = 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        # Mali still in ECOWAS (and always in UEMOA): no PC, no PCS
        ("VAT", "1210000", "18", "217800"),  # (1,000,000 + 200,000 + 10,000) × 18% = 217,800
    ]
    after = assess("SN", "870323", "ML", "1000000", date(2025, 1, 29))
    assert table(after) == [
        ("DD", "1000000", "20", "200000"),  # 1,000,000 × 20% = 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PC", "1000000", "0.5", "5000"),  # Mali outside ECOWAS from 2025-01-29: 1,000,000 × 0.5% = 5,000
        ("VAT", "1215000", "18", "218700"),  # (1,000,000 + 200,000 + 10,000 + 5,000) × 18% = 218,700
    ]
    assert after.total == D("433700")  # 200,000 + 10,000 + 5,000 + 218,700


def test_senegal_malian_goods_keep_the_uemoa_preference_after_the_ecowas_withdrawal():
    breakdown = assess("SN", "870323", "ML", "1000000", date(2025, 6, 1), preference=True)
    assert table(breakdown)[0] == ("DD", "1000000", "0", "0")


def test_senegal_solidarity_levy_was_one_percent_until_june_2017():
    old = assess("SN", "870323", "FR", "1000000", date(2017, 6, 30))
    assert table(old) == [
        ("DD", "1000000", "20", "200000"),  # 1,000,000 × 20% = 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PCS", "1000000", "1", "10000"),  # 1.0% until 2017-06-30: 10,000
        ("PC", "1000000", "0.5", "5000"),  # 1,000,000 × 0.5% = 5,000
        ("VAT", "1225000", "18", "220500"),  # (1,000,000 + 200,000 + 10,000 + 10,000 + 5,000) × 18% = 220,500
    ]
    assert old.total == D("445500")  # 200,000 + 10,000 + 10,000 + 5,000 + 220,500
    new = assess("SN", "870323", "FR", "1000000", date(2017, 7, 1))
    assert table(new)[2] == ("PCS", "1000000", "0.8", "8000")  # 0.8% from 2017-07-01
    assert table(new)[4] == ("VAT", "1223000", "18", "220140")  # (1,223,000) × 18% = 220,140
    assert new.total == D("443140")  # 200,000 + 10,000 + 8,000 + 5,000 + 220,140


def test_senegal_beer_pays_excise_on_value_plus_duty_and_vat_on_top():
    breakdown = assess("SN", "220300", "FR", "1000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "1000000", "20", "200000"),  # 1,000,000 × 20% = 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PCS", "1000000", "0.8", "8000"),  # 1,000,000 × 0.8% = 8,000
        ("PC", "1000000", "0.5", "5000"),  # 1,000,000 × 0.5% = 5,000
        ("EXCISE", "1200000", "40", "480000"),  # (1,000,000 + 200,000) × 40% = 480,000
        # (1,000,000 + 200,000 + 10,000 + 8,000 + 5,000 + 480,000) = 1,703,000 × 18% = 306,540
        ("VAT", "1703000", "18", "306540"),
    ]
    assert breakdown.total == D("1009540")  # 200,000 + 10,000 + 8,000 + 5,000 + 480,000 + 306,540


def test_senegal_cigarettes_pay_the_top_band_and_excise():
    breakdown = assess("SN", "240220", "CN", "2000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "2000000", "35", "700000"),  # 2,000,000 × 35% = 700,000
        ("RS", "2000000", "1", "20000"),  # 2,000,000 × 1% = 20,000
        ("PCS", "2000000", "0.8", "16000"),  # 2,000,000 × 0.8% = 16,000
        ("PC", "2000000", "0.5", "10000"),  # 2,000,000 × 0.5% = 10,000
        ("EXCISE", "2700000", "45", "1215000"),  # (2,000,000 + 700,000) × 45% = 1,215,000
        # 2,000,000 + 700,000 + 20,000 + 16,000 + 10,000 + 1,215,000 = 3,961,000 × 18% = 712,980
        ("VAT", "3961000", "18", "712980"),
    ]
    assert breakdown.total == D("2673980")  # 700,000 + 20,000 + 16,000 + 10,000 + 1,215,000 + 712,980


def test_senegal_medicines_show_duty_and_vat_at_zero():
    breakdown = assess("SN", "300490", "FR", "1000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "1000000", "0", "0"),  # CET band 0, shown to the officer
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PCS", "1000000", "0.8", "8000"),  # 1,000,000 × 0.8% = 8,000
        ("PC", "1000000", "0.5", "5000"),  # 1,000,000 × 0.5% = 5,000
        ("VAT", "1023000", "0", "0"),  # exempt (schedule vat_rate 0): base 1,023,000 × 0%
    ]
    assert breakdown.total == D("23000")  # 10,000 + 8,000 + 5,000


def test_senegal_rounds_each_line_to_the_franc_half_away_from_zero():
    breakdown = assess("SN", "870323", "FR", "1234567", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "1234567", "20", "246913"),  # 246,913.4 → 246,913
        ("RS", "1234567", "1", "12346"),  # 12,345.67 → 12,346
        ("PCS", "1234567", "0.8", "9877"),  # 9,876.536 → 9,877
        ("PC", "1234567", "0.5", "6173"),  # 6,172.835 → 6,173
        # 1,234,567 + 246,913 + 12,346 + 9,877 + 6,173 = 1,509,876 × 18% = 271,777.68 → 271,778
        ("VAT", "1509876", "18", "271778"),
    ]
    assert breakdown.total == D("547087")  # 246,913 + 12,346 + 9,877 + 6,173 + 271,778


# --- Côte d'Ivoire ------------------------------------------------------------------------------


def test_cote_divoire_collects_the_au_levy_on_chinese_cars():
    breakdown = assess("CI", "870323", "CN", "5000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "5000000", "20", "1000000"),  # 5,000,000 × 20% = 1,000,000
        ("RS", "5000000", "1", "50000"),  # 5,000,000 × 1% = 50,000
        ("PCS", "5000000", "0.8", "40000"),  # 5,000,000 × 0.8% = 40,000
        ("PC", "5000000", "0.5", "25000"),  # 5,000,000 × 0.5% = 25,000
        ("PUA", "5000000", "0.2", "10000"),  # China is outside the AU: 5,000,000 × 0.2% = 10,000
        # 5,000,000 + 1,000,000 + 50,000 + 40,000 + 25,000 + 10,000 = 6,125,000 × 18% = 1,102,500
        ("VAT", "6125000", "18", "1102500"),
    ]
    assert breakdown.total == D("2227500")  # 1,000,000 + 50,000 + 40,000 + 25,000 + 10,000 + 1,102,500


def test_cote_divoire_moroccan_goods_pay_no_au_levy():
    breakdown = assess("CI", "870323", "MA", "5000000", date(2026, 6, 1))
    assert "PUA" not in breakdown.codes()
    # VAT base 5,000,000 + 1,000,000 + 50,000 + 40,000 + 25,000 = 6,115,000 × 18% = 1,100,700
    assert table(breakdown)[-1] == ("VAT", "6115000", "18", "1100700")
    assert breakdown.total == D("2215700")  # 1,000,000 + 50,000 + 40,000 + 25,000 + 1,100,700


def test_cote_divoire_charged_no_au_levy_before_2017():
    breakdown = assess("CI", "870323", "CN", "5000000", date(2016, 12, 31))
    assert table(breakdown) == [
        ("DD", "5000000", "20", "1000000"),  # 5,000,000 × 20% = 1,000,000
        ("RS", "5000000", "1", "50000"),  # 5,000,000 × 1% = 50,000
        ("PCS", "5000000", "1", "50000"),  # still 1% in 2016: 50,000
        ("PC", "5000000", "0.5", "25000"),  # 5,000,000 × 0.5% = 25,000
        # no PUA before 2017; 5,000,000 + 1,000,000 + 50,000 + 50,000 + 25,000 = 6,125,000 × 18%
        ("VAT", "6125000", "18", "1102500"),
    ]


def test_cote_divoire_milk_powder_takes_the_reduced_vat_rate():
    breakdown = assess("CI", "040221", "FR", "2000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "2000000", "5", "100000"),  # 2,000,000 × 5% = 100,000
        ("RS", "2000000", "1", "20000"),  # 2,000,000 × 1% = 20,000
        ("PCS", "2000000", "0.8", "16000"),  # 2,000,000 × 0.8% = 16,000
        ("PC", "2000000", "0.5", "10000"),  # 2,000,000 × 0.5% = 10,000
        ("PUA", "2000000", "0.2", "4000"),  # 2,000,000 × 0.2% = 4,000
        # reduced rate from the schedule: 2,150,000 × 9% = 193,500
        ("VAT", "2150000", "9", "193500"),
    ]
    assert breakdown.total == D("343500")  # 100,000 + 20,000 + 16,000 + 10,000 + 4,000 + 193,500


def test_cote_divoire_beer_pays_excise():
    breakdown = assess("CI", "220300", "FR", "1000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "1000000", "20", "200000"),  # 1,000,000 × 20% = 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PCS", "1000000", "0.8", "8000"),  # 1,000,000 × 0.8% = 8,000
        ("PC", "1000000", "0.5", "5000"),  # 1,000,000 × 0.5% = 5,000
        ("PUA", "1000000", "0.2", "2000"),  # 1,000,000 × 0.2% = 2,000
        ("EXCISE", "1200000", "35", "420000"),  # (1,000,000 + 200,000) × 35% = 420,000
        # 1,000,000 + 200,000 + 10,000 + 8,000 + 5,000 + 2,000 + 420,000 = 1,645,000 × 18% = 296,100
        ("VAT", "1645000", "18", "296100"),
    ]
    assert breakdown.total == D("941100")  # 200,000 + 10,000 + 8,000 + 5,000 + 2,000 + 420,000 + 296,100


def test_cote_divoire_grants_the_uemoa_preference_to_senegalese_goods():
    breakdown = assess("CI", "870323", "SN", "1000000", date(2026, 6, 1), preference=True)
    assert table(breakdown) == [
        ("DD", "1000000", "0", "0"),  # preference claimed and granted
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("VAT", "1010000", "18", "181800"),  # (1,000,000 + 10,000) × 18% = 181,800
    ]


# --- Mali ---------------------------------------------------------------------------------------


def test_mali_before_its_withdrawal_charges_the_ecowas_levy():
    breakdown = assess("ML", "870323", "CN", "1000000", date(2024, 12, 1))
    assert table(breakdown) == [
        ("DD", "1000000", "20", "200000"),  # 1,000,000 × 20% = 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PCS", "1000000", "0.8", "8000"),  # 1,000,000 × 0.8% = 8,000
        ("PC", "1000000", "0.5", "5000"),  # 1,000,000 × 0.5% = 5,000
        ("PUA", "1000000", "0.2", "2000"),  # 1,000,000 × 0.2% = 2,000
        ("VAT", "1225000", "18", "220500"),  # (1,000,000 + 200,000 + 10,000 + 8,000 + 5,000 + 2,000) × 18%
    ]
    assert breakdown.total == D("445500")  # 200,000 + 10,000 + 8,000 + 5,000 + 2,000 + 220,500


def test_mali_between_withdrawal_and_the_aes_levy_charges_neither_community_levy():
    breakdown = assess("ML", "870323", "CN", "1000000", date(2025, 2, 15))
    assert table(breakdown) == [
        ("DD", "1000000", "20", "200000"),  # 1,000,000 × 20% = 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PCS", "1000000", "0.8", "8000"),  # 1,000,000 × 0.8% = 8,000
        ("PUA", "1000000", "0.2", "2000"),  # 1,000,000 × 0.2% = 2,000
        ("VAT", "1220000", "18", "219600"),  # (1,000,000 + 200,000 + 10,000 + 8,000 + 2,000) × 18%
    ]
    assert breakdown.total == D("439600")  # 200,000 + 10,000 + 8,000 + 2,000 + 219,600


def test_mali_charges_the_aes_levy_from_28_march_2025():
    breakdown = assess("ML", "870323", "CN", "1000000", date(2025, 6, 1))
    assert table(breakdown) == [
        ("DD", "1000000", "20", "200000"),  # 1,000,000 × 20% = 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PCS", "1000000", "0.8", "8000"),  # 1,000,000 × 0.8% = 8,000
        ("PC_AES", "1000000", "0.5", "5000"),  # China: outside the AES and not UEMOA, 0.5% = 5,000
        ("PUA", "1000000", "0.2", "2000"),  # 1,000,000 × 0.2% = 2,000
        ("VAT", "1225000", "18", "220500"),  # (1,000,000 + 200,000 + 10,000 + 8,000 + 5,000 + 2,000) × 18%
    ]
    assert breakdown.total == D("445500")


@pytest.mark.parametrize(
    ("day", "levies"),
    [
        (date(2025, 1, 28), {"PC"}),  # last day in ECOWAS
        (date(2025, 1, 29), set()),  # withdrawal effective
        (date(2025, 3, 27), set()),  # still in the gap
        (date(2025, 3, 28), {"PC_AES"}),  # AES levy starts
    ],
)
def test_mali_community_levy_boundaries(day: date, levies: set[str]):
    breakdown = assess("ML", "870323", "CN", "1000000", day)
    assert set(breakdown.codes()) & {"PC", "PC_AES"} == levies


def test_mali_exempts_uemoa_goods_from_the_aes_levy():
    breakdown = assess("ML", "870323", "SN", "1000000", date(2025, 6, 1))
    assert table(breakdown) == [
        ("DD", "1000000", "20", "200000"),  # no preference claimed: 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        # no PCS (UEMOA), no PC_AES (UEMOA origin), no PUA (AU)
        ("VAT", "1210000", "18", "217800"),  # (1,000,000 + 200,000 + 10,000) × 18% = 217,800
    ]


def test_mali_charges_the_aes_levy_on_ghanaian_goods():
    breakdown = assess("ML", "870323", "GH", "1000000", date(2025, 6, 1))
    assert table(breakdown) == [
        ("DD", "1000000", "20", "200000"),  # 1,000,000 × 20% = 200,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PCS", "1000000", "0.8", "8000"),  # Ghana is outside UEMOA: 8,000
        ("PC_AES", "1000000", "0.5", "5000"),  # outside the AES, not UEMOA: 5,000
        ("VAT", "1223000", "18", "220140"),  # (1,000,000 + 200,000 + 10,000 + 8,000 + 5,000) × 18%
    ]


def test_mali_exempts_aes_goods_from_the_aes_levy():
    breakdown = assess("ML", "870323", "BF", "1000000", date(2025, 6, 1))
    assert breakdown.codes() == ("DD", "RS", "VAT")


def test_mali_ecowas_preference_ended_with_its_membership():
    before = assess("ML", "870323", "GH", "1000000", date(2025, 1, 28), preference=True)
    after = assess("ML", "870323", "GH", "1000000", date(2025, 1, 29), preference=True)
    assert table(before)[0] == ("DD", "1000000", "0", "0")  # both in ECOWAS: granted
    assert table(after)[0] == ("DD", "1000000", "20", "200000")  # Mali out of ECOWAS: full duty


def test_mali_cigarettes_pay_excise():
    breakdown = assess("ML", "240220", "CN", "1000000", date(2025, 6, 1))
    assert table(breakdown) == [
        ("DD", "1000000", "35", "350000"),  # 1,000,000 × 35% = 350,000
        ("RS", "1000000", "1", "10000"),  # 1,000,000 × 1% = 10,000
        ("PCS", "1000000", "0.8", "8000"),  # 1,000,000 × 0.8% = 8,000
        ("PC_AES", "1000000", "0.5", "5000"),  # 1,000,000 × 0.5% = 5,000
        ("PUA", "1000000", "0.2", "2000"),  # 1,000,000 × 0.2% = 2,000
        ("EXCISE", "1350000", "45", "607500"),  # (1,000,000 + 350,000) × 45% = 607,500
        # 1,000,000 + 350,000 + 10,000 + 8,000 + 5,000 + 2,000 + 607,500 = 1,982,500 × 18% = 356,850
        ("VAT", "1982500", "18", "356850"),
    ]
    assert breakdown.total == D("1339350")  # 350,000 + 10,000 + 8,000 + 5,000 + 2,000 + 607,500 + 356,850


def test_mali_medicines_are_vat_exempt():
    breakdown = assess("ML", "300490", "FR", "1000000", date(2025, 6, 1))
    # 1,000,000 + 0 + 10,000 (RS) + 8,000 (PCS) + 5,000 (PC_AES) + 2,000 (PUA) = 1,025,000 at 0%
    assert table(breakdown)[-1] == ("VAT", "1025000", "0", "0")
    assert breakdown.total == D("25000")  # 10,000 + 8,000 + 5,000 + 2,000


# --- Nigeria ------------------------------------------------------------------------------------


def test_nigeria_car_before_august_2025_pays_ciss_and_rounds_to_the_kobo():
    breakdown = assess("NG", "870323", "JP", "1234567.89", date(2025, 6, 1), fob="1000000.50")
    assert table(breakdown) == [
        ("DD", "1234567.89", "20", "246913.58"),  # 246,913.578 → 246,913.58
        ("SURCHARGE", "246913.58", "7", "17283.95"),  # 7% of DD: 17,283.9506 → 17,283.95
        ("PC", "1234567.89", "0.5", "6172.84"),  # ETLS: 6,172.83945 → 6,172.84
        ("CISS", "1000000.50", "1", "10000.01"),  # 1% of FOB: 10,000.005 → 10,000.01 (half away from zero)
        # 1,234,567.89 + 246,913.58 + 17,283.95 + 10,000.01 + 6,172.84 = 1,514,938.27
        ("VAT", "1514938.27", "7.5", "113620.37"),  # × 7.5% = 113,620.37025 → 113,620.37
    ]
    assert breakdown.total == D("393990.75")  # 246,913.58 + 17,283.95 + 6,172.84 + 10,000.01 + 113,620.37


def test_nigeria_car_from_august_2025_pays_the_4_percent_fob_levy_instead_of_ciss():
    breakdown = assess("NG", "870323", "JP", "1234567.89", date(2025, 8, 4), fob="1000000.50")
    assert table(breakdown) == [
        ("DD", "1234567.89", "20", "246913.58"),  # 246,913.578 → 246,913.58
        ("SURCHARGE", "246913.58", "7", "17283.95"),  # 17,283.9506 → 17,283.95
        ("PC", "1234567.89", "0.5", "6172.84"),  # 6,172.83945 → 6,172.84
        ("FOB_LEVY", "1000000.50", "4", "40000.02"),  # 4% of FOB: 40,000.02
        # 1,234,567.89 + 246,913.58 + 17,283.95 + 40,000.02 + 6,172.84 = 1,544,938.28
        ("VAT", "1544938.28", "7.5", "115870.37"),  # × 7.5% = 115,870.371 → 115,870.37
    ]
    assert breakdown.total == D("426240.76")  # 246,913.58 + 17,283.95 + 6,172.84 + 40,000.02 + 115,870.37


@pytest.mark.parametrize(("day", "levy"), [(date(2025, 8, 3), "CISS"), (date(2025, 8, 4), "FOB_LEVY")])
def test_nigeria_ciss_gives_way_to_the_fob_levy_on_4_august_2025(day: date, levy: str):
    codes = assess("NG", "870323", "JP", "1000000", day).codes()
    assert levy in codes
    assert {"CISS", "FOB_LEVY"} - {levy} & set(codes) == set()


def test_nigeria_ecowas_goods_with_a_claimed_preference_pay_no_duty_nor_surcharge():
    breakdown = assess("NG", "870323", "GH", "100000", date(2026, 6, 1), fob="90000", preference=True)
    assert table(breakdown) == [
        ("DD", "100000", "0", "0.00"),  # preference granted
        ("SURCHARGE", "0.00", "7", "0.00"),  # 7% of a zero duty
        ("FOB_LEVY", "90000", "4", "3600.00"),  # 90,000 × 4% = 3,600.00; no ETLS levy (ECOWAS origin)
        ("VAT", "103600.00", "7.5", "7770.00"),  # (100,000 + 0 + 0 + 3,600) × 7.5% = 7,770.00
    ]
    assert breakdown.total == D("11370.00")  # 3,600.00 + 7,770.00


def test_nigeria_cigarettes_put_excise_in_the_vat_base():
    breakdown = assess("NG", "240220", "CN", "100000.00", date(2026, 6, 1), fob="90000.00")
    assert table(breakdown) == [
        ("DD", "100000.00", "35", "35000.00"),  # 100,000 × 35% = 35,000.00
        ("SURCHARGE", "35000.00", "7", "2450.00"),  # 35,000 × 7% = 2,450.00
        ("PC", "100000.00", "0.5", "500.00"),  # 100,000 × 0.5% = 500.00
        ("FOB_LEVY", "90000.00", "4", "3600.00"),  # 90,000 × 4% = 3,600.00
        ("EXCISE", "135000.00", "30", "40500.00"),  # (100,000 + 35,000) × 30% = 40,500.00
        # 100,000 + 35,000 + 2,450 + 3,600 + 500 + 40,500 = 182,050.00 × 7.5% = 13,653.75
        ("VAT", "182050.00", "7.5", "13653.75"),
    ]
    assert breakdown.total == D("95703.75")  # 35,000 + 2,450 + 500 + 3,600 + 40,500 + 13,653.75


def test_nigeria_rice_is_vat_exempt_and_no_au_levy_is_collected():
    breakdown = assess("NG", "100630", "TH", "200000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "200000", "10", "20000.00"),  # 200,000 × 10% = 20,000.00
        ("SURCHARGE", "20000.00", "7", "1400.00"),  # 20,000 × 7% = 1,400.00
        ("PC", "200000", "0.5", "1000.00"),  # 200,000 × 0.5% = 1,000.00
        ("FOB_LEVY", "200000", "4", "8000.00"),  # FOB defaults to the value here: 8,000.00
        ("VAT", "230400.00", "0", "0.00"),  # exempt: 200,000 + 20,000 + 1,400 + 8,000 + 1,000 at 0%
    ]
    assert "PUA" not in breakdown.codes()


# --- Ghana --------------------------------------------------------------------------------------


def test_ghana_2026_charges_vat_nhil_and_getfund_on_one_base():
    breakdown = assess("GH", "870323", "CN", "100000.00", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "100000.00", "20", "20000.00"),  # 100,000 × 20% = 20,000.00
        ("PC", "100000.00", "0.5", "500.00"),  # 100,000 × 0.5% = 500.00
        ("PUA", "100000.00", "0.2", "200.00"),  # 100,000 × 0.2% = 200.00
        ("EXIM", "100000.00", "0.75", "750.00"),  # 100,000 × 0.75% = 750.00
        # VAT base = 100,000 + 20,000 + 500 + 200 + 750 = 121,450.00
        ("NHIL", "121450.00", "2.5", "3036.25"),  # 121,450 × 2.5% = 3,036.25
        ("GETFUND", "121450.00", "2.5", "3036.25"),  # 121,450 × 2.5% = 3,036.25
        ("VAT", "121450.00", "15", "18217.50"),  # 121,450 × 15% = 18,217.50
    ]
    assert breakdown.total == D("45740.00")  # 20,000 + 500 + 200 + 750 + 3,036.25 × 2 + 18,217.50


def test_ghana_before_2026_cascades_vat_on_the_levies():
    breakdown = assess("GH", "870323", "CN", "100000.00", date(2025, 6, 1))
    assert table(breakdown) == [
        ("DD", "100000.00", "20", "20000.00"),  # 20,000.00
        ("PC", "100000.00", "0.5", "500.00"),  # 500.00
        ("PUA", "100000.00", "0.2", "200.00"),  # 200.00
        ("EXIM", "100000.00", "0.75", "750.00"),  # 750.00
        # levy base = 100,000 + 20,000 + 500 + 200 + 750 = 121,450.00
        ("NHIL", "121450.00", "2.5", "3036.25"),  # 121,450 × 2.5% = 3,036.25
        ("GETFUND", "121450.00", "2.5", "3036.25"),  # 121,450 × 2.5% = 3,036.25
        ("COVID", "121450.00", "1", "1214.50"),  # 121,450 × 1% = 1,214.50
        # VAT base = 121,450 + 3,036.25 + 3,036.25 + 1,214.50 = 128,737.00; × 15% = 19,310.55
        ("VAT", "128737.00", "15", "19310.55"),
    ]
    assert breakdown.total == D("48047.55")  # 21,450 + 3,036.25 + 3,036.25 + 1,214.50 + 19,310.55
    # 21.9% effective on the levy base: 121,450 × 21.9% = 26,597.55 = 3,036.25 × 2 + 1,214.50 + 19,310.55
    levies = sum(line.amount for line in breakdown.lines if line.code in {"NHIL", "GETFUND", "COVID", "VAT"})
    assert levies == D("121450.00") * D("0.219")


@pytest.mark.parametrize(("day", "has_covid_levy"), [(date(2025, 12, 31), True), (date(2026, 1, 1), False)])
def test_ghana_switches_vat_regime_on_1_january_2026(day: date, has_covid_levy: bool):
    assert ("COVID" in assess("GH", "870323", "CN", "1000", day).codes()) is has_covid_levy


@pytest.mark.parametrize("hs", ["271012", "2710191000", "271020"])
def test_ghana_exim_levy_is_not_charged_on_petroleum(hs: str):
    breakdown = assess("GH", hs, "NG", "50000.00", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "50000.00", "10", "5000.00"),  # 50,000 × 10% = 5,000.00
        # Nigeria is in ECOWAS and the AU: no PC, no PUA; petroleum: no EXIM
        ("NHIL", "55000.00", "2.5", "1375.00"),  # (50,000 + 5,000) × 2.5% = 1,375.00
        ("GETFUND", "55000.00", "2.5", "1375.00"),  # 1,375.00
        ("VAT", "55000.00", "15", "8250.00"),  # 55,000 × 15% = 8,250.00
    ]
    assert breakdown.total == D("16000.00")  # 5,000 + 1,375 + 1,375 + 8,250


def test_ghana_beer_pays_excise_and_rounds_levies_to_the_pesewa():
    breakdown = assess("GH", "220300", "FR", "10000.00", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "10000.00", "20", "2000.00"),  # 10,000 × 20% = 2,000.00
        ("PC", "10000.00", "0.5", "50.00"),  # 50.00
        ("PUA", "10000.00", "0.2", "20.00"),  # 20.00
        ("EXIM", "10000.00", "0.75", "75.00"),  # 75.00
        ("EXCISE", "12000.00", "20", "2400.00"),  # (10,000 + 2,000) × 20% = 2,400.00
        # VAT base = 10,000 + 2,000 + 50 + 20 + 75 + 2,400 = 14,545.00
        ("NHIL", "14545.00", "2.5", "363.63"),  # 363.625 → 363.63
        ("GETFUND", "14545.00", "2.5", "363.63"),  # 363.625 → 363.63
        ("VAT", "14545.00", "15", "2181.75"),  # 14,545 × 15% = 2,181.75
    ]
    assert breakdown.total == D("7454.01")  # 4,545.00 (DD to EXCISE) + 363.63 + 363.63 + 2,181.75


def test_ghana_vat_exempt_medicines_are_exempt_from_nhil_and_getfund_too():
    breakdown = assess("GH", "300490", "IN", "10000.00", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "10000.00", "0", "0.00"),  # band 0
        ("PC", "10000.00", "0.5", "50.00"),  # 50.00
        ("PUA", "10000.00", "0.2", "20.00"),  # 20.00
        ("EXIM", "10000.00", "0.75", "75.00"),  # 75.00
        ("NHIL", "10145.00", "0", "0.00"),  # exempt with VAT
        ("GETFUND", "10145.00", "0", "0.00"),  # exempt with VAT
        ("VAT", "10145.00", "0", "0.00"),  # 10,000 + 0 + 50 + 20 + 75, exempt
    ]
    assert breakdown.total == D("145.00")  # 50 + 20 + 75
    assert "SIL" not in breakdown.codes()  # low confidence: shipped off


# --- Cameroon -----------------------------------------------------------------------------------


def test_cameroon_car_from_france_pays_tci_and_au_levy_outside_the_vat_base():
    breakdown = assess("CM", "870323", "FR", "10000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "10000000", "30", "3000000"),  # 10,000,000 × 30% = 3,000,000
        ("TCI", "10000000", "1", "100000"),  # outside CEMAC: 10,000,000 × 1% = 100,000
        ("PUA", "10000000", "0.2", "20000"),  # outside the AU: 10,000,000 × 0.2% = 20,000
        # VAT base = CV + DD + EXCISE = 10,000,000 + 3,000,000 = 13,000,000; × 19.25% = 2,502,500
        ("VAT", "13000000", "19.25", "2502500"),
    ]
    assert breakdown.total == D("5622500")  # 3,000,000 + 100,000 + 20,000 + 2,502,500


def test_cameroon_cemac_goods_pay_no_tci_and_no_duty_when_the_preference_is_claimed():
    unclaimed = assess("CM", "870323", "GA", "10000000", date(2026, 6, 1))
    assert table(unclaimed) == [
        ("DD", "10000000", "30", "3000000"),  # no claim: 3,000,000
        ("VAT", "13000000", "19.25", "2502500"),  # 13,000,000 × 19.25% = 2,502,500
    ]
    claimed = assess("CM", "870323", "GA", "10000000", date(2026, 6, 1), preference=True)
    assert table(claimed) == [
        ("DD", "10000000", "0", "0"),  # CEMAC preference granted
        ("VAT", "10000000", "19.25", "1925000"),  # 10,000,000 × 19.25% = 1,925,000
    ]


def test_cameroon_ceeac_goods_pay_tci_and_never_the_switched_off_cci():
    breakdown = assess("CM", "870323", "CD", "10000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "10000000", "30", "3000000"),  # 3,000,000
        ("TCI", "10000000", "1", "100000"),  # DR Congo is outside CEMAC: 100,000
        # no CCI (shipped off), no PUA (AU member)
        ("VAT", "13000000", "19.25", "2502500"),  # 13,000,000 × 19.25% = 2,502,500
    ]
    assert breakdown.total == D("5602500")
    assert "CCI" not in assess("CM", "870323", "FR", "10000000", date(2026, 6, 1)).codes()


def test_cameroon_beer_puts_excise_in_the_vat_base_and_rounds_half_up():
    breakdown = assess("CM", "220300", "BE", "1000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "1000000", "30", "300000"),  # 1,000,000 × 30% = 300,000
        ("TCI", "1000000", "1", "10000"),  # 10,000
        ("PUA", "1000000", "0.2", "2000"),  # 2,000
        ("EXCISE", "1300000", "25", "325000"),  # (1,000,000 + 300,000) × 25% = 325,000
        # (1,000,000 + 300,000 + 325,000) = 1,625,000 × 19.25% = 312,812.5 → 312,813
        ("VAT", "1625000", "19.25", "312813"),
    ]
    assert breakdown.total == D("949813")  # 300,000 + 10,000 + 2,000 + 325,000 + 312,813


def test_cameroon_medicines_pay_the_5_percent_band_and_no_vat():
    breakdown = assess("CM", "300490", "FR", "1000000", date(2026, 6, 1))
    assert table(breakdown) == [
        ("DD", "1000000", "5", "50000"),  # CEMAC band 5: 50,000
        ("TCI", "1000000", "1", "10000"),  # 10,000
        ("PUA", "1000000", "0.2", "2000"),  # 2,000
        ("VAT", "1050000", "0", "0"),  # exempt: (1,000,000 + 50,000) × 0%
    ]
    assert breakdown.total == D("62000")


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
