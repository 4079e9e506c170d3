"""One place tells a message's format and reads or writes it: what a node receives from ASYCUDA
World, a shipping line or a broker's software is recognised by its first bytes, and each document
in it comes out as the Avance JSON the API takes."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avance.declarations.model import GoodsDeclaration
from avance.formats import registry
from avance.formats.documents import Document
from avance.kit.errors import ValidationFailed
from avance.manifests.model import CargoReport
from avance.movements.payloads import ExportDeclarationNotice
from tests.support import ROOT, declaration, manifest, notice

SAMPLES = ROOT / "tests" / "formats" / "samples"  # the shared reference samples, copied with their notices


def codes(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [issue.code for issue in exc.value.issues]


def test_each_format_is_told_from_its_content():
    doc = [Document("declaration", declaration())]
    assert registry.detect(registry.write(doc, "wco-xml")) == "wco-xml"
    assert registry.detect(registry.write(doc, "asycuda")) == "asycuda"
    assert registry.detect(registry.write(doc, "edifact")) == "edifact"
    assert registry.detect(registry.write(doc, "json")) == "json"
    assert registry.detect(b"\xef\xbb\xbf\n  UNB+UNOC:3+A+B+260101:1200+1'") == "edifact"
    assert registry.detect(b'{"lrn": "A"}\n{"lrn": "B"}\n') == "json"


def test_an_xml_message_written_in_utf16_is_recognised_and_read():
    """Some Windows exports write XML as UTF-16 with a byte-order mark: a DEC or a SAD so written
    is told by its root element like any other, without --from."""
    doc = [Document("declaration", declaration(lrn="2026-DKR-U16"))]
    for name in ("wco-xml", "asycuda"):
        utf8 = registry.write(doc, name).decode("utf-8")
        for encoding in ("utf-16-le", "utf-16-be"):
            mark = b"\xff\xfe" if encoding.endswith("le") else b"\xfe\xff"
            data = mark + utf8.replace('encoding="UTF-8"', 'encoding="UTF-16"', 1).encode(encoding)
            assert registry.detect(data) == name
            assert [d.body["lrn"] for d in registry.read(data)] == ["2026-DKR-U16"]


def test_the_shared_reference_samples_are_recognised():
    assert registry.detect((SAMPLES / "wco" / "Step1_TT_IM001a.xml").read_bytes()) == "wco-xml"
    assert registry.detect((SAMPLES / "asycuda" / "asycuda_world_sad_blank_template.xml").read_bytes()) == "asycuda"
    assert registry.detect((SAMPLES / "edifact" / "cuscar_d99b_ts-edifact.edi").read_bytes()) == "edifact"
    cargo = registry.read((SAMPLES / "edifact" / "cuscar_d99b_ts-edifact.edi").read_bytes())
    assert [d.kind for d in cargo] == ["cargo_report"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "format.empty"),
        (b"  \n", "format.empty"),
        (b"PDF-1.4 binary", "format.unknown"),
        (b"<Invoice><ID>1</ID></Invoice>", "format.unknown_root"),
        (b"<Declaration", "format.xml.malformed"),
        (b'<!DOCTYPE d [<!ENTITY x "y">]><Declaration>&x;</Declaration>', "format.xml.doctype"),
    ],
)
def test_what_is_no_known_format_is_refused_by_name(data, code):
    with pytest.raises(ValidationFailed) as refused:
        registry.read(data)
    assert codes(refused) == [code]


def test_avance_json_documents_are_told_apart_by_their_keys():
    lines = b"\n".join(orjson.dumps(d) for d in (declaration(), manifest(), notice())) + b"\n"
    assert [d.kind for d in registry.read(lines)] == ["declaration", "cargo_report", "export_notice"]
    one = registry.read(orjson.dumps(manifest(), option=orjson.OPT_INDENT_2))
    assert [d.kind for d in one] == ["cargo_report"] and one[0].body == manifest()
    assert [d.kind for d in registry.read(orjson.dumps([declaration(), notice()]))] == ["declaration", "export_notice"]


def test_every_bad_json_line_is_named():
    data = orjson.dumps(declaration()) + b"\n{oops\n" + b'{"name": "x"}\n' + b"[1]\n"
    with pytest.raises(ValidationFailed) as refused:
        registry.read(data, "json")
    assert [(i.pointer, i.code) for i in refused.value.issues] == [
        ("line 2", "format.json.malformed"),
        ("line 3", "format.json.unknown_kind"),
        ("line 4", "format.json.not_object"),
    ]


def test_one_document_is_written_as_an_object_and_several_as_json_lines():
    one = registry.write([Document("declaration", declaration())], "json")
    assert orjson.loads(one) == declaration()
    several = registry.write([Document("declaration", declaration()), Document("cargo_report", manifest())], "json")
    assert [orjson.loads(line) for line in several.splitlines()] == [declaration(), manifest()]


@pytest.mark.parametrize(
    ("kind", "body", "fmt", "model"),
    [
        ("declaration", declaration("2026-DKR-RT0001"), "edifact", GoodsDeclaration),
        ("cargo_report", manifest(), "edifact", CargoReport),
        ("export_notice", notice(), "edifact", ExportDeclarationNotice),
        ("export_notice", notice(), "wco-xml", ExportDeclarationNotice),
        ("declaration", declaration("2026-DKR-RT0002"), "json", GoodsDeclaration),
    ],
)
def test_a_document_comes_back_from_each_format_as_the_api_takes_it(kind, body, fmt, model):
    back = registry.read(registry.write([Document(kind, body)], fmt))
    assert [d.kind for d in back] == [kind]
    model.model_validate(back[0].body)  # what the API would accept
    if kind == "cargo_report":
        assert back[0].body["carrier"]["name"] == "Grimaldi Sénégal"


def test_a_format_that_cannot_hold_a_document_says_so():
    with pytest.raises(ValidationFailed) as refused:
        registry.write([Document("cargo_report", manifest())], "asycuda")
    assert codes(refused) == ["format.cannot_write"]
    with pytest.raises(ValidationFailed) as refused:
        registry.write([Document("cargo_report", manifest())], "wco-xml")
    assert codes(refused) == ["format.cannot_write"]


def test_format_names_are_read_as_operators_type_them():
    assert [registry.format_name(n) for n in ("JSON", "wco", "WCO_XML", "EDIFACT", "sad", None)] == ["json", "wco-xml", "wco-xml", "edifact", "asycuda", None]
    with pytest.raises(ValidationFailed) as refused:
        registry.format_name("x12")
    assert codes(refused) == ["format.unknown_name"]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([b"", b"<", b"UNA", b"UNB+", b"{", b"["]), st.binary(max_size=200))
def test_any_bytes_are_read_or_refused_clearly(start, rest):
    try:
        documents = registry.read(start + rest)
    except ValidationFailed as refused:
        assert refused.issues
    else:
        assert all(d.kind in ("declaration", "cargo_report", "export_notice") for d in documents)
