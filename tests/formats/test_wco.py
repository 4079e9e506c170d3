"""WCO DM 3.6 XML: what a declarant's or an administration's system sends as DEC is read into the
documents Avance lodges, Avance's documents are written as DEC valid against the schemas, and
Avance's answers are written as RES valid against the response schema."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from avance.declarations.model import GoodsDeclaration
from avance.formats import wco
from avance.formats.documents import Answer, AnswerError, Document, DutyLine
from avance.formats.wco.schema import DEC_NS, RES_NS, dec_schema, res_schema, schema_dir
from avance.kit.errors import ValidationFailed
from avance.movements.payloads import ExportDeclarationNotice
from tests.support import declaration, notice

SAMPLES = Path(__file__).parent / "samples" / "wco"
ROOT = Path(__file__).resolve().parents[2]
UK_SAMPLE = SAMPLES / "Step1_TT_IM001a.xml"


def failure(data: bytes) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        wco.read(data)
    return caught.value


def normalized(body: dict[str, Any], estimated_arrival: str) -> dict[str, Any]:
    """The declaration as Avance validates it, with what DEC cannot hold put back or made equal:
    the estimated arrival, and the procedures, which DEC holds per item only (the declaration's
    is its first item's)."""
    model = GoodsDeclaration.model_validate({**body, "estimated_arrival": estimated_arrival})
    dumped = model.model_dump(mode="json")
    effective = [item["procedure_code"] or dumped["procedure_code"] for item in dumped["goods_items"]]
    dumped["procedure_code"] = effective[0]
    for item, procedure in zip(dumped["goods_items"], effective):
        item["procedure_code"] = procedure
    if dumped["transport_means"] == {"identification": None, "name": None, "nationality": None}:
        dumped["transport_means"] = None  # an empty BorderTransportMeans is no transport means
    return dumped


def round_trip(body: dict[str, Any]) -> dict[str, Any]:
    data = wco.write_one(Document("declaration", body))
    [doc] = wco.read(data)
    assert doc.kind == "declaration"
    return doc.body


# --- reading ----------------------------------------------------------------------------------------


def test_the_uk_sample_reads_with_every_element_avance_has():
    [doc] = wco.read(UK_SAMPLE.read_bytes())
    body = doc.body
    assert doc.kind == "declaration"
    assert body["lrn"] == "7847767E1WB6"
    assert body["procedure_code"] == "4000"  # GovernmentProcedure 40 + previous 00
    assert body["declarant"] == {"id": "GB603202734852"}
    assert body["importer"] == {"id": "GB553202734852"}
    assert body["exporter"] == {"name": "US Clipper Inc.", "country": "US", "address": "1 Shaver Street, NY1 234 New York"}
    assert body["transport_mode_code"] == 1
    assert body["transport_means"] == {"identification": "12345", "nationality": "US"}
    assert body["incoterm"] == "CIF"
    assert (body["invoice_amount"], body["invoice_currency"]) == ("1000", "GBP")  # the items' prices: no InvoiceAmount in the sample
    assert body["manifest_reference"] == "24GB34F7Y1O2CX8PT4"  # the entry summary declaration (355)
    assert body["ucr"] == "4GB553202734852-12345"  # the DUCR (previous document DCR)
    assert body["total_package_quantity"] == 50
    assert body["containers"] == [{"id": "AD12345", "seals": []}]
    [item] = body["goods_items"]
    assert item["hs_code"] == "8510900000"  # CN code (TSP) and TARIC subdivision (TRC)
    assert item["origin_country"] == "US"
    assert (item["net_mass"], item["gross_mass"]) == ("100", "150")
    assert item["packages"] == [{"quantity": 50, "type_code": "BX", "marks": "BX-1234228/34"}]
    assert item["duty_regime"] == "general"
    assert "estimated_arrival" not in body and "office_code" not in body  # the sample has neither: left for Avance's validation to report


def test_an_export_declaration_becomes_an_export_notice_avance_accepts():
    [doc] = wco.read((SAMPLES / "export-ci-bare.xml").read_bytes())
    assert doc.kind == "export_notice"
    notice_model = ExportDeclarationNotice.model_validate(doc.body)
    assert notice_model.exporter.name == "Société Ivoirienne d'Exportation"
    assert notice_model.items[0].net_mass == Decimal(2500)  # 2.5 TNE
    assert notice_model.totals.statistical_value.amount == Decimal(10_000_000)
    assert str(notice_model.export_date) == "2026-06-01"


def test_a_bare_declaration_and_a_wrapped_one_read_the_same():
    wrapped = etree.fromstring(UK_SAMPLE.read_bytes())
    bare = wrapped.find(f"{{{DEC_NS}}}Declaration")
    assert wco.read(etree.tostring(bare)) == wco.read(UK_SAMPLE.read_bytes())


def test_schema_invalid_xml_names_each_line_and_element():
    error = failure((SAMPLES / "broken-schema.xml").read_bytes())
    found = {(issue.pointer, issue.params["line"]) for issue in error.issues}
    assert found == {("/Declaration/GoodsItemQuantity", 9), ("/Declaration/GoodsShipment/GovernmentAgencyGoodsItem/Commodity/Colour", 15)}
    assert all(issue.code == "format.wco.schema_invalid" for issue in error.issues)
    assert "line 15" in error.issues[1].message("en") and "Colour" in error.issues[1].message("fr")


def test_a_declaration_of_another_type_is_refused_by_name():
    data = UK_SAMPLE.read_bytes().replace(b"<TypeCode>IMA</TypeCode>", b"<TypeCode>CO</TypeCode>")
    [issue] = failure(data).issues
    assert issue.code == "format.wco.type_unsupported" and issue.params["code"] == "CO"


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Declaration xmlns="urn:wco:datamodel:WCO:DEC-DMS:2"><FunctionCode>&x;</FunctionCode></Declaration>',
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<Declaration xmlns="urn:wco:datamodel:WCO:DEC-DMS:2"><FunctionCode>&c;</FunctionCode></Declaration>',
        b'<?xml version="1.0"?><!DOCTYPE Declaration SYSTEM "http://127.0.0.1:9/dec.dtd"><Declaration xmlns="urn:wco:datamodel:WCO:DEC-DMS:2"><FunctionCode>9</FunctionCode></Declaration>',
    ],
    ids=["xxe", "billion-laughs", "external-dtd"],
)
def test_entity_tricks_are_refused(data):
    [issue] = failure(data).issues
    assert issue.code in ("format.xml.doctype", "format.xml.malformed")


def test_an_asycuda_or_response_root_is_not_a_dec():
    sad = etree.fromstring(b"<ASYCUDA><Identification/></ASYCUDA>")
    assert not wco.is_dec(sad)
    assert wco.is_dec(etree.fromstring(UK_SAMPLE.read_bytes()))
    [issue] = failure(b"<ASYCUDA><Identification/></ASYCUDA>").issues
    assert issue.code == "format.wco.not_dec" and issue.params["root"] == "ASYCUDA"
    assert wco.ROOT_TAGS == (f"{{{DEC_NS}}}Declaration", "{urn:wco:datamodel:WCO:DocumentMetaData-DMS:2}MetaData")


def test_an_amount_in_another_currency_than_the_invoice_is_reported():
    data = wco.write_one(Document("declaration", declaration()))
    data = data.replace(b'<ItemChargeAmount currencyID="EUR">', b'<ItemChargeAmount currencyID="USD">')
    [issue] = failure(data).issues
    assert issue.code == "format.wco.currency_mismatch" and issue.params["found"] == "USD"


# --- writing ----------------------------------------------------------------------------------------


def test_the_example_declaration_round_trips_except_the_estimated_arrival():
    body = json.loads((ROOT / "examples" / "declaration-sn.json").read_text(encoding="utf-8"))
    back = round_trip(body)
    assert "estimated_arrival" not in back
    assert normalized(back, body["estimated_arrival"]) == normalized(body, body["estimated_arrival"])


def test_written_xml_validates_against_the_dec_schema_alone():
    body = declaration(consignee={"name": "Société Générale d'Importation", "country": "SN", "address": "Route de Rufisque, Dakar"})
    data = wco.write_one(Document("declaration", body))
    root = etree.fromstring(data)
    assert dec_schema().validate(root.getroottree())
    alone = etree.XMLSchema(etree.parse(str(schema_dir() / "declaration" / "WCO_DEC_2_DMS.xsd")))
    declaration_element = root.find(f"{{{DEC_NS}}}Declaration")
    assert alone.validate(etree.ElementTree(declaration_element)), alone.error_log
    assert round_trip(body)["consignee"]["name"] == "Société Générale d'Importation"


def test_an_export_notice_round_trips():
    body = notice()
    data = wco.write_one(Document("export_notice", body))
    [doc] = wco.read(data)
    assert doc.kind == "export_notice"
    assert ExportDeclarationNotice.model_validate(doc.body) == ExportDeclarationNotice.model_validate(body)


def test_one_declaration_per_message_and_no_cargo_report():
    doc = Document("declaration", declaration())
    with pytest.raises(ValidationFailed) as caught:
        wco.write([doc, doc])
    assert caught.value.issues[0].code == "format.wco.one_per_message"
    assert wco.write([doc]) == wco.write_one(doc)
    with pytest.raises(ValidationFailed) as caught:
        wco.write_one(Document("cargo_report", {"reference": "MAN-1"}))
    assert caught.value.issues[0].code == "format.wco.kind_unsupported"


def test_a_value_the_dec_cannot_hold_is_reported_not_truncated():
    body = declaration(declarant={"id": "SN0012345A7890123456789", "name": "Transit Diallo SARL"})  # party IDs are an..17 in DEC
    with pytest.raises(ValidationFailed) as caught:
        wco.write_one(Document("declaration", body))
    [issue] = caught.value.issues
    assert issue.code == "format.wco.cannot_write" and issue.pointer == "/Declaration/Declarant/ID"
    with pytest.raises(ValidationFailed) as caught:
        wco.write_one(Document("declaration", {**declaration(), "goods_items": "none"}))
    assert caught.value.issues[0].code == "format.wco.body_invalid"


# --- round trips over generated declarations -----------------------------------------------------

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèçôàÉÇ'", min_size=1, max_size=8)


def words(max_words: int, max_size: int) -> st.SearchStrategy[str]:
    return st.lists(WORD, min_size=1, max_size=max_words).map(lambda w: " ".join(w)[:max_size].strip()).filter(lambda s: bool(s) and s[0] != "'")


IDENT = st.from_regex(r"\A[A-Z0-9][A-Z0-9/._-]{0,16}\Z")
COUNTRY = st.sampled_from(["SN", "CI", "FR", "CN", "BF", "ML"])
AMOUNT = st.decimals(min_value=0, max_value=10_000_000, places=2).map(str)
MASS = st.decimals(min_value=Decimal("0.001"), max_value=100_000, places=3).map(str)


def party(identified: bool) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": IDENT, "name": words(5, 70)} if identified else {"name": words(5, 70)},
        optional={"country": COUNTRY, "address": words(6, 70)} | ({} if identified else {"id": IDENT}),
    )


@st.composite
def declarations(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 3))
    containers = draw(st.lists(st.from_regex(r"\A[A-Z]{4}[0-9]{7}\Z"), max_size=2, unique=True))
    items = []
    for n in range(1, count + 1):
        item = {
            "sequence": n,
            "hs_code": draw(st.from_regex(r"\A[0-9]{6,10}\Z")),
            "description": draw(words(8, 200)),
            "origin_country": draw(COUNTRY),
            "duty_regime": draw(st.sampled_from(["general", "community"])),
            "net_mass": draw(MASS),
            "gross_mass": draw(MASS),
            "invoice_amount": draw(AMOUNT),
            "packages": draw(st.lists(st.fixed_dictionaries({"quantity": st.integers(0, 99_999), "type_code": st.from_regex(r"\A[A-Z0-9]{2}\Z")}, optional={"marks": words(4, 60)}), max_size=2)),
            "container_ids": containers[: draw(st.integers(0, len(containers)))],
        }
        if draw(st.booleans()):
            item["procedure_code"] = "7100"
        if draw(st.booleans()):
            item["supplementary_quantity"], item["supplementary_unit"] = draw(MASS), draw(st.sampled_from(["NAR", "LTR", "KGM"]))
        items.append(item)
    body = {
        "procedure_code": "4000",
        "lrn": draw(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9/._-]{0,34}\Z")),
        "declarant": draw(party(True)),
        "importer": draw(party(True)),
        "exporter": draw(party(False)),
        "office_code": draw(st.sampled_from(["SN-DKR-PORT", "CI-ABJ-PORT", "SNDKR01"])),
        "transport_mode_code": draw(st.sampled_from([1, 2, 3, 4, 5, 7, 8, 9])),
        "incoterm": draw(st.sampled_from(["EXW", "FOB", "CIF", "DAP"])),
        "invoice_currency": draw(st.sampled_from(["EUR", "XOF", "USD"])),
        "invoice_amount": draw(AMOUNT),
        "freight_amount": draw(AMOUNT),
        "insurance_amount": draw(AMOUNT),
        "goods_item_quantity": count,
        "containers": [{"id": c, "seals": draw(st.lists(IDENT, max_size=2))} for c in containers],
        "goods_items": items,
        "split_consignment": draw(st.booleans()),
    }
    for key, strategy in (
        ("consignor", party(False)),
        ("consignee", party(False)),
        ("transport_means", st.fixed_dictionaries({}, optional={"identification": IDENT, "name": words(3, 35), "nationality": COUNTRY})),
        ("transport_document_reference", IDENT),
        ("manifest_reference", IDENT),
        ("ucr", IDENT),
        ("total_package_quantity", st.integers(0, 10_000)),
    ):
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(declarations())
def test_generated_declarations_round_trip(body):
    arrival = "2026-12-10T06:00:00Z"
    GoodsDeclaration.model_validate({**body, "estimated_arrival": arrival})  # the generator makes valid documents
    assert normalized(round_trip(body), arrival) == normalized(body, arrival)


# --- broken messages ------------------------------------------------------------------------------

VALID = wco.write_one(Document("declaration", declaration()))


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_truncated_or_flipped_messages_fail_cleanly(data):
    message = bytearray(VALID)
    if data.draw(st.booleans()):
        message = message[: data.draw(st.integers(0, len(message) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            message[data.draw(st.integers(0, len(message) - 1))] = data.draw(st.integers(0, 255))
    try:
        documents = wco.read(bytes(message))
    except ValidationFailed as error:
        assert error.issues and all(issue.code.startswith("format.") for issue in error.issues)
        for issue in error.issues:
            issue.message("fr"), issue.message("en")
    else:
        assert len(documents) == 1


# --- responses ------------------------------------------------------------------------------------

ISSUED = datetime(2026, 6, 1, 9, 30, tzinfo=timezone.utc)

ANSWERS = {
    "accepted": Answer("accepted", "CAD-2026-000123", ISSUED, identifier="26SN000000000042", office_code="SN-DKR-PORT"),
    "rejected": Answer(
        "rejected",
        "CAD-2026-000123",
        ISSUED,
        errors=(
            AnswerError("/goods_items/1/hs_code", "hs.unknown", "Code SH 9999999999 inconnu."),
            AnswerError("/declarant/id", "declarant.unknown", "Déclarant inconnu."),
            AnswerError("UNH[1]/BGM", "edifact.segment", "Segment manquant."),
        ),
    ),
    "tax_calculation": Answer(
        "tax_calculation",
        "CAD-2026-000123",
        ISSUED,
        identifier="26SN000000000042",
        duties=(
            DutyLine("DD", Decimal("1000000"), "XOF", item=1, base=Decimal("5000000"), rate=Decimal("20")),
            DutyLine("TVA", Decimal("1080000.5"), "XOF", item=1, base=Decimal("6000000"), rate=Decimal("18")),
            DutyLine("COSEC", Decimal("20000"), "XOF", item=2),
            DutyLine("PCS", Decimal("5000"), "XOF"),
        ),
        total=Decimal("2105000.5"),
        currency="XOF",
    ),
    "control_required": Answer("control_required", "CAD-2026-000123", ISSUED, identifier="26SN000000000042", lane="red"),
    "released": Answer("released", "CAD-2026-000123", ISSUED, identifier="26SN000000000042"),
}


@pytest.mark.parametrize("kind", list(ANSWERS))
def test_responses_validate_against_the_res_schema(kind):
    data = wco.write_response(ANSWERS[kind])
    root = etree.fromstring(data)
    assert res_schema().validate(root.getroottree()), res_schema().error_log
    response = root.find(f"{{{RES_NS}}}Response")
    alone = etree.XMLSchema(etree.parse(str(schema_dir() / "notification" / "WCO_RES_2_DMS.xsd")))
    assert alone.validate(etree.ElementTree(response)), alone.error_log
    code = {"accepted": "01", "rejected": "03", "tax_calculation": "13", "control_required": "05", "released": "09"}[kind]
    assert response.findtext(f"{{{RES_NS}}}FunctionCode") == code
    assert response.findtext(f"{{{RES_NS}}}Declaration/{{{RES_NS}}}FunctionalReferenceID") == "CAD-2026-000123"


def test_a_rejection_carries_every_error_with_its_pointer():
    root = etree.fromstring(wco.write_response(ANSWERS["rejected"]))
    ns = {"r": RES_NS}
    errors = root.findall(".//r:Error", ns)
    assert len(errors) == 3
    first = errors[0]
    assert first.findtext("r:ValidationCode", namespaces=ns) == wco.res.validation_code("hs.unknown")
    assert "hs.unknown" in first.findtext("r:Description", namespaces=ns) and "/goods_items/1/hs_code" in first.findtext("r:Description", namespaces=ns)
    pointers = [(p.findtext("r:SequenceNumeric", namespaces=ns), p.findtext("r:DocumentSectionCode", namespaces=ns), p.findtext("r:TagID", namespaces=ns)) for p in first.findall("r:Pointer", ns)]
    assert pointers == [(None, "42A", None), (None, "67A", None), ("2", "68A", None), (None, "23A", None), (None, "21A", "145")]
    declarant = [(p.findtext("r:DocumentSectionCode", namespaces=ns), p.findtext("r:TagID", namespaces=ns)) for p in errors[1].findall("r:Pointer", ns)]
    assert declarant == [("42A", None), ("57B", "R123")]
    assert [p.findtext("r:DocumentSectionCode", namespaces=ns) for p in errors[2].findall("r:Pointer", ns)] == ["42A"]


def test_a_tax_calculation_lists_each_duty_of_each_item():
    root = etree.fromstring(wco.write_response(ANSWERS["tax_calculation"]))
    ns = {"r": RES_NS}
    items = root.findall(".//r:GovernmentAgencyGoodsItem", ns)
    assert [i.findtext("r:SequenceNumeric", namespaces=ns) for i in items] == ["1", "2"]
    assert [d.findtext("r:TypeCode", namespaces=ns) for d in items[0].findall(".//r:DutyTaxFee", ns)] == ["DD", "TVA"]
    assert items[0].findall(".//r:TaxAssessedAmount", ns)[1].text == "1080000.5"
    assert items[1].findtext(".//r:TypeCode", namespaces=ns) == "COS"  # DutyTaxFee/TypeCode is an..3: the full code is named beside it
    assert any(info.findtext("r:StatementDescription", namespaces=ns) == "COSEC" for info in root.findall("r:Response/r:AdditionalInformation", ns))
    totals = root.findall("r:Response/r:Declaration/r:DutyTaxFee", ns)
    assert totals[0].findtext(".//r:TaxAssessedAmount", namespaces=ns) == "2105000.5"
    assert totals[1].findtext(".//r:ReferenceID", namespaces=ns) == "PCS"
