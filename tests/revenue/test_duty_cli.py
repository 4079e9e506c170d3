"""`avance duty`: what an officer or a broker sees at the command line, in their language
(`AVANCE_LANG`, French by default), like every other command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from click.testing import CliRunner

from avance.kit.settings import get_settings
from avance.revenue.cli import duty
from tests.support import run_avance

app = typer.Typer()
app.command()(duty)
command = typer.main.get_command(app)  # built once: its help texts are read here, not in each test
runner = CliRunner()

WORKED_EXAMPLE = ["--country", "SN", "--hs", "8703231000", "--origin", "FR", "--value", "10000000", "--currency", "XOF", "--date", "2026-06-01"]


@pytest.fixture(autouse=True)
def _no_ambient_language(monkeypatch, tmp_path):
    monkeypatch.setenv("AVANCE_DATA_DIR", str(tmp_path / "no-node"))  # no local node: no rate table
    monkeypatch.delenv("AVANCE_DATABASE_URL", raising=False)
    monkeypatch.delenv("AVANCE_LANG", raising=False)
    monkeypatch.delenv("AVANCE_TARIFF_DIR", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(*args: str, env: dict[str, str] | None = None):
    """``avance duty ARGS`` in this process; ``env`` (``AVANCE_LANG`` ...) is read afresh."""
    get_settings.cache_clear()
    try:
        return runner.invoke(command, list(args), env=env)
    finally:
        get_settings.cache_clear()


ENGLISH = {"AVANCE_LANG": "en"}


def test_the_worked_example_as_json_gives_the_reference_total():
    result = run(*WORKED_EXAMPLE, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "country": "SN",
        "date": "2026-06-01",
        "currency": "XOF",
        "customs_value": "10000000",
        "lines": [
            {"code": "DD", "name": "Droit de douane", "base": "10000000", "rate": "20", "amount": "2000000"},
            {"code": "RS", "name": "Redevance statistique", "base": "10000000", "rate": "1", "amount": "100000"},
            {"code": "PCS", "name": "Prélèvement communautaire de solidarité", "base": "10000000", "rate": "0.8", "amount": "80000"},
            {"code": "PC", "name": "Prélèvement communautaire CEDEAO", "base": "10000000", "rate": "0.5", "amount": "50000"},
            {"code": "VAT", "name": "Taxe sur la valeur ajoutée (TVA)", "base": "12230000", "rate": "18", "amount": "2201400"},
        ],
        "total": "4431400",
    }


def test_line_names_follow_the_operators_language():
    english = json.loads(run(*WORKED_EXAMPLE, "--json", env=ENGLISH).stdout)
    assert english["lines"][0]["name"] == "Import duty"
    from_locale = json.loads(run(*WORKED_EXAMPLE, "--json", env={"AVANCE_LANG": "en_GB.UTF-8"}).stdout)
    assert from_locale["lines"][-1]["name"] == "Value added tax (VAT)"
    assert json.loads(run(*WORKED_EXAMPLE, "--json", env={"AVANCE_LANG": "de"}).stdout)["lines"][0]["name"] == "Droit de douane"


def test_the_table_groups_thousands_the_french_way_by_default():
    result = run(*WORKED_EXAMPLE)
    assert result.exit_code == 0
    assert "Droits et taxes — SN — 2026-06-01 — XOF" in result.stdout
    assert "4\u202f431\u202f400" in result.stdout  # CLDR's French group separator: the narrow no-break space
    assert "Valeur en douane : 10\u202f000\u202f000 XOF" in result.stdout
    assert "0,8" in result.stdout  # the solidarity levy's rate, with a decimal comma
    assert "Taxe sur la valeur ajoutée" in result.stdout


def test_the_table_in_english():
    result = run(*WORKED_EXAMPLE, env=ENGLISH)
    assert "4,431,400" in result.stdout
    assert "Import duty" in result.stdout


def test_amounts_show_the_minor_units_of_their_currency():
    args = ["--country", "NG", "--hs", "870323", "--origin", "JP", "--value", "1000", "--currency", "NGN", "--date", "2025-06-01"]
    english = run(*args, env=ENGLISH).stdout
    assert "1,000.00" in english and "10.00" in english  # the naira has kobo
    french = run(*args).stdout
    assert "1\u202f000,00" in french and "10,00" in french


@pytest.mark.parametrize(
    ("language", "typed"),
    [("fr", "10000000,50"), ("fr", "10 000 000,50"), ("fr", "10\u202f000\u202f000,50"), ("fr", "10000000.50"), ("en", "10000000.50"), ("en", "10,000,000.50")],
)
def test_a_value_is_typed_the_way_the_operators_language_writes_it(language, typed):
    args = ["--country", "SN", "--hs", "8703231000", "--origin", "FR", "--value", typed, "--currency", "XOF", "--date", "2026-06-01", "--json"]
    result = run(*args, env={"AVANCE_LANG": language})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customs_value"] == "10000000.50"


def test_the_help_is_in_the_operators_language_only(tmp_path):
    english = run_avance(["duty", "--help"], tmp_path, lang="en")
    assert english.returncode == 0, english.stderr
    assert "HS code of the item" in english.stdout and "code SH" not in english.stdout
    french = run_avance(["duty", "--help"], tmp_path, lang="fr")
    assert "code SH de l'article" in french.stdout and "HS code of the item" not in french.stdout


def test_fob_defaults_to_the_customs_value_and_can_be_given():
    args = ["--country", "NG", "--hs", "870323", "--origin", "JP", "--value", "1000", "--currency", "NGN", "--date", "2025-06-01", "--json"]
    lines = {line["code"]: line for line in json.loads(run(*args).stdout)["lines"]}
    assert lines["CISS"]["base"] == "1000"  # 1% of 1,000 = 10.00
    assert lines["CISS"]["amount"] == "10.00"
    lines = {line["code"]: line for line in json.loads(run(*args, "--fob", "800.50").stdout)["lines"]}
    assert lines["CISS"]["amount"] == "8.01"  # 1% of 800.50 = 8.005 → 8.01


def test_a_claimed_preference_is_passed_to_the_calculator():
    args = ["--country", "SN", "--hs", "870323", "--origin", "GH", "--value", "1000000", "--currency", "XOF", "--date", "2026-06-01", "--json"]
    assert json.loads(run(*args, "--preference").stdout)["lines"][0]["amount"] == "0"
    assert json.loads(run(*args).stdout)["lines"][0]["amount"] == "200000"


def test_a_schedule_file_can_replace_the_shipped_one(tmp_path: Path):
    path = tmp_path / "sn.csv"
    path.write_text("hs_code,description,duty_rate,excise_rate,vat_rate,valid_from,valid_to\n870323,Voitures,10,,,,\n", encoding="utf-8")
    data = json.loads(run(*WORKED_EXAMPLE, "--schedule", str(path), "--json").stdout)
    assert data["lines"][0]["rate"] == "10"


def _bad_schedule(tmp_path: Path) -> str:
    path = tmp_path / "bad.csv"
    path.write_text("hs_code,description,duty_rate,excise_rate,vat_rate,valid_from,valid_to\n870323,Voitures,-20,,,,\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--country", "XX", "erreur : aucun profil tarifaire pour le pays XX"),
        ("--hs", "87032", "erreur : le code SH 87032 doit comporter 6 à 10 chiffres"),
        ("--hs", "87032A", "erreur : le code SH 87032A"),
        ("--hs", "87032310001", "erreur : le code SH 87032310001"),
        ("--hs", "999999", "erreur : aucune ligne du barème de SN ne couvre le code SH 999999 au 2026-06-01"),
        ("--origin", "ZZ", "erreur : pays d'origine inconnu : ZZ"),
        ("--origin", "FRA", "erreur : pays d'origine inconnu : FRA"),
        ("--value", "-1", "erreur : --value doit être un nombre positif ou nul, pas -1"),
        ("--value", "abc", "erreur : --value doit être un nombre positif ou nul, pas abc"),
        ("--value", "NaN", "erreur : --value"),
        ("--value", "10,000,000", "erreur : --value doit être un nombre positif ou nul, pas 10,000,000"),  # English grouping in French
        ("--value", "1e18", "erreur : --value doit être inférieur à 10^18 avec au plus 6 décimales, pas 1e18"),
        ("--value", "1.1234567", "erreur : --value doit être inférieur à 10^18"),
        ("--value", "1,1234567", "erreur : --value doit être inférieur à 10^18"),
        ("--fob", "-2", "erreur : --fob doit être un nombre positif ou nul, pas -2"),
        ("--date", "2026-13-01", "erreur : --date : 2026-13-01 n'est pas une date valide (AAAA-MM-JJ attendu"),
        ("--date", "01/06/2026", "erreur : --date : 01/06/2026"),
        ("--date", "20260601", "erreur : --date : 20260601"),
        ("--currency", "USD", "erreur : aucun cours de USD en XOF au 2026-06-01"),
        ("--currency", "ABC", "erreur : ABC n'est pas un code de monnaie ISO 4217"),
        ("--schedule", "/nonexistent/schedule.csv", "erreur : barème schedule.csv inutilisable"),
        ("--schedule", "BAD", "erreur : barème bad.csv, ligne 2 : duty_rate -20 est négatif"),
    ],
)
def test_bad_input_gives_one_error_line_and_exit_code_2(tmp_path: Path, option: str, value: str, expected: str):
    args = ["--country", "SN", "--hs", "8703231000", "--origin", "FR", "--value", "10000000", "--currency", "XOF", "--date", "2026-06-01"]
    if value == "BAD":
        value = _bad_schedule(tmp_path)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected), lines[0]
    assert "Traceback" not in result.output


def test_errors_come_in_english_when_asked():
    result = run(*WORKED_EXAMPLE, "--hs", "87032", env=ENGLISH)
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: HS code 87032 must have 6 to 10 digits"
    comma = run(*WORKED_EXAMPLE, "--value", "10000000,50", env=ENGLISH)  # a decimal comma is French
    assert comma.exit_code == 2 and comma.stderr.startswith("error: --value must be")


def test_a_broken_profile_is_reported_on_one_line(tmp_path: Path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "SN.yaml").write_text("country: SN\ncurrency: XOF\n", encoding="utf-8")
    result = run(*WORKED_EXAMPLE, env={"AVANCE_TARIFF_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("erreur : le profil tarifaire de SN est invalide : ")
    assert "SN.yaml" in result.stderr and "lines: Field required" in result.stderr


def test_a_value_in_euros_is_converted_at_the_cfa_franc_peg():
    args = ["--country", "SN", "--hs", "8703231000", "--origin", "FR", "--value", "1000", "--currency", "EUR", "--date", "2026-06-01", "--json"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    breakdown = json.loads(result.stdout)
    assert breakdown["currency"] == "XOF"
    assert breakdown["customs_value"] == "655957"  # 1,000 EUR x 655.957
    assert breakdown["lines"][0]["amount"] == "131191"  # 655,957 x 20% = 131,191.4
