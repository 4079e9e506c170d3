"""UN/EDIFACT D.99B: what a shipping line's or a broker's EDI desk sends is read into Avance
documents, and every broken interchange is refused with a pointer to the message and segment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from avance.declarations.model import GoodsDeclaration
from avance.formats import edifact
from avance.formats.documents import Document
from avance.kit.errors import ValidationFailed
from avance.kit.i18n import catalog
from avance.manifests.model import CargoReport
from tests.support import declaration, manifest

SAMPLES = Path(__file__).parent / "samples" / "edifact"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def refused(data: bytes) -> list[tuple[str, str, str]]:
    """(pointer, key, English message) of every issue ``read`` reports."""
    with pytest.raises(ValidationFailed) as caught:
        edifact.read(data)
    return [(i.pointer, i.code, i.message("en")) for i in caught.value.issues]


def one_interchange() -> str:
    """A valid two-message interchange (a declaration and a cargo report) as text."""
    data = edifact.write([Document("declaration", declaration()), Document("cargo_report", manifest())], control_reference="IC0001")
    return data.decode("latin-1")


# --- the shared samples -------------------------------------------------------------------------


def test_the_shared_cuscar_reads_into_a_cargo_report() -> None:
    [doc] = edifact.read(sample("cuscar_d99b_ts-edifact.edi"))
    assert doc.kind == "cargo_report"
    assert doc.body["reference"] == "200401270003"
    assert doc.body["bills_of_lading"] == [{"description": "GOODS DESCRIPTION"}]


def test_the_shared_cusdec_is_an_export_declaration_so_it_reads_into_an_export_notice() -> None:
    [doc] = edifact.read(sample("cusdec_d99b_ts-edifact.edi"))
    assert doc.kind == "export_notice"
    body = doc.body
    assert body["export_declaration_reference"] == "200401270001"
    assert (body["exporting_country"], body["destination_country"], body["export_date"]) == ("AU", "US", "2003-01-28")
    assert body["consignee"] == {"name": "DHL"}
    assert body["items"] == [
        {
            "sequence": 1,
            "hs_code": "03026200",
            "description": "GOODS DESCRIPTION",
            "origin_country": "US",
            "net_mass": "10",
            "statistical_value": {"amount": "5000", "currency": "AUD"},
        }
    ]
    assert body["totals"] == {"goods_item_quantity": 1, "net_mass": "10", "statistical_value": {"amount": "5000", "currency": "AUD"}}


@pytest.mark.parametrize(("name", "kind"), [("cusrep_d99b_ts-edifact.edi", "CUSREP"), ("genral_d99b_ts-edifact.edi", "GENRAL")])
def test_messages_avance_does_not_take_are_refused_by_name(name: str, kind: str) -> None:
    [(pointer, key, message)] = refused(sample(name))
    assert key == "format.edifact.message_type"
    assert pointer == "UNH[1] '1'/UNH (segment 1)"
    assert message.startswith(f"{kind} is not a message Avance takes")


def test_detect_names_the_message_type_and_ignores_what_is_not_edifact() -> None:
    assert edifact.detect(sample("cuscar_d99b_ts-edifact.edi")) == "cuscar"
    assert edifact.detect(sample("cusdec_d99b_ts-edifact.edi")) == "cusdec"
    assert edifact.detect(sample("cusrep_d99b_ts-edifact.edi")) == "cusrep"
    assert edifact.detect(sample("cuscar_unoc_abidjan.edi")) == "cuscar"
    assert edifact.detect(b'{"lrn": "X"}') is None
    assert edifact.detect(b"<?xml version='1.0'?><Declaration/>") is None
    assert edifact.detect(b"UNB+UNOC:3+A+B+260101:0000+1'") == "edifact"


def test_a_latin1_cargo_report_with_its_own_separators_reads_with_french_names_intact() -> None:
    [doc] = edifact.read(sample("cuscar_unoc_abidjan.edi"))
    report = CargoReport.model_validate(doc.body)
    assert report.carrier.name == "Méditerranée Shipping Côte d'Ivoire"
    assert report.estimated_arrival.isoformat() == "2026-12-08T13:00:00+00:00"  # 14:00 at UTC+01
    first, second = report.bills_of_lading
    assert first.consignor is not None and first.consignor.name == "Société Lyonnaise de Négoce"
    assert (first.package_quantity, str(first.gross_mass)) == (15, "2650.0")  # 2,5 t + 150 kg, decimal comma
    assert [(c.id, c.seals) for c in first.containers] == [("MSCU1234565", ["ML123456", "DG654321"])]
    # The bill without a number on CNI is identified by its RFF+BM; its consignee is a bank's order.
    assert second.transport_document_reference == "MEDUFR123457"
    assert second.consignee.name == "À L'ORDRE DE LA BANQUE ATLANTIQUE"


# --- broken interchanges ------------------------------------------------------------------------


def test_a_wrong_unt_count_names_the_message_the_segment_and_both_counts() -> None:
    text = one_interchange().replace("UNT+30+1'", "UNT+29+1'")
    assert refused(text.encode("latin-1")) == [
        ("UNH[1] '1'/UNT (segment 30)", "format.edifact.unt_count", "segment count 29, but the message has 30 segments.")
    ]


def test_a_unt_reference_other_than_unh_is_refused() -> None:
    text = one_interchange().replace("UNT+30+1'", "UNT+30+9'")
    [(pointer, key, _)] = refused(text.encode("latin-1"))
    assert (pointer, key) == ("UNH[1] '1'/UNT (segment 30)", "format.edifact.unt_reference")


def test_a_wrong_unz_count_or_control_reference_is_refused() -> None:
    text = one_interchange().replace("UNZ+2+IC0001'", "UNZ+3+IC0002'")
    issues = refused(text.encode("latin-1"))
    assert [(p, k) for p, k, _ in issues] == [
        ("UNB 'IC0001'/UNZ (segment 56)", "format.edifact.unz_count"),
        ("UNB 'IC0001'/UNZ (segment 56)", "format.edifact.unz_reference"),
    ]
    assert issues[0][2] == "message count 3, but the interchange has 2 messages."


def test_a_truncated_interchange_is_refused() -> None:
    text = one_interchange()
    cut = text[: text.index("UNH+2")]
    [(pointer, key, message)] = refused(cut.encode("latin-1"))
    assert key == "format.edifact.truncated" and "no UNZ" in message
    [(_, key, _)] = refused(text[: text.index("UNT+24+2") + 4].encode("latin-1"))
    assert key == "format.edifact.truncated_segment"


def test_an_unknown_message_type_in_an_interchange_is_refused_by_name() -> None:
    text = one_interchange().replace("CUSCAR:D:99B:UN", "IFTMIN:D:99B:UN")
    [(pointer, key, message)] = refused(text.encode("latin-1"))
    assert pointer == "UNH[2] '2'/UNH (segment 1)"
    assert message.startswith("IFTMIN is not a message Avance takes")


def test_another_directory_is_refused_by_name() -> None:
    text = one_interchange().replace("CUSDEC:D:99B:UN", "CUSDEC:D:96B:UN")
    [(_, key, message)] = refused(text.encode("latin-1"))
    assert key == "format.edifact.message_version" and "D:96B:UN" in message


def test_a_missing_mandatory_segment_is_named() -> None:
    text = one_interchange().replace("BGM+785+MAN-2026-0001+9'\n", "").replace("UNT+24+2'", "UNT+23+2'")
    issues = refused(text.encode("latin-1"))
    assert ("UNH[2] '2'/BGM", "format.edifact.structure_missing") in [(p, k) for p, k, _ in issues]


def test_a_consignment_without_goods_item_breaks_the_group_structure() -> None:
    text = one_interchange()
    start = text.index("GID+1+40:CT'")
    end = text.index("UNT+24+2'")
    broken = text[:start] + "UNT+21+2'" + text[end + len("UNT+24+2'") :]
    issues = refused(broken.encode("latin-1"))
    assert [(p, k) for p, k, _ in issues] == [("UNH[2] '2'/GID", "format.edifact.structure_missing_in_group")]
    assert "segment group 8 begun by RFF (segment 19)" in issues[0][2]


def test_a_segment_out_of_place_is_named_with_its_position() -> None:
    text = one_interchange().replace("UNS+S'\n", "UNS+S'\nLOC+27+FR'\n").replace("UNT+30+1'", "UNT+31+1'")
    [(pointer, key, message)] = refused(text.encode("latin-1"))
    assert (pointer, key) == ("UNH[1] '1'/LOC (segment 28)", "format.edifact.structure_unexpected")
    assert "CUSDEC" in message and "after UNS" in message


@pytest.mark.parametrize("advice", ["UNA:+.?", "UNA::.? '", "UNA:+;? '", "UNAA+.? '"])
def test_a_bad_service_string_advice_is_refused(advice: str) -> None:
    text = one_interchange().replace("UNA:+.? '", advice, 1)
    [(pointer, key, _)] = refused(text.encode("latin-1"))
    assert pointer == "UNA" and key.startswith("format.edifact.una_")


def test_bytes_invalid_for_the_declared_character_set_are_refused() -> None:
    latin = one_interchange().replace("Grimaldi", "Grimaldi Sénégal").encode("latin-1")
    [(_, key, message)] = refused(latin.replace(b"UNOC:3", b"UNOA:3"))
    assert key == "format.edifact.charset_bytes" and "0xE9" in message and "UNOA" in message
    [(_, key, _)] = refused(latin.replace(b"UNOC:3", b"UNOW:3"))  # Latin-1 bytes are not UTF-8
    assert key == "format.edifact.charset_bytes"
    [(_, key, _)] = refused(latin.replace(b"Grimaldi", b"Grim\x85aldi"))  # a C1 control in ISO 8859-1
    assert key == "format.edifact.charset_bytes"


def test_an_unknown_character_set_is_refused_by_name() -> None:
    [(_, key, message)] = refused(one_interchange().replace("UNOC:3", "UNOK:3").encode("latin-1"))
    assert key == "format.edifact.charset_unknown" and message.startswith("The character set UNOK")


def test_utf8_declared_as_unow_is_read() -> None:
    doc = manifest()
    doc["carrier"]["name"] = "Œuvre Maritime Sénégalaise"  # Œ is not in ISO 8859-1
    data = edifact.write([Document("cargo_report", doc)])
    assert b"UNOW:4" in data
    [back] = edifact.read(data)
    assert back.body["carrier"]["name"] == "Œuvre Maritime Sénégalaise"


def test_content_errors_name_the_element_and_value() -> None:
    text = one_interchange().replace("MEA+WT+AAB+KGM:800'", "MEA+WT+AAB+KGM:8O0'").replace("DTM+132:", "DTM+132:2026")
    issues = refused(text.encode("latin-1"))
    keys = {(k, p.split("/")[-1]) for p, k, _ in issues}
    assert ("format.edifact.bad_number", "6314") in keys
    assert ("format.edifact.bad_date", "C507") in keys


def test_an_import_declaration_is_read_as_a_declaration() -> None:
    [doc, report] = edifact.read(one_interchange().encode("latin-1"))
    assert doc.kind == "declaration" and report.kind == "cargo_report"
    assert GoodsDeclaration.model_validate(doc.body) == GoodsDeclaration.model_validate(declaration())


def test_a_bgm_that_is_no_declaration_is_refused() -> None:
    text = one_interchange().replace("BGM+929+", "BGM+380+")
    [(pointer, key, _)] = refused(text.encode("latin-1"))
    assert (pointer, key) == ("UNH[1] '1'/BGM (segment 2)/C002/1001", "format.edifact.bgm_document")


def test_every_error_the_package_raises_has_a_french_and_an_english_message() -> None:
    package = Path(edifact.__file__).parent
    used = {key for path in package.glob("*.py") for key in re.findall(r'"(format\.edifact\.[a-z_]+)"', path.read_text(encoding="utf-8"))}
    assert len(used) > 30
    assert used <= set(catalog("fr")) and used <= set(catalog("en"))
