"""``avance import`` reads every format a legacy system exports, through the same runner as CSV and
JSON Lines: a CUSDEC interchange of declarations, a shipping line's CUSCAR, a WCO DM export
declaration, an ASYCUDA World SAD, a pretty-printed Avance JSON file. A message that cannot be read
is rejected whole, with its reason, and nothing of it is stored."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from avance.declarations.tables import declarations
from avance.formats import registry
from avance.formats.documents import Document
from avance.imports.runner import run_import
from avance.kit.settings import get_settings
from avance.manifests.tables import manifests
from avance.movements.tables import export_notices
from tests.support import declaration, exchange_ready, manifest, notice, run_cli


def count(node, table) -> int:
    with node.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def written(path: Path, docs: list[Document], fmt: str) -> Path:
    path.write_bytes(registry.write(docs, fmt))
    return path


def reasons(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_cusdec_interchange_of_declarations_is_imported_and_a_rerun_stores_nothing_twice(sqlite_node, tmp_path):
    source = written(tmp_path / "declarations.edi", [Document("declaration", declaration(f"2026-DKR-IMP00{i}")) for i in (1, 2, 3)], "edifact")
    report = run_import(sqlite_node, source, workers=1, rejects_path=tmp_path / "rejects.csv", lang="en")
    assert (report.accepted, report.rejected) == (3, 0)
    assert count(sqlite_node, declarations) == 3
    again = run_import(sqlite_node, source, workers=1, rejects_path=tmp_path / "again.csv", lang="en")
    assert (again.accepted, again.rejected, again.already_stored) == (0, 0, 3)
    assert count(sqlite_node, declarations) == 3


def test_a_declaration_breaking_a_rule_is_rejected_with_its_pointer_and_the_others_are_stored(sqlite_node, tmp_path):
    bad = declaration("2026-DKR-IMPBAD")
    bad["goods_items"][0]["hs_code"] = "0000000000"
    source = written(tmp_path / "mixed.edi", [Document("declaration", declaration("2026-DKR-IMPOK")), Document("declaration", bad)], "edifact")
    report = run_import(sqlite_node, source, workers=1, rejects_path=tmp_path / "rejects.csv", lang="en")
    assert (report.accepted, report.rejected) == (1, 1)
    rows = reasons(tmp_path / "rejects.csv")
    assert {(r["line"], r["lrn"], r["pointer"]) for r in rows} >= {("2", "2026-DKR-IMPBAD", "/goods_items/0/hs_code")}


def test_a_cuscar_is_imported_as_a_cargo_report(sqlite_node, tmp_path):
    source = written(tmp_path / "vessel.edi", [Document("cargo_report", manifest("MAN-IMP-0001"))], "edifact")
    report = run_import(sqlite_node, source, workers=1, rejects_path=tmp_path / "rejects.csv", lang="en")
    assert (report.accepted, report.rejected) == (1, 0)
    with sqlite_node.engine.connect() as conn:
        stored = conn.execute(select(manifests.c.reference, manifests.c.document)).one()
    assert stored.reference == "MAN-IMP-0001" and stored.document["carrier"]["name"] == "Grimaldi Sénégal"
    assert run_import(sqlite_node, source, workers=1, rejects_path=tmp_path / "again.csv").already_stored == 1


def test_a_wco_export_declaration_is_imported_as_an_export_notice(sqlite_node, tmp_path):
    exchange_ready(sqlite_node)
    doc = notice("SN-EX-IMP-01", exporting_country="SN", destination_country="CI", office_of_exit="SN-DKR-PORT")
    source = written(tmp_path / "export.xml", [Document("export_notice", doc)], "wco-xml")
    report = run_import(sqlite_node, source, workers=1, rejects_path=tmp_path / "rejects.csv", lang="en")
    assert (report.accepted, report.rejected) == (1, 0), reasons(tmp_path / "rejects.csv") if report.rejected else None
    assert count(sqlite_node, export_notices) == 1


def test_a_refused_export_notice_is_listed_with_its_reason(sqlite_node, tmp_path):
    doc = notice("CI-EX-IMP-02")  # an Ivorian export: not this (Senegalese) node's to send
    source = written(tmp_path / "export.edi", [Document("export_notice", doc)], "edifact")
    report = run_import(sqlite_node, source, workers=1, rejects_path=tmp_path / "rejects.csv", lang="en")
    assert (report.accepted, report.rejected) == (0, 1)
    assert [(r["lrn"], r["pointer"], r["code"]) for r in reasons(tmp_path / "rejects.csv")] == [("CI-EX-IMP-02", "/exporting_country", "matching.not_our_export")]
    assert count(sqlite_node, export_notices) == 0


def test_an_asycuda_sad_and_a_pretty_json_file_are_read_by_their_content(sqlite_node, tmp_path):
    sad = written(tmp_path / "export-sydonia", [Document("declaration", declaration("2026-DKR-SAD001"))], "asycuda")
    pretty = tmp_path / "declaration.json"
    pretty.write_bytes(orjson.dumps(declaration("2026-DKR-JSON01"), option=orjson.OPT_INDENT_2))
    from_json = run_import(sqlite_node, pretty, workers=1, rejects_path=tmp_path / "json.csv", lang="en")
    assert (from_json.accepted, from_json.rejected) == (1, 0)
    from_sad = run_import(sqlite_node, sad, workers=1, rejects_path=tmp_path / "sad.csv", lang="en")
    assert from_sad.accepted + from_sad.rejected == 1  # read as one declaration (lodged, or refused with its reasons)
    if from_sad.rejected:
        assert reasons(tmp_path / "sad.csv")[0]["lrn"] == "2026-DKR-SAD001"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"UNA:+.? 'UNB+UNOC:3+A+B+260101:1200+1'UNH+1+CUSDEC:D:99B:UN'BGM+929+X+9", "format.edifact."),
        (b"<Declaration xmlns='urn:wco:datamodel:WCO:DEC-DMS:2'><FunctionCode>9", "format.xml.malformed"),
        (b"%PDF-1.4", "format.unknown"),
    ],
)
def test_a_message_that_cannot_be_read_is_rejected_whole_and_nothing_is_stored(sqlite_node, tmp_path, content, code):
    source = tmp_path / "broken.dat"
    source.write_bytes(content)
    report = run_import(sqlite_node, source, workers=1, rejects_path=tmp_path / "rejects.csv", lang="en")
    assert (report.accepted, report.rejected) == (0, 1)
    assert reasons(tmp_path / "rejects.csv")[0]["code"].startswith(code)
    assert count(sqlite_node, declarations) == 0


@pytest.fixture
def cli_node(sqlite_node, tmp_path, monkeypatch):
    """The node the command line opens: AVANCE_DATA_DIR holding its avance.db."""
    for name in [k for k in os.environ if k.startswith("AVANCE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AVANCE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AVANCE_LANG", "en")
    get_settings.cache_clear()
    yield sqlite_node
    get_settings.cache_clear()


def test_the_import_command_reads_a_cuscar_told_by_from(cli_node, tmp_path):
    source = written(tmp_path / "vessel.txt", [Document("cargo_report", manifest("MAN-CLI-0001"))], "edifact")
    code, out, err = run_cli(["import", "declarations", str(source), "--from", "edifact"])
    assert code == 0, err
    assert "1" in out and count(cli_node, manifests) == 1


def test_the_import_command_rejects_a_broken_message_with_its_reasons_in_the_rejects_file(cli_node, tmp_path):
    source = tmp_path / "broken.edi"
    source.write_bytes(registry.write([Document("declaration", declaration())], "edifact")[:-30])
    code, out, err = run_cli(["import", "declarations", str(source), "--rejects", str(tmp_path / "rejects.csv")])
    assert code == 0, err  # the run itself went through: the file's reasons are in the rejects file
    assert reasons(tmp_path / "rejects.csv")[0]["code"].startswith("format.edifact.")
    assert count(cli_node, declarations) == 0


def test_the_rejects_file_speaks_the_operators_language(sqlite_node, tmp_path):
    source = tmp_path / "broken.edi"
    source.write_bytes(b"UNA:+.? 'UNB+UNOC:3+X+Y+261206:1200+1'UNH+1+CUSDEC:D:99B:UN'")
    run_import(sqlite_node, source, workers=1, rejects_path=tmp_path / "rejets.csv", lang="fr")
    header = (tmp_path / "rejets.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "ligne,lrn,pointeur,code,motif"
