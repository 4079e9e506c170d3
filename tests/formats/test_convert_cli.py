"""``avance convert``: an integration team turns a message from one format into another on the
command line, with no node; bad input is one line on standard error and exit code 2, naming the
message, the segment or element, and what is wrong."""

from __future__ import annotations

import io
import sys

import orjson
import pytest

from avance.formats import registry
from avance.formats.documents import Document
from tests.support import ROOT, declaration, manifest, notice, run_cli

SAMPLES = ROOT / "tests" / "formats" / "samples"  # the shared reference samples, copied with their notices


pytestmark = pytest.mark.usefixtures("english")  # the command line in English (tests/conftest.py)


def test_a_declaration_goes_to_edifact_and_back_to_json(tmp_path):
    source = tmp_path / "declaration.json"
    source.write_bytes(orjson.dumps(declaration("2026-DKR-CLI001")))
    code, _, err = run_cli(["convert", str(source), "--to", "edifact", "-o", str(tmp_path / "out.edi")])
    assert (code, err) == (0, "")
    interchange = (tmp_path / "out.edi").read_bytes()
    assert b"CUSDEC" in interchange and b"2026-DKR-CLI001" in interchange
    code, out, err = run_cli(["convert", str(tmp_path / "out.edi")])
    assert code == 0, err
    back = orjson.loads(out)
    assert back["lrn"] == "2026-DKR-CLI001" and back["exporter"]["name"] == "Voitures d'Occasion Lyon"


def test_a_cargo_report_keeps_its_french_names_through_edifact(tmp_path):
    source = tmp_path / "manifest.json"
    source.write_bytes(orjson.dumps(manifest()))
    assert run_cli(["convert", str(source), "--to", "edifact", "-o", str(tmp_path / "cuscar.edi")])[0] == 0
    code, out, _ = run_cli(["convert", str(tmp_path / "cuscar.edi"), "--from", "edifact", "--to", "json"])
    assert code == 0 and orjson.loads(out)["carrier"]["name"] == "Grimaldi Sénégal"


def test_several_documents_come_out_as_json_lines(tmp_path):
    source = tmp_path / "two.jsonl"
    source.write_bytes(orjson.dumps(notice("SN-EX-1", exporting_country="SN", destination_country="CI")) + b"\n" + orjson.dumps(notice("SN-EX-2")) + b"\n")
    code, _, err = run_cli(["convert", str(source), "--to", "wco-xml", "-o", str(tmp_path / "two.xml")])
    assert code == 2 and len(err.splitlines()) == 1  # a DEC message holds one declaration
    assert not (tmp_path / "two.xml").exists()
    assert run_cli(["convert", str(source), "--to", "edifact", "-o", str(tmp_path / "two.edi")])[0] == 0
    code, out, _ = run_cli(["convert", str(tmp_path / "two.edi")])
    assert code == 0
    assert [orjson.loads(line)["export_declaration_reference"] for line in out.splitlines()] == ["SN-EX-1", "SN-EX-2"]


def test_standard_input_is_read_for_a_dash(monkeypatch):
    data = registry.write([Document("declaration", declaration("2026-DKR-STDIN"))], "wco-xml")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run_cli(["convert", "-", "--to", "json"])
    assert code == 0 and orjson.loads(out)["lrn"] == "2026-DKR-STDIN"


def test_xml_is_written_to_standard_output(tmp_path):
    source = tmp_path / "declaration.json"
    source.write_bytes(orjson.dumps(declaration("2026-DKR-CLI002")))
    code, out, _ = run_cli(["convert", str(source), "--to", "asycuda"])
    assert code == 0 and out.lstrip().startswith("<") and "ASYCUDA" in out and "2026-DKR-CLI002" in out


def test_the_shared_wco_sample_converts():
    code, out, err = run_cli(["convert", str(SAMPLES / "wco" / "Step1_TT_IM001a.xml")])
    assert code == 0, err
    assert orjson.loads(out)["goods_items"]


def one_line_error(args: list[str]) -> str:
    code, out, err = run_cli(args)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("error:"), err
    assert "Traceback" not in err
    return err


def test_a_truncated_interchange_is_one_line_naming_what_is_wrong(tmp_path):
    bad = tmp_path / "bad.edi"
    bad.write_bytes(registry.write([Document("cargo_report", manifest())], "edifact")[:-25])
    assert "format.edifact" not in one_line_error(["convert", str(bad)])  # words, not keys


def test_a_wrong_segment_count_names_the_segment(tmp_path):
    interchange = registry.write([Document("cargo_report", manifest())], "edifact").decode("latin-1")
    wrong = interchange.replace("UNT+", "UNT+9", 1)
    bad = tmp_path / "count.edi"
    bad.write_bytes(wrong.encode("latin-1"))
    assert "UNT" in one_line_error(["convert", str(bad)])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"%PDF-1.4", "Unknown message format"),
        (b"<Invoice/>", "Invoice"),
        (b'{"name": "not a document"}', "not recognised"),
        (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Declaration>&x;</Declaration>', "DOCTYPE"),
    ],
)
def test_unknown_or_dangerous_input_is_one_clear_line(tmp_path, content, expected):
    bad = tmp_path / "input"
    bad.write_bytes(content)
    assert expected in one_line_error(["convert", str(bad)])


def test_a_missing_file_and_an_unknown_format_are_one_line(tmp_path):
    assert "no-such" in one_line_error(["convert", str(tmp_path / "no-such.xml")])
    source = tmp_path / "d.json"
    source.write_bytes(orjson.dumps(declaration()))
    assert "x12" in one_line_error(["convert", str(source), "--from", "x12"])
    code, _, err = run_cli(["convert", str(source), "--to", "x12"])
    assert code == 2 and "Traceback" not in err
