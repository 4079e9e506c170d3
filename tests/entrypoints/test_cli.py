"""The IT team drives a node from the command line; bad input gets one line and exit code 2."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from avance.kit.settings import get_settings
from tests.support import ROOT, run_cli
from tests.support import run_avance as run

EXAMPLES = ROOT / "examples"
ASYCUDA = [str(EXAMPLES / "asycuda-extract-sn.csv"), "--mapping", str(EXAMPLES / "mappings" / "asycuda-sn.yaml")]


def run_here(args: list[str], folder: Path, lang: str = "en") -> subprocess.CompletedProcess[str]:
    """``avance ARGS`` run from ``folder`` as a newcomer runs it: no ``AVANCE_*`` variable but the language."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")} | {"AVANCE_LANG": lang}
    return subprocess.run([sys.executable, "-m", "avance", *args], capture_output=True, text=True, env=environment, cwd=folder, timeout=600)


def test_worked_example_of_the_tariff_reference_reproduced_exactly(tmp_path):
    result = run(["duty", "--country", "SN", "--hs", "8703231000", "--origin", "FR", "--value", "10000000", "--currency", "XOF", "--date", "2026-06-01", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    breakdown = json.loads(result.stdout)
    assert [(l["code"], l["base"], l["rate"], l["amount"]) for l in breakdown["lines"]] == [
        ("DD", "10000000", "20", "2000000"),
        ("RS", "10000000", "1", "100000"),
        ("PCS", "10000000", "0.8", "80000"),
        ("PC", "10000000", "0.5", "50000"),
        ("VAT", "12230000", "18", "2201400"),
    ]
    assert breakdown["total"] == "4431400"


@pytest.mark.parametrize(
    "args",
    [
        ["--country", "XX"],
        ["--hs", "12"],
        ["--value", "-5"],
        ["--value", "beaucoup"],
        ["--origin", "QQ"],
        ["--date", "2026-02-30"],
    ],
)
def test_bad_duty_input_gives_one_line_and_exit_code_2(tmp_path, args):
    base = {"--country": "SN", "--hs": "8703231000", "--origin": "FR", "--value": "10000000", "--currency": "XOF"}
    base.update(dict(zip(args[::2], args[1::2])))
    result = run(["duty", *[x for kv in base.items() for x in kv]], tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_a_node_is_set_up_users_get_a_token_once_and_rates_load(tmp_path):
    assert run(["init", "--country", "SN"], tmp_path).returncode == 0
    assert (tmp_path / "avance.db").exists()
    created = run(["users", "create", "--name", "awa", "--role", "officer"], tmp_path)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("avk_") and len(token) > 40
    listed = run(["users", "list"], tmp_path)
    assert "awa" in listed.stdout and token not in listed.stdout
    assert run(["users", "revoke", "--name", "awa"], tmp_path).returncode == 0
    assert "False" in run(["users", "list"], tmp_path).stdout
    assert run(["users", "revoke", "--name", "nobody"], tmp_path).returncode == 2
    again = run(["users", "create", "--name", "awa", "--role", "officer"], tmp_path)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    no_party = run(["users", "create", "--name", "cad", "--role", "declarant"], tmp_path, lang="fr")
    assert no_party.returncode == 2 and "--party-id" in no_party.stderr
    loaded = run(["rates", "load", str(EXAMPLES / "rates" / "SN-rates-2026.csv")], tmp_path)
    assert loaded.returncode == 0 and "7" in loaded.stdout


def test_a_rate_file_with_a_bad_row_is_refused_whole(tmp_path):
    run(["init", "--country", "SN"], tmp_path)
    bad = tmp_path / "rates.csv"
    bad.write_text("currency,rate,valid_from\nUSD,600,2026-01-01\nEUR,650,2026-01-01\n")
    result = run(["rates", "load", str(bad)], tmp_path)
    assert result.returncode == 2
    assert "line 3" in result.stderr and "EUR" in result.stderr  # the euro is fixed for XOF


def test_commands_on_an_uninitialised_node_say_what_to_do(tmp_path):
    result = run(["users", "list"], tmp_path)
    assert result.returncode == 2
    assert "avance init" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_asycuda_extract_is_imported_with_every_rejected_row_reported(tmp_path):
    run(["init", "--country", "SN"], tmp_path)
    run(["rates", "load", str(EXAMPLES / "rates" / "SN-rates-2026.csv")], tmp_path)
    rejects = tmp_path / "rejects.csv"
    result = run(
        ["import", "declarations", str(EXAMPLES / "asycuda-extract-sn.csv"), "--mapping", str(EXAMPLES / "mappings" / "asycuda-sn.yaml"), "--rejects", str(rejects)],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "3 declaration(s) stored, 2 rejected" in result.stdout
    with rejects.open() as handle:
        rows = list(csv.DictReader(handle))
    by_line = {}
    for row in rows:
        by_line.setdefault(row["line"], set()).add(row["code"])
    assert by_line["6"] == {"import.bad_row"}  # office 99X is not in the mapping
    assert by_line["7"] == {"hs.unknown", "mass.gross_below_net"}
    again = run(["import", "declarations", str(EXAMPLES / "asycuda-extract-sn.csv"), "--mapping", str(EXAMPLES / "mappings" / "asycuda-sn.yaml"), "--rejects", str(rejects)], tmp_path)
    assert "0 declaration(s) stored, 2 rejected" in again.stdout  # the file run again: nothing new, the same two bad rows
    assert "3 declaration(s) were already stored" in again.stdout


def test_json_lines_import_takes_api_documents(tmp_path):
    run(["init", "--country", "SN"], tmp_path)
    doc = json.loads((EXAMPLES / "declaration-sn.json").read_text())
    lines = [json.dumps({"registration_date": "2026-12-01", "declaration": doc}), "{not json", json.dumps(dict(doc, lrn="SECOND", office_code="??"))]
    source = tmp_path / "decls.jsonl"
    source.write_text("\n".join(lines) + "\n")
    result = run(["import", "declarations", str(source)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 declaration(s) stored, 2 rejected" in result.stdout
    rejects = (tmp_path / "decls.jsonl.rejects.csv").read_text()
    assert "schema.json_invalid" in rejects or "import.bad_row" in rejects


def test_a_broken_mapping_file_is_one_line_and_exit_code_2(tmp_path):
    run(["init", "--country", "SN"], tmp_path)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("fields: {lrn: {column: A, type: weird}}\n")
    result = run(["import", "declarations", str(EXAMPLES / "asycuda-extract-sn.csv"), "--mapping", str(mapping)], tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["duty", "--country", "SN"], ["serve", "--port", "abc"], ["nonsense"], ["users", "create", "--name", "x", "--role", "boss"]])
def test_usage_errors_are_one_line_with_exit_code_2(tmp_path, args):
    result = run(args, tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--help" in result.stderr


def test_duty_converts_a_foreign_value_with_the_nodes_rate_of_the_day(tmp_path):
    run(["init", "--country", "SN"], tmp_path)
    run(["rates", "load", str(EXAMPLES / "rates" / "SN-rates-2026.csv")], tmp_path)
    result = run(["duty", "--country", "SN", "--hs", "1006300000", "--origin", "TH", "--value", "1000", "--currency", "USD", "--date", "2026-06-01", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["customs_value"] == "601750"  # 1,000 USD x 601.75 (rate from 2026-03-01)


def test_after_the_demo_the_readme_commands_work_from_the_same_folder(tmp_path):
    """`make demo`, then `avance users list` and `avance import declarations ...` from the same
    folder: they find the demo's node, with no variable to set."""
    demo = run_here(["demo", "--no-serve", "--declarations", "30", "--history", "0"], tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "avance users list" in demo.stderr, "the demo says what to try next"
    listed = run_here(["users", "list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "demo-declarant" in listed.stdout and "SN0012345A7" in listed.stdout
    imported = run_here(["import", "declarations", *ASYCUDA, "--rejects", "var/rejects.csv"], tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "3 declaration(s) stored, 2 rejected" in imported.stdout
    assert sorted(p.name for p in (tmp_path / "var").glob("*.db")) == ["avance.db"], "one node, the demo's"


def test_the_demo_tells_how_to_reach_a_node_built_elsewhere(tmp_path):
    demo = run_here(["demo", "--no-serve", "--declarations", "5", "--history", "0", "--data-dir", "elsewhere"], tmp_path, lang="fr")
    assert demo.returncode == 0, demo.stderr
    assert "AVANCE_DATA_DIR=elsewhere avance users list" in demo.stderr
    assert (tmp_path / "elsewhere" / "avance.db").is_file()


@pytest.mark.parametrize(
    "args",
    [
        ["users", "list"],
        ["import", "declarations", *ASYCUDA],
        ["rates", "load", str(EXAMPLES / "rates" / "SN-rates-2026.csv")],
        ["serve", "--port", "9"],
        ["profiles", "list"],
        ["valuation", "overrides", "list"],
        ["exchange", "status"],
        ["partners", "list"],
        ["matching", "list"],
        ["transit", "list"],
        ["model", "drift"],
        ["duty", "--country", "SN", "--hs", "8703231000", "--origin", "FR", "--value", "1000", "--currency", "USD", "--date", "2026-06-01"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_no_command_creates_a_database_it_does_not_initialise(tmp_path, monkeypatch, args):
    """Before `avance init` (or `avance demo`), a command says what to do and leaves no empty
    database behind for the next one to trip on."""
    for name in [k for k in os.environ if k.startswith("AVANCE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AVANCE_LANG", "en")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        code, _, err = run_cli(args)
    finally:
        get_settings.cache_clear()
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "avance init" in err or args[0] == "duty"
    assert not list(tmp_path.rglob("*.db")), "no database file was created"


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["duty", "--country", "SN", "--hs", "8703231000", "--origin", "FR", "--value", "1", "--currency", "XOF", "--date", "{day}"], "--date"),
        (["profiles", "stats", "--since", "{day}"], "--since"),
        (["valuation", "build", "--until", "{day}"], "--until"),
        (["valuation", "show", "--hs", "870323", "--on", "{day}"], "--on"),
        (["matching", "sweep", "--as-of", "{day}"], "--as-of"),
        (["model", "retrain", "--since", "{day}"], "--since"),
        (["model", "drift", "--today", "{day}"], "--today"),
        (["model", "fit", "--data", "x.csv", "--mapping", "m.yaml", "--out", "m", "--until", "{day}"], "--until"),
    ],
    ids=lambda value: " ".join(value[:2]) if isinstance(value, list) else value,
)
@pytest.mark.parametrize("day", ["2026-02-30", "01/06/2026", "20260601"])
def test_every_command_reads_a_day_the_same_way_and_says_so_the_same_way(tmp_path, monkeypatch, args, option, day):
    for name in [k for k in os.environ if k.startswith("AVANCE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AVANCE_LANG", "en")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        code, _, err = run_cli([a.replace("{day}", day) for a in args])
    finally:
        get_settings.cache_clear()
    assert code == 2, err
    assert err.strip() == f"error: {option}: {day} is not a valid date (YYYY-MM-DD expected, for example 2026-06-01)."
