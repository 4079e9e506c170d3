"""Country profiles and bloc membership: what ships, how a value changes with time, and what an
administration is told when its edited file is wrong."""

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
from avance.revenue.profiles import PACKAGE_DIR, CountryProfile, blocs_from_file, profile_from_file

SHIPPED = ["CI", "CM", "GH", "ML", "NG", "SN"]
SN_YAML = (PACKAGE_DIR / "profiles" / "SN.yaml").read_text(encoding="utf-8")
BLOCS_YAML = (PACKAGE_DIR / "blocs.yaml").read_text(encoding="utf-8")
TODAY = date(2026, 6, 1)


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
    assert profile.standard_vat_rate_on(TODAY) == Decimal(vat)
    assert profile.preference_blocs == blocs
    assert profile.name.fr and profile.name.en


@pytest.mark.parametrize("country", SHIPPED)
def test_every_profile_has_excise_on_value_plus_duty_and_vat(country: str):
    profile = load_profile(country)
    excise = [line for line in profile.lines if line.code == "EXCISE"]
    assert len(excise) == 1
    assert excise[0].base == ("CV", "DD") and excise[0].rate_on(TODAY) == "schedule.excise"
    assert any(line.code == "VAT" and line.rate_on(TODAY) == "schedule.vat_or_standard" for line in profile.lines)


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
    values = [entry.value for entry in profile.vat_standard_rate.entries]
    values += [entry.value for line in profile.lines for entry in line.rate.entries]
    assert values and all(value is None or isinstance(value, (Decimal, str)) for value in values)


def test_the_solidarity_levy_rate_changed_on_1_july_2017():
    pcs = next(line for line in load_profile("SN").lines if line.code == "PCS")
    assert pcs.rate_on(date(2017, 6, 30)) == Decimal("1")
    assert pcs.rate_on(date(2017, 7, 1)) == Decimal("0.8")
    assert [entry.valid_from for entry in pcs.rate.entries] == [date(2017, 7, 1), None]  # newest first


def test_nigerian_vat_was_5_percent_until_the_finance_act_2019_and_none_before_1994():
    vat = load_profile("NG").vat_standard_rate
    assert vat.on(date(2020, 1, 31)) == Decimal("5")
    assert vat.on(date(2020, 2, 1)) == Decimal("7.5")
    assert vat.on(date(1993, 12, 31)) is None  # VAT was introduced on 1994-01-01
    assert "Finance Act 2019" in vat.entries[0].legal_basis


def test_a_value_ended_by_null_is_not_in_force_after_its_end():
    lines = {line.code: line for line in load_profile("ML").lines}
    assert lines["PC"].rate_on(date(2025, 1, 28)) == Decimal("0.5")
    assert lines["PC"].rate_on(date(2025, 1, 29)) is None  # withdrawal from ECOWAS
    assert not lines["PC"].in_force(date(2025, 6, 1))
    assert lines["PC"].periods == ((None, date(2025, 1, 28)),)
    assert lines["PC_AES"].rate_on(date(2025, 3, 27)) is None  # before its first value
    assert lines["PC_AES"].periods == ((date(2025, 3, 28), None),)


@pytest.mark.parametrize("country", SHIPPED)
def test_every_dated_value_names_its_legal_basis(country: str):
    profile = load_profile(country)
    entries = list(profile.vat_standard_rate.entries) + [e for line in profile.lines for e in line.rate.entries]
    assert entries and all(entry.legal_basis.strip() for entry in entries)


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
    with pytest.raises(UnknownBloc):
        load_blocs().members("EAC", date(2026, 1, 1))


def test_a_bloc_has_no_members_before_its_first_dated_list():
    assert load_blocs().members("AES", date(2025, 1, 28)) == frozenset()
    assert load_blocs().members("AES", date(2025, 1, 29)) == {"BF", "ML", "NE"}


def test_morocco_counts_in_the_african_union_from_its_readmission():
    blocs = load_blocs()
    assert not blocs.is_member("AU", "MA", date(2017, 1, 29))
    assert blocs.is_member("AU", "MA", date(2017, 1, 30))
    assert len(blocs.members("AU", date(2017, 1, 29))) == 54


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("        value: [BF, ML, NE]\n", "        value: [BF, ML, NE, ML]\n", "blocs.AES.members[0].value: ML is listed twice"),
        ("        value: [BF, ML, NE]\n", "        value: [BF, ML, XK]\n", "blocs.AES.members[0].value"),
        ("        value: [BF, ML, NE]\n", "        value: BF\n", "blocs.AES.members[0].value: give the members as a list"),
        ("      - value: [CM, CF, TD, CG, GQ, GA]\n", "      - value: [CM, CF, TD, CG, GQ, GA]\n        joined: 1994\n", "blocs.CEMAC.members[0].joined: Extra inputs are not permitted"),
        ("        legal_basis: Traité instituant la CEMAC (N'Djamena, 1994)\n", "", "blocs.CEMAC.members[0].legal_basis: Field required"),
        ("        legal_basis: Revised ECOWAS Treaty (Cotonou, 1993)\n", "        legal_basis: Revised ECOWAS Treaty (Cotonou, 1993)\n        valid_from: 2025-06-01\n",
         "blocs.ECOWAS.members: [1] starts on 2025-06-01, after [0] (2025-01-29): list the values newest first"),
        ("      - value: [BJ, BF, CI, GW, ML, NE, SN, TG]\n        legal_basis: Traité de l'UEMOA (1994)\n", "      [BJ, BF, CI, GW, ML, NE, SN, TG]\n",
         "blocs.UEMOA.members: [0] 'BJ' is not a dated value"),
    ],
)
def test_a_broken_bloc_file_names_the_file_and_the_field(tmp_path: Path, old: str, new: str, expected: str):
    assert old in BLOCS_YAML, old
    path = tmp_path / "blocs.yaml"
    path.write_text(BLOCS_YAML.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        blocs_from_file(path)
    assert caught.value.source == str(path)
    assert expected in str(caught.value)


# --- broken files -------------------------------------------------------------------------------


def broken(tmp_path: Path, old: str, new: str) -> Path:
    assert old in SN_YAML, old
    path = tmp_path / "SN.yaml"
    path.write_text(SN_YAML.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("{value: 0.5,", "{value: lots,", "lines[3] (PC).rate[0].value: 'lots' is neither a rate"),
        ("{value: 0.5,", "{value: -0.5,", "lines[3] (PC).rate[0].value: -0.5 is not a rate (a number, zero or more)"),
        ("{value: 0.5,", "{value: schedule.levy,", "lines[3] (PC).rate[0].value: 'schedule.levy' is not a rate source"),
        ("    origin_outside: ECOWAS\n", "    orgin_outside: ECOWAS\n", "lines[3] (PC).orgin_outside: Extra inputs are not permitted"),
        ("    origin_outside: ECOWAS\n", "    origin_outside: ECOWA\n", "lines[3] (PC).origin_outside: unknown bloc ECOWA"),
        ("    base: [VATBASE]\n", "    base: [VATBSE]\n", "lines[7] (VAT).base: unknown term VATBSE"),
        ("currency: XOF\n", "currency: ABC\n", "currency: ABC is not an ISO 4217 currency code"),
        ("currency: XOF\n", "", "currency: Field required"),
        ("preference_blocs: [ECOWAS, UEMOA]", "preference_blocs: [ECOWAS, UMOA]", "preference_blocs: unknown bloc UMOA"),
        ("    confidence: high\n", "    confidence: sure\n", "lines[0] (DD).confidence: Input should be 'high', 'medium' or 'low'"),
        # dated values: one value per date, newest first, each with its legal reference
        ("{value: 1, legal_basis: Acte", "{valid_from: 2018-01-01, value: 1, legal_basis: Acte",
         "lines[2] (PCS).rate: [1] starts on 2018-01-01, after [0] (2017-07-01): list the values newest first"),
        ("{value: 1, legal_basis: Acte", "{valid_from: 2017-07-01, value: 1, legal_basis: Acte",
         "lines[2] (PCS).rate: [0] and [1] both start on 2017-07-01: one value per date"),
        ("{valid_from: 2017-07-01, value: 0.8,", "{value: 0.8,",
         "lines[2] (PCS).rate: [0].valid_from is missing: only the oldest (last) value may leave it out"),
        ("{value: 1, legal_basis: Règlement 02/97/CM/UEMOA}", "{value: 1}", "lines[1] (RS).rate[0].legal_basis: Field required"),
        ("{value: 1, legal_basis: Règlement 02/97/CM/UEMOA}", "{value: 1, legal_basis: ''}", "lines[1] (RS).rate[0].legal_basis: String should have at least 1 character"),
        ("{value: 1, legal_basis: Règlement 02/97/CM/UEMOA}", "{legal_basis: Règlement 02/97/CM/UEMOA}", "lines[1] (RS).rate[0].value: Field required"),
        ("{value: 1, legal_basis: Règlement 02/97/CM/UEMOA}", "{value: 1, legal_basis: Règlement 02/97/CM/UEMOA, from: 1997-01-01}",
         "lines[1] (RS).rate[0].from: Extra inputs are not permitted"),
        ("{value: 1, legal_basis: Règlement 02/97/CM/UEMOA}", "{value: null, legal_basis: Règlement 02/97/CM/UEMOA}",
         "lines[1] (RS).rate: [0]: the oldest value is null, so it ends nothing"),
        ("{value: 1, legal_basis: Acte", "{value: null, legal_basis: Acte", "lines[2] (PCS).rate: [1]: the oldest value is null"),
        ("    rate:\n      - {value: 1, legal_basis: Règlement 02/97/CM/UEMOA}\n", "    rate: 1\n",
         "lines[1] (RS).rate: give a list of dated values, newest first"),
        ("    rate:\n      - {value: 1, legal_basis: Règlement 02/97/CM/UEMOA}\n", "    rate: []\n", "lines[1] (RS).rate: the list is empty"),
        ("  - {value: 18, legal_basis: Code général des impôts (TVA 18 %)}\n", "  - 18\n",
         "vat_standard_rate: [0] 18 is not a dated value: write {valid_from: YYYY-MM-DD, value: ..., legal_basis: ...}"),
        ("  - {value: 18, legal_basis: Code général des impôts (TVA 18 %)}\n", "  - {value: 18.0.0, legal_basis: CGI}\n",
         "vat_standard_rate[0].value: '18.0.0' is not a rate"),
        ("{valid_from: 2017-01-01,", "{valid_from: 2017-13-01,", "'2017-13-01' is not a valid date"),
        ("{valid_from: 2017-01-01,", "{valid_from: 1 January 2017,", "lines[4] (PUA).rate[0].valid_from: Input should be a valid date"),
        # the form before dated values, in a file copied from an older release
        ("    origin_outside: AU\n", "    origin_outside: AU\n    valid_to: 2025-12-31\n", "lines[4] (PUA): valid_to is no longer a field"),
        ("    confidence: medium\n", "    confidence: medium\n    legal_basis: Règlement 02/97/CM/UEMOA\n",
         "lines[1] (RS): legal_basis is no longer a field: each value of the rate carries its own legal_basis"),
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
    data["lines"][1]["rate"][0]["value"] = 1.0
    with pytest.raises(ValueError, match="not floats"):
        CountryProfile.model_validate({**data, "blocs": load_blocs()})


def test_an_administration_can_change_a_rate_from_a_date_without_a_release(tmp_path: Path, monkeypatch):
    old = "      - {value: 0.5, legal_basis: "
    new = "      - {valid_from: 2026-07-01, value: 0.6, legal_basis: Acte de la CEDEAO (exemple)}\n" + old
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "SN.yaml").write_text(SN_YAML.replace(old, new, 1), encoding="utf-8")
    monkeypatch.setenv("AVANCE_TARIFF_DIR", str(tmp_path))
    pc = next(line for line in load_profile("SN").lines if line.code == "PC")
    assert pc.rate_on(date(2026, 6, 30)) == Decimal("0.5")  # declarations before the change keep the old rate
    assert pc.rate_on(date(2026, 7, 1)) == Decimal("0.6")
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
