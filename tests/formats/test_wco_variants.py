"""WCO DM DEC messages other than Avance's own: declarations laid out the way other systems and
administrations send them (HMRC's published samples, and variants modelled on them) are read with
every value Avance has a place for, whatever the prefixes, the encoding or where the sender put a
party or a document; hostile XML is refused in one clear line."""

from __future__ import annotations

import http.server
import socketserver
import threading
from pathlib import Path

import orjson
import pytest

from avance.declarations.model import GoodsDeclaration
from avance.formats import registry, wco
from avance.kit.errors import ValidationFailed
from avance.movements.payloads import ExportDeclarationNotice
from tests.support import run_cli

SAMPLES = Path(__file__).parent / "samples" / "wco"
VARIANTS = SAMPLES / "variants"
ARRIVAL = "2026-12-10T06:00:00Z"


pytestmark = pytest.mark.usefixtures("english")  # the command line in English (tests/conftest.py)


def body(name: str) -> dict:
    [doc] = wco.read((VARIANTS / name).read_bytes())
    return doc.body


def test_three_items_with_named_parties_freight_insurance_and_sealed_containers_are_read_whole():
    read = body("im-sn-three-items.xml")
    model = GoodsDeclaration.model_validate({**read, "estimated_arrival": ARRIVAL})  # lodgeable as it is, with the arrival
    assert model.lrn == "2026-DKR-VAR-0001" and model.office_code == "SN-DKR-PORT"
    assert read["importer"] == {"id": "SN0098765B2", "name": "Établissements Ndiaye & Fils", "country": "SN", "address": "Rue Félix Faure, Dakar"}
    assert read["exporter"]["address"] == "4 quai Perrache, 69002 Lyon"
    assert read["transport_means"] == {"identification": "9307411", "name": "GRANDE DAKAR", "nationality": "IT"}
    assert (read["transport_document_reference"], read["manifest_reference"], read["ucr"]) == ("MSCUDK2026031", "MAN-DKR-2026-0311", "6SN0098765B2-2026-0001")
    assert (read["invoice_amount"], read["invoice_currency"], read["freight_amount"], read["insurance_amount"]) == ("48250.50", "EUR", "2100", "241.25")
    assert read["containers"] == [{"id": "MSCU1234565", "seals": ["SL-889900", "SL-889901"]}, {"id": "MSCU7654320", "seals": ["SL-889902"]}]
    first, second, third = read["goods_items"]
    assert (first["supplementary_quantity"], first["supplementary_unit"], first["container_ids"]) == ("100", "NAR", ["MSCU1234565"])
    assert first["packages"] == [{"quantity": 100, "type_code": "CT", "marks": "SFE 1-100"}]
    assert second["origin_country"] == "DE" and "procedure_code" not in second
    assert third["hs_code"] == "8418991000"  # dotted tariff line
    assert third["description"] == "Pièces détachées pour réfrigérateurs"  # runs of spaces collapsed
    assert third["procedure_code"] == "4071"  # another previous procedure than the first item's


def test_parties_by_identifier_only_cn_and_taric_digits_tonnes_and_item_prices():
    read = body("im-ci-ids-only.xml")
    assert (read["declarant"], read["importer"], read["exporter"]) == ({"id": "CI0101010A"}, {"id": "CI1234567X"}, {"id": "CN91110000X"})
    assert read["transport_means"] == {"identification": "9812345", "name": "MAERSK ABIDJAN", "nationality": "LR"}  # arrival means; nationality upper-cased
    assert (read["incoterm"], read["invoice_amount"], read["invoice_currency"]) == ("CFR", "25000.25", "USD")  # sum of the item prices
    assert (read["manifest_reference"], read["transport_document_reference"]) == ("26CI0000000355001", "MAEU123456789")  # given on the first item only
    assert read["ucr"] == "6CI1234567X-0077"  # UCR/TraderAssignedReferenceID
    first, second = read["goods_items"]
    assert first["hs_code"] == "7214200010"  # TSP + TRC, TRA (additional code) left out
    assert second["hs_code"] == "72139100"  # a national additional code (GN) before it is no tariff line
    assert (first["net_mass"], first["gross_mass"], first["origin_country"]) == ("25000", "25500.0", "CN")
    with pytest.raises(Exception) as refused:  # the names the DEC left out are what Avance then asks for
        GoodsDeclaration.model_validate({**read, "estimated_arrival": ARRIVAL})
    assert {"declarant", "importer", "exporter"} <= {e["loc"][0] for e in refused.value.errors()}


@pytest.mark.parametrize("name", ["im-bf-item-parties.xml", "im-ml-latin1.xml"])
def test_parties_and_charges_on_the_goods_items_and_a_cus_number_before_the_tariff_line(name):
    read = body(name)
    GoodsDeclaration.model_validate({**read, "estimated_arrival": ARRIVAL})
    assert read["declarant"]["name"] == "Transit Ouédraogo"  # ISO-8859-1 or UTF-8, the same text
    assert read["consignee"] == {"name": "Coopérative Agricole du Houet", "country": "BF", "address": "Bobo-Dioulasso"}
    assert read["consignor"] == {"id": "SN0044556C1", "name": "Ciments et Engrais du Sénégal"}
    assert read["exporter"] == {"id": "SN0044556C1", "name": "Ciments et Engrais du Sénégal", "country": "SN"}  # the item's seller
    assert (read["freight_amount"], read["insurance_amount"]) == ("1000000", "12500")  # DE 4/9 AK and 67 summed over the items
    assert read["transport_document_reference"] == "LV-2026-0088"  # road consignment note among the documents produced
    assert (read["office_code"], read["transport_mode_code"], read["transport_means"]) == ("BF-OUA-ROUTE", 3, {"identification": "11JJ4567"})
    fertiliser, bags = read["goods_items"]
    assert fertiliser["hs_code"] == "310520"  # not the CUS number 0010164-4 (CV) given first
    assert (fertiliser["net_mass"], fertiliser["duty_regime"]) == ("20000.000", "community")  # grams; a 3xx preference
    assert (bags["hs_code"], bags["gross_mass"]) == ("6305330000", "510")  # untyped classification, no unit: kilograms


def test_utf16_and_an_inner_default_namespace_read_as_their_utf8_originals():
    utf16 = body("im-sn-utf16.xml")
    assert utf16 == {**body("im-sn-three-items.xml"), "lrn": "2026-DKR-VAR-U16"}
    inner = body("im-tg-inner-namespace.xml")
    assert inner == {**body("im-ci-ids-only.xml"), "lrn": "TG-LFW-2026-77", "office_code": "TG-LFW-PORT"}


def test_an_export_declaration_without_an_mrn_is_known_by_its_lrn_with_items_giving_countries_and_consignee():
    read = body("ex-sn-lrn-only.xml")
    notice = ExportDeclarationNotice.model_validate(read)
    assert notice.export_declaration_reference == "SN-EX-2026-0451"
    assert (notice.exporting_country, notice.destination_country, str(notice.export_date)) == ("SN", "CI", "2026-04-12")  # 304 date with an offset
    assert read["consignee"] == {"name": "Chocolaterie d'Abidjan", "country": "CI"}
    assert [i["statistical_value"] for i in read["items"]] == [{"amount": "6000000", "currency": "XOF"}, {"amount": "3000000", "currency": "XOF"}]
    assert read["items"][1]["net_mass"] == "1500.0" and read["totals"]["net_mass"] == "5500.0"


def test_an_export_declaration_with_its_mrn_and_an_unreachable_schema_location():
    read = body("ex-ci-mrn.xml")
    notice = ExportDeclarationNotice.model_validate(read)
    assert (notice.export_declaration_reference, str(notice.export_date), notice.transport_document_reference) == ("26CI00000000088E1", "2026-05-20", "LV-CI-ML-0088")
    assert read["items"][0]["supplementary_unit"] == "LTR"


def test_hmrc_samples_a_cus_number_is_not_the_commodity_code_and_de_4_9_ak_is_freight():
    [export] = wco.read((SAMPLES / "hmrc-export-cus-code.xml").read_bytes())
    assert export.body["items"][0]["hs_code"] == "29349990"  # was the CUS number 0010164-4
    assert export.body["export_declaration_reference"] == "NEW-TT-SAMPLE-CUS 9"  # no MRN: the LRN
    [imported] = wco.read((SAMPLES / "hmrc-TT_IM004a.xml").read_bytes())
    assert imported.body["freight_amount"] == "50" and imported.body["ucr"] == "1GB553202734852-20210307"


@pytest.mark.parametrize("path", sorted(VARIANTS.glob("*.xml")), ids=lambda p: p.name)
def test_every_variant_converts_on_the_command_line(path):
    args = ["convert", str(path)] + (["--from", "wco-xml"] if path.name.endswith("utf16.xml") else [])
    code, out, err = run_cli(args)
    assert code == 0, err
    converted = orjson.loads(out)
    assert converted.get("lrn") or converted.get("export_declaration_reference")
    back = registry.read(registry.write(registry.read(orjson.dumps(converted)), "wco-xml"))  # and round-trips through DEC
    assert back[0].body.get("goods_items", back[0].body.get("items"))


# --- hostile XML ------------------------------------------------------------------------------------


def refused(data: bytes) -> list:
    with pytest.raises(ValidationFailed) as caught:
        wco.read(data)
    return caught.value.issues


def test_a_schema_location_is_never_fetched():
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    with socketserver.TCPServer(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        data = (VARIANTS / "ex-ci-mrn.xml").read_bytes().replace(b"http://127.0.0.1:9/", f"http://127.0.0.1:{port}/".encode())
        data = data.replace(b"<FunctionCode>", f'<FunctionCode xsi:noNamespaceSchemaLocation="http://127.0.0.1:{port}/x.xsd">'.encode(), 1)
        try:
            wco.read(data)
        except ValidationFailed:
            pass  # the attribute may be refused by the schema; what matters is that nothing is fetched
        server.shutdown()
    assert hits == []


def test_a_huge_value_makes_a_short_error_line():
    data = (VARIANTS / "ex-ci-mrn.xml").read_bytes().replace(b'currencyID="XOF"', b'currencyID="' + b"X" * 3_000_000 + b'"')
    issues = refused(data)
    assert issues and all(i.code == "format.wco.schema_invalid" and len(i.message("en")) < 400 for i in issues)
    assert any("currencyID" in i.message("en") and "XXXX…" in i.message("en") for i in issues)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><Declaration xmlns="urn:wco:datamodel:WCO:DEC-DMS:2"/>', "format.xml.doctype"),
        (b'<Declaration xmlns="urn:wco:datamodel:WCO:DEC-DMS:2">' + b"<a>" * 5000 + b"</a>" * 5000 + b"</Declaration>", "format.xml.malformed"),
        (b"<Declaration>\x00\x01\xff</Declaration>", "format.xml.malformed"),
        (b'<?xml version="1.0" encoding="X-NONE"?><Declaration/>', "format.xml.malformed"),
    ],
    ids=["parameter-entity", "deep-nesting", "binary", "unknown-encoding"],
)
def test_hostile_or_broken_xml_is_one_clear_error(data, code):
    [issue] = refused(data)
    assert issue.code == code and "\n" not in issue.message("en").strip()


@pytest.mark.parametrize("content", [b"<\x00\xff\xfe", b'<Declaration xmlns="urn:wco:datamodel:WCO:DEC-DMS:2">' + b"<a>" * 5000], ids=["binary", "deep"])
def test_the_command_line_answers_hostile_xml_in_one_line_with_exit_2(tmp_path, content):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(content)
    code, out, err = run_cli(["convert", str(bad)])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
