"""The reference data a node ships with is coherent: every code it uses exists."""

from __future__ import annotations

from datetime import date

import pytest

from avance.demo.generator import load_catalog
from avance.reference import check_locode, hs_subheadings, is_country, is_hs_code, locodes, procedures, shipped_offices
from avance.revenue.profiles import available_profiles
from avance.revenue.schedule import Schedule


def test_hs_2022_has_its_subheadings_and_not_the_comtrade_placeholders():
    assert len(hs_subheadings()) == 5612  # the WCO counts 5,609; see docs/data-model.md
    assert is_hs_code("8806210000")  # drones: new in HS 2022
    assert not is_hs_code("999999") and not is_hs_code("300210")  # 3002.10 was split in HS 2022


@pytest.mark.parametrize("country", available_profiles())
def test_every_line_of_the_shipped_schedules_is_an_hs_2022_code(country):
    bad = [line.hs_code for line in Schedule.default(country) if not is_hs_code(line.hs_code)]
    assert bad == []


def test_every_good_of_the_demo_trade_exists_and_has_a_tariff_line_everywhere():
    catalog = load_catalog()
    codes = set()
    for sector in catalog["sectors"].values():
        codes |= set(sector["goods"])
    assert codes and all(is_hs_code(code) for code in codes), sorted(c for c in codes if not is_hs_code(c))
    for country in available_profiles():
        schedule = Schedule.default(country)
        assert [c for c in sorted(codes) if schedule.lookup(c + "0000", date(2026, 6, 1)) is None] == []


def test_offices_belong_to_their_country_and_name_real_places():
    for office in shipped_offices().values():
        assert is_country(office.country)
        if office.locode:
            assert office.locode[:2] == office.country and check_locode(office.locode) is True


def test_places_and_procedures_load():
    assert locodes()["SNDKR"].is_port
    assert check_locode("CNSHA") is None  # outside the shipped subset: cannot be checked here
    assert procedures()["4000"].duties_due and not procedures()["7100"].duties_due
