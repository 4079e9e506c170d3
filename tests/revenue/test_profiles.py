"""Country profiles and bloc membership: what ships, and what an administration is told when
its edited file is wrong."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from avance.revenue import (
    ProfileError,
    UnknownBloc,
    UnknownCountryProfile,
    available_profiles,
    load_blocs,
    load_profile,
)
from avance.revenue.profiles import PACKAGE_DIR, CountryProfile, profile_from_file

SHIPPED = ["CI", "CM", "GH", "ML", "NG", "SN"]
SN_YAML = (PACKAGE_DIR / "profiles" / "SN.yaml").read_text(encoding="utf-8")


def test_six_country_profiles_ship():
    assert available_profiles() == SHIPPED


def test_a_profile_is_found_whatever_the_case_and_loaded_once():
    assert load_profile("sn") is load_profile("SN")
    assert load_profile("SN").currency == "XOF"


@pytest.mark.parametrize("country", ["FR", "XX", "../SN", "", "SEN"])
def test_a_country_without_a_profile_is_reported(country: str):
    with pytest.raises(UnknownCountryProfile) as caught:
        load_profile(country)
    assert caught.value.country == country.upper()


@pytest.mark.parametrize(
    ("country", "currency", "vat", "blocs"),
    [
        ("SN", "XOF", "18", ("ECOWAS", "UEMOA")),
        ("CI", "XOF", "18", ("UEMOA", "ECOWAS")),
        ("ML", "XOF", "18", ("UEMOA", "ECOWAS")),
        ("NG", "NGN", "7.5", ("ECOWAS",)),
        ("GH", "GHS", "15", ("ECOWAS",)),
        ("CM", "XAF", "19.25", ("CEMAC",)),
    ],
)
def test_each_profile_has_its_currency_vat_rate_and_preference_blocs(country, currency, vat, blocs):
    profile = load_profile(country)
    assert profile.currency == currency
    assert profile.vat_standard_rate == Decimal(vat)
    assert profile.preference_blocs == blocs
    assert profile.name.fr and profile.name.en


@pytest.mark.parametrize("country", SHIPPED)
def test_every_profile_has_excise_on_value_plus_duty_and_vat(country: str):
    profile = load_profile(country)
    excise = [line for line in profile.lines if line.code == "EXCISE"]
    assert len(excise) == 1
    assert excise[0].base == ("CV", "DD") and excise[0].rate == "schedule.excise"
    assert any(line.code == "VAT" and line.rate == "schedule.vat_or_standard" for line in profile.lines)


@pytest.mark.parametrize("country", SHIPPED)
def test_low_confidence_lines_ship_switched_off(country: str):
    for line in load_profile(country).lines:
        if line.confidence == "low":
            assert not line.enabled, line.code


def test_the_lines_the_reference_switches_off_are_off():
    off = {c: {line.code for line in load_profile(c).lines if not line.enabled} for c in SHIPPED}
    assert off == {"SN": {"PUA", "COSEC"}, "CI": set(), "ML": set(), "NG": {"PUA"}, "GH": {"SIL"}, "CM": {"CCI"}}


@pytest.mark.parametrize("country", SHIPPED)
def test_rates_are_decimals_never_floats(country: str):
    profile = load_profile(country)
    for line in profile.lines:
        for rate in [line.rate] + [period.rate for period in line.rates or ()]:
            assert rate is None or isinstance(rate, (Decimal, str))
            assert not isinstance(rate, float)


def test_the_solidarity_levy_rate_changed_on_1_july_2017():
    pcs = next(line for line in load_profile("SN").lines if line.code == "PCS")
    assert pcs.rate_on(date(2017, 6, 30)) == Decimal("1")
    assert pcs.rate_on(date(2017, 7, 1)) == Decimal("0.8")


def test_vat_bases_follow_section_3_of_the_reference():
    by_country = {c: load_profile(c) for c in SHIPPED}
    for country in ("SN", "CI", "ML"):
        vat = by_country[country].bases["VATBASE"]
        assert (vat.terms, vat.every_line_except) == (("CV",), ("VAT",))
    assert by_country["NG"].bases["VATBASE"].terms == ("CV", "DD", "SURCHARGE", "CISS", "FOB_LEVY", "PC", "EXCISE")
    assert by_country["GH"].bases["VATBASE"].every_line_except == ("VAT", "NHIL", "GETFUND")
    assert by_country["CM"].bases["VATBASE"].terms == ("CV", "DD", "EXCISE")  # TCI left out (documented)


def test_ghana_exim_levy_excludes_petroleum_headings():
    exim = next(line for line in load_profile("GH").lines if line.code == "EXIM")
    assert exim.exclude_hs_prefixes == ("2709", "2710", "2711")


# --- blocs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("country", ["BF", "ML", "NE"])
def test_sahel_states_left_ecowas_and_joined_the_aes_on_29_january_2025(country: str):
    blocs = load_blocs()
    assert blocs.is_member("ECOWAS", country, date(2025, 1, 28))
    assert not blocs.is_member("ECOWAS", country, date(2025, 1, 29))
    assert not blocs.is_member("AES", country, date(2025, 1, 28))
    assert blocs.is_member("AES", country, date(2025, 1, 29))
    assert blocs.is_member("UEMOA", country, date(2025, 6, 1))


def test_the_african_union_has_55_members_including_morocco_and_the_sadr():
    members = load_blocs().members("AU", date(2026, 1, 1))
    assert len(members) == 55
    assert {"MA", "EH", "ZA", "EG", "SS"} <= members
    assert "RE" not in members  # Réunion is French territory


def test_ceeac_contains_cemac():
    blocs = load_blocs()
    day = date(2026, 1, 1)
    assert blocs.members("CEMAC", day) < blocs.members("CEEAC", day)
    assert blocs.members("CEEAC", day) - blocs.members("CEMAC", day) == {"AO", "BI", "CD", "RW", "ST"}


def test_an_unknown_bloc_is_an_error():
    with pytest.raises(UnknownBloc):
        load_blocs().is_member("EAC", "KE", date(2026, 1, 1))


# --- broken files -------------------------------------------------------------------------------


def broken(tmp_path: Path, old: str, new: str) -> Path:
    assert old in SN_YAML, old
    path = tmp_path / "SN.yaml"
    path.write_text(SN_YAML.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    rate: 0.5\n", "    rate: lots\n", "lines[3] (PC).rate: 'lots' is neither a rate"),
        ("    rate: 0.5\n", "    rate: -0.5\n", "lines[3] (PC).rate: -0.5 is not a rate (a number, zero or more)"),
        ("    rate: 0.5\n", "    rate: schedule.levy\n", "lines[3] (PC).rate: 'schedule.levy' is not a rate source"),
        ("    origin_outside: ECOWAS\n", "    orgin_outside: ECOWAS\n", "lines[3] (PC).orgin_outside: Extra inputs are not permitted"),
        ("    origin_outside: ECOWAS\n", "    origin_outside: ECOWA\n", "lines[3] (PC).origin_outside: unknown bloc ECOWA"),
        ("    base: [VATBASE]\n", "    base: [VATBSE]\n", "lines[7] (VAT).base: unknown term VATBSE"),
        ("currency: XOF\n", "currency: ABC\n", "currency: ABC is not an ISO 4217 currency code"),
        ("currency: XOF\n", "", "currency: Field required"),
        ("preference_blocs: [ECOWAS, UEMOA]", "preference_blocs: [ECOWAS, UMOA]", "preference_blocs: unknown bloc UMOA"),
        ("    confidence: high\n", "    confidence: sure\n", "lines[0] (DD).confidence: Input should be 'high', 'medium' or 'low'"),
        ("      - {rate: 0.8, from: 2017-07-01}", "      - {rate: 0.8, from: 2017-06-01}", "lines[2] (PCS): rates: the periods"),
        ("    valid_from: 2017-01-01\n", "    valid_from: 2017-13-01\n", "'2017-13-01' is not a valid date"),
        ("    valid_from: 2017-01-01\n", "    valid_from: 1 January 2017\n", "lines[4] (PUA).valid_from: Input should be a valid date"),
        ("    base: [CV, DD]\n", "    base: [CV, EXCISE]\n", "lines[6] (EXCISE).base: a line cannot be computed on itself"),
        ("    base: [VATBASE]\n", "    base: [VATBASE, DD]\n", "lines[7] (VAT).base: DD is counted twice"),
        ("name: {fr: Sénégal, en: Senegal}", "name: {fr: Sénégal}", "name.en: Field required"),
        ("country: SN", "country: SEN", "country: 'SEN' is not an ISO 3166 alpha-2 country code"),
        ("country: SN", "country: [SN", "not valid YAML"),
    ],
)
def test_a_broken_profile_names_the_file_and_the_field(tmp_path: Path, old: str, new: str, expected: str):
    path = broken(tmp_path, old, new)
    with pytest.raises(ProfileError) as caught:
        profile_from_file(path)
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_a_line_placed_after_a_base_that_should_include_it_is_refused(tmp_path: Path):
    excise = SN_YAML[SN_YAML.index("  - code: EXCISE") : SN_YAML.index("  - code: VAT")]
    moved = SN_YAML.replace(excise, "") + "\n" + excise
    path = tmp_path / "SN.yaml"
    path.write_text(moved, encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        profile_from_file(path)
    assert "lines[6] (VAT).base: its base includes every line above it except ['VAT'], but lines[7] (EXCISE) comes after it" in str(caught.value)


def test_two_lines_with_the_same_code_must_not_overlap_in_time(tmp_path: Path):
    pc = SN_YAML[SN_YAML.index("  - code: PC\n") : SN_YAML.index("  - code: PUA")]
    path = tmp_path / "SN.yaml"
    path.write_text(SN_YAML.replace(pc, pc + pc), encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        profile_from_file(path)
    assert "lines[4] (PC): its validity overlaps that of lines[3] (PC)" in str(caught.value)


def test_a_float_rate_is_refused_when_a_profile_is_built_in_code():
    data = load_profile("SN").model_dump(by_alias=True, exclude={"blocs"})
    data["lines"][1]["rate"] = 1.0
    with pytest.raises(ValueError, match="not floats"):
        CountryProfile.model_validate({**data, "blocs": load_blocs()})


def test_an_administration_can_correct_a_rate_without_a_release(tmp_path: Path, monkeypatch):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "SN.yaml").write_text(SN_YAML.replace("    rate: 0.5\n", "    rate: 0.6\n"), encoding="utf-8")
    monkeypatch.setenv("AVANCE_TARIFF_DIR", str(tmp_path))
    pc = next(line for line in load_profile("SN").lines if line.code == "PC")
    assert pc.rate == Decimal("0.6")
    assert load_profile("CI").country == "CI"  # countries without an override keep the shipped file


def test_an_override_for_the_wrong_country_is_refused(tmp_path: Path, monkeypatch):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "CI.yaml").write_text(SN_YAML, encoding="utf-8")
    monkeypatch.setenv("AVANCE_TARIFF_DIR", str(tmp_path))
    with pytest.raises(ProfileError, match="country: SN does not match the file name CI.yaml"):
        load_profile("CI")


def test_a_line_cannot_use_itself_through_a_named_base(tmp_path: Path):
    path = broken(tmp_path, "    terms: [CV]\n", "    terms: [CV, VAT]\n")
    with pytest.raises(ProfileError, match=r"lines\[7\] \(VAT\).base: a line cannot be computed on itself"):
        profile_from_file(path)
