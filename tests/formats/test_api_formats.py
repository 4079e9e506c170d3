"""The lodging routes take the region's message formats by Content-Type, over real HTTP: a broker's
system lodges a CUSDEC, a shipping line's EDI desk a CUSCAR, an exporting administration a WCO DM
export declaration; each is answered in its own format (CUSRES, WCO RES), and a bad message is
refused (problem+json, or a rejection message when Accept asks for it) with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from lxml import etree
from sqlalchemy import select

from avance.declarations.tables import declarations
from avance.formats import registry
from avance.formats.documents import Document
from avance.manifests.tables import manifests
from avance.movements.tables import export_notices
from tests.support import LiveApi, declaration, manifest, notice, serve_fresh, count_rows

EDIFACT = {"Content-Type": "application/edifact"}
XML = {"Content-Type": "application/xml"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    yield from serve_fresh(tmp_path_factory, "api-formats", exchange=True)



def message(kind: str, body: dict, fmt: str) -> bytes:
    return registry.write([Document(kind, body)], fmt)  # type: ignore[arg-type]


def segments(interchange: bytes) -> list[str]:
    return [s.strip() for s in interchange.decode("latin-1").split("'") if s.strip()]


def test_a_cusdec_is_lodged_as_a_declaration_and_answered_with_a_cusres(live):
    doc = declaration("2026-DKR-EDI001")
    with live.client("broker", "en") as http:
        first = http.post("/declarations", content=message("declaration", doc, "edifact"), headers=EDIFACT)
        assert first.status_code == 201, first.text
        assert first.headers["content-type"].startswith("application/edifact")
        answer = segments(first.content)
        assert any(s.startswith("UNH+") and "CUSRES" in s for s in answer)
        assert "RFF+ACW:2026-DKR-EDI001" in answer  # the declarant's reference
        declaration_id = first.headers["location"].rsplit("/", 1)[1]
        assert f"RFF+ABT:{declaration_id}" in answer  # what Avance gave it
        stored = http.get(first.headers["location"]).json()
        assert stored["lrn"] == "2026-DKR-EDI001" and stored["declaration"]["goods_items"][0]["hs_code"] == "8703231000"
        again = http.post("/declarations", content=message("declaration", doc, "edifact"), headers=EDIFACT)
    assert again.status_code == 200  # a retry: the same document, nothing new stored
    assert again.headers["location"] == first.headers["location"]


def test_a_cuscar_is_lodged_as_a_cargo_report_with_french_names_kept(live):
    doc = manifest("MAN-EDI-0001", bills_of_lading=manifest()["bills_of_lading"][:1])
    with live.client("carrier", "fr") as http:
        lodged = http.post("/manifests", content=message("cargo_report", doc, "edifact"), headers=EDIFACT)
        assert lodged.status_code == 201, lodged.text
        assert "RFF+ACW:MAN-EDI-0001" in segments(lodged.content)
        stored = http.get(lodged.headers.get("location") or f"/manifests/{count_rows(live.node, manifests)}").json()
    assert stored["manifest"]["carrier"]["name"] == "Grimaldi Sénégal"


def test_a_wco_export_declaration_is_sent_as_an_export_notice_and_answered_with_a_res(live):
    doc = notice(reference="SN-EX-XML-01", exporting_country="SN", destination_country="CI", office_of_exit="SN-DKR-PORT")
    with live.client("officer", "en") as http:
        sent = http.post("/matching/export-notices", content=message("export_notice", doc, "wco-xml"), headers=XML)
    assert sent.status_code == 201, sent.text
    assert sent.headers["content-type"].startswith("application/xml")
    root = etree.fromstring(sent.content)
    assert etree.QName(root).localname in ("MetaData", "Response")
    assert "SN-EX-XML-01" in sent.text
    with live.node.engine.connect() as conn:
        stored = conn.execute(select(export_notices.c.export_reference).where(export_notices.c.export_reference == "SN-EX-XML-01")).all()
    assert len(stored) == 1


def test_a_cusdec_export_declaration_is_taken_as_an_export_notice(live):
    doc = notice(reference="SN-EX-EDI-01", exporting_country="SN", destination_country="CI", office_of_exit="SN-DKR-PORT")
    with live.client("officer", "en") as http:
        sent = http.post("/matching/export-notices", content=message("export_notice", doc, "edifact"), headers=EDIFACT)
    assert sent.status_code == 201, sent.text
    assert "RFF+ACW:SN-EX-EDI-01" in segments(sent.content)


def test_a_truncated_interchange_is_a_problem_or_a_cusres_rejection_and_nothing_is_stored(live):
    broken = message("cargo_report", manifest("MAN-EDI-BROKEN"), "edifact")[:-40]
    before = count_rows(live.node, manifests)
    with live.client("carrier", "en") as http:
        problem = http.post("/manifests", content=broken, headers=EDIFACT)
        rejection = http.post("/manifests", content=broken, headers={**EDIFACT, "Accept": "application/edifact"})
    assert problem.status_code == 422 and problem.headers["content-type"].startswith("application/problem+json")
    assert problem.json()["errors"][0]["code"].startswith("format.edifact.")
    assert rejection.status_code == 422 and rejection.headers["content-type"].startswith("application/edifact")
    answer = segments(rejection.content)
    assert any(s.startswith("ERC+format.edifact.") for s in answer)
    assert any(s.startswith("FTX+") for s in answer)  # the reason, in words
    assert count_rows(live.node, manifests) == before


def test_a_declaration_breaking_the_rules_is_rejected_in_the_request_format_with_every_error_in_the_callers_language(live):
    doc = declaration("2026-DKR-EDI002", office_code="SN-XXX-NOWHERE")
    doc["goods_items"][0]["hs_code"] = "0000000000"
    before = count_rows(live.node, declarations)
    with live.client("broker", "fr") as http:
        answered = http.post("/declarations", content=message("declaration", doc, "edifact"), headers={**EDIFACT, "Accept": "application/edifact"})
        problem = http.post("/declarations", content=message("declaration", doc, "edifact"), headers=EDIFACT)
    assert answered.status_code == 422
    codes = [s for s in segments(answered.content) if s.startswith("ERC+")]
    pointers = {e["pointer"] for e in problem.json()["errors"]}
    assert len(codes) == len(problem.json()["errors"]) >= 2  # every error, not the first one
    assert "/office_code" in pointers and "/goods_items/0/hs_code" in pointers
    assert problem.headers["content-language"] == "fr"
    assert count_rows(live.node, declarations) == before


def test_a_wco_rejection_carries_every_error_with_its_pointer(live):
    doc = notice(reference="SN-EX-XML-BAD", exporting_country="ML", destination_country="CI", office_of_exit="SN-DKR-PORT")
    before = count_rows(live.node, export_notices)
    with live.client("officer", "en") as http:
        answered = http.post("/matching/export-notices", content=message("export_notice", doc, "wco-xml"), headers={**XML, "Accept": "application/xml"})
    assert answered.status_code == 422 and answered.headers["content-type"].startswith("application/xml")
    assert "/exporting_country" in answered.text and "SN-EX-XML-BAD" in answered.text
    assert count_rows(live.node, export_notices) == before


@pytest.mark.parametrize(
    ("path", "kind", "body", "fmt", "code"),
    [
        ("/declarations", "cargo_report", manifest("MAN-WRONG"), "edifact", "format.http.wrong_kind"),
        ("/manifests", "declaration", declaration("2026-DKR-WRONG1"), "edifact", "format.http.wrong_kind"),
        ("/matching/export-notices", "declaration", declaration("2026-DKR-WRONG2"), "asycuda", "format.http.wrong_format"),
    ],
)
def test_a_message_of_another_kind_is_refused(live, path, kind, body, fmt, code):
    before = (count_rows(live.node, declarations), count_rows(live.node, manifests), count_rows(live.node, export_notices))
    with live.client("admin", "en") as http:
        response = http.post(path, content=message(kind, body, fmt), headers={"Content-Type": registry.MEDIA_TYPES[fmt]})
    assert response.status_code == 422, response.text
    assert [e["code"] for e in response.json()["errors"]] == [code]
    assert (count_rows(live.node, declarations), count_rows(live.node, manifests), count_rows(live.node, export_notices)) == before


def test_a_message_holding_several_declarations_is_refused_whole(live):
    docs = [Document("declaration", declaration(f"2026-DKR-EDI10{i}")) for i in (1, 2)]
    before = count_rows(live.node, declarations)
    with live.client("broker", "en") as http:
        response = http.post("/declarations", content=registry.write(docs, "edifact"), headers=EDIFACT)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "format.http.one_document"
    assert count_rows(live.node, declarations) == before


def test_xml_is_not_a_cargo_report_format(live):
    with live.client("carrier", "en") as http:
        response = http.post("/manifests", content=b"<Declaration/>", headers=XML)
    assert response.status_code == 415
    assert response.json()["code"] == "format.http.unsupported"


def test_an_entity_trick_is_refused_without_reading_anything(live):
    evil = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Declaration>&x;</Declaration>'
    with live.client("broker", "en") as http:
        response = http.post("/declarations", content=evil, headers=XML)
    assert response.status_code == 422
    assert "root:" not in response.text and response.json()["errors"][0]["code"] == "format.xml.doctype"


def test_the_openapi_document_declares_the_other_media_types(live):
    with live.client() as http:
        paths = http.get("/openapi.json").json()["paths"]
    taken = {path: set(paths[path]["post"]["requestBody"]["content"]) for path in ("/declarations", "/manifests", "/matching/export-notices")}
    assert taken == {
        "/declarations": {"application/json", "application/xml", "application/edifact"},
        "/manifests": {"application/json", "application/edifact"},
        "/matching/export-notices": {"application/json", "application/xml", "application/edifact"},
    }
    answers = paths["/declarations"]["post"]["responses"]
    assert {"application/json", "application/xml", "application/edifact"} <= set(answers["201"]["content"])
    assert {"application/problem+json", "application/xml", "application/edifact"} <= set(answers["422"]["content"])


def test_a_wco_declaration_takes_its_estimated_arrival_from_the_lodged_cargo_report(live):
    """The WCO DM DEC profile has no element for the estimated arrival: a broker's DEC is lodged
    once the carrier's cargo report listing its bill is there, with that report's arrival."""
    doc = declaration(lrn="2026-DKR-DEC0001", transport_document_reference="GRIMDEC0001", manifest_reference="MAN-DEC-0001")
    dec = message("declaration", doc, registry.WCO_XML)
    assert b"ArrivalDateTime" not in dec
    broker = live.client("broker", lang="en")
    before = count_rows(live.node, declarations)
    refused = broker.post("/declarations", content=dec, headers=XML)
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/estimated_arrival"
    assert "GRIMDEC0001" in refused.json()["errors"][0]["detail"] and count_rows(live.node, declarations) == before
    report = manifest(reference="MAN-DEC-0001", bills_of_lading=[{**manifest()["bills_of_lading"][0], "transport_document_reference": "GRIMDEC0001"}])
    assert live.client("carrier").post("/manifests", json=report).status_code == 201
    lodged = broker.post("/declarations", content=dec, headers=XML)
    assert lodged.status_code == 201, lodged.text
    stored = broker.get(lodged.headers["Location"]).json()
    assert datetime.fromisoformat(stored["estimated_arrival"]) == datetime.fromisoformat(report["estimated_arrival"])
