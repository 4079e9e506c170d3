"""One mapping mechanism for columns and XML paths: the CSV mappings administrations already have
keep working, and an XML mapping reads an export and writes it back from the same file."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from avance.formats.mapping import Applier, CellError, Mapping, load_mapping
from avance.kit.datafiles import DataFileError, load_yaml_model
from avance.kit.errors import ValidationFailed

ROOT = Path(__file__).resolve().parents[2]


def mapping(text: str) -> Mapping:
    return load_yaml_model(Mapping, text=text, where="test.yaml")


def test_the_example_csv_mapping_still_reads_rows_into_a_declaration():
    applier = Applier(load_mapping(ROOT / "examples" / "mappings" / "asycuda-sn.yaml"))
    row = {"REF_DECLARANT": "L-1", "BUREAU": "10S", "MONTANT_FACTURE": "1 234,50", "CONTENEURS": "CSQU3054383 MSKU1234565", "CODE_SH": "8703231000", "POIDS_NET": "12,5", "DATE_ENREG": "02/03/2026"}
    doc = applier.document([row, {**row, "CODE_SH": "8418100000"}])
    assert doc["office_code"] == "SN-DKR-PORT" and doc["invoice_amount"] == "1234.50"
    assert doc["containers"] == [{"id": "CSQU3054383"}, {"id": "MSKU1234565"}]
    assert [i["hs_code"] for i in doc["goods_items"]] == ["8703231000", "8418100000"]
    assert doc["goods_item_quantity"] == 2 and applier.registration_date([row]) == "2026-03-02"
    with pytest.raises(CellError) as exc:
        applier.document([{**row, "BUREAU": "99X"}])
    assert exc.value.column == "BUREAU"


def test_a_required_column_left_empty_is_named():
    applier = Applier(mapping("fields: {lrn: {column: REF, required: true}, office_code: BUREAU}"))
    with pytest.raises(CellError) as exc:
        applier.document([{"REF": " ", "BUREAU": "X"}])
    assert exc.value.column == "REF"


@pytest.mark.parametrize(
    "text",
    [
        "format: csv\nfields: {lrn: {path: A/B}}",  # paths need format: xml
        "format: xml\nfields: {lrn: {column: A}}",  # XML takes paths
        "format: xml\nfields: {lrn: {path: 'A/[B'}}",  # not XPath
        "format: xml\nfields: {lrn: {path: A, column: B}}",
        "record: A\nfields: {lrn: A}",  # record needs format: xml
        "format: xml\nitems: {path: Item, fields: {hs_code: H}}\nfields: {goods_items[].hs_code: H}",
    ],
)
def test_a_mapping_mixing_columns_and_paths_is_refused_when_loaded(text):
    with pytest.raises(DataFileError):
        mapping(text)


XML_MAPPING = """
format: xml
record: Lot/Decl
fixed: {Head/@version: "2", Head/Note: "LRN {lrn}"}
fields:
  lrn: {path: "@ref", required: true}
  office_code: {path: Head/Office, map: {"10S": SN-DKR-PORT}}
  importer.name: Head/Importer
  invoice_amount: {path: Head/Amount, type: number}
  containers[].id: {path: Box/Id}
  total_package_quantity: {path: "sum(Lines/Line/Pack/N)", type: integer}
items:
  path: Lines/Line
  count: Head/Lines
  fields:
    hs_code: {parts: [{path: Code, length: 4}, {path: Sub}]}
    container_ids[]: {path: "../../Link[@item=$item]/@box"}
    packages[].quantity: {path: Pack/N, type: integer}
    packages[].marks: Pack/Marks
"""


def test_an_xml_mapping_reads_several_declarations_with_attributes_parts_and_item_links():
    applier = Applier(mapping(XML_MAPPING))
    root = etree.fromstring(
        b"""<Lot>
        <Decl ref="A-1"><Head><Office>10S</Office><Importer>Soci\xc3\xa9t\xc3\xa9 \xc3\x89b\xc3\xa8ne</Importer><Amount>12.50</Amount><Lines>2</Lines></Head>
          <Box><Id>CSQU3054383</Id></Box><Box><Id>MSKU1234565</Id></Box>
          <Lines><Line><Code>8703</Code><Sub>231000</Sub><Pack><N>1</N></Pack><Pack><N>2</N><Marks>M2</Marks></Pack></Line>
                 <Line><Code>8418</Code></Line></Lines>
          <Link item="2" box="MSKU1234565"/><Link item="2" box="CSQU3054383"/></Decl>
        <Decl ref="A-2"><Head><Lines>5</Lines></Head><Lines><Line><Code>1006</Code></Line></Lines></Decl>
        </Lot>"""
    )
    first, second = [applier.read_record(r) for r in applier.records(root)]
    assert first.issues == []
    body = first.document
    assert body["lrn"] == "A-1" and body["office_code"] == "SN-DKR-PORT" and body["importer"]["name"] == "Société Ébène"
    assert body["containers"] == [{"id": "CSQU3054383"}, {"id": "MSKU1234565"}]
    one, two = body["goods_items"]
    assert one["hs_code"] == "8703231000" and two["hs_code"] == "8418"
    assert one["packages"] == [{"quantity": 1}, {"quantity": 2, "marks": "M2"}]  # fields of one package stay together
    assert "container_ids" not in one and two["container_ids"] == ["MSKU1234565", "CSQU3054383"]
    assert [(i.pointer, i.code, i.params["declared"], i.params["found"]) for i in second.issues] == [("/Lot/Decl[2]/Head/Lines", "format.mapping.item_count", 5, 1)]


def test_the_same_xml_mapping_writes_what_it_reads():
    applier = Applier(mapping(XML_MAPPING))
    doc = {
        "lrn": "A-1",
        "office_code": "SN-DKR-PORT",
        "importer": {"name": "Société Ébène"},
        "invoice_amount": "12.50",
        "containers": [{"id": "CSQU3054383"}, {"id": "MSKU1234565"}],
        "total_package_quantity": 3,
        "goods_items": [
            {"hs_code": "8703231000", "packages": [{"quantity": 1}, {"quantity": 2, "marks": "M2"}]},
            {"hs_code": "8418", "container_ids": ["MSKU1234565", "CSQU3054383"]},
        ],
    }
    root = applier.write_xml([doc, {**doc, "lrn": "A-2", "office_code": "CI-ABJ-PORT"}])
    assert root.tag == "Lot" and [d.get("ref") for d in root.findall("Decl")] == ["A-1", "A-2"]
    first = root.find("Decl")
    assert first.findtext("Head/Office") == "10S"  # the map, inverted
    assert root.findall("Decl")[1].findtext("Head/Office") == "CI-ABJ-PORT"  # unmapped: kept
    assert first.find("Head").get("version") == "2" and first.findtext("Head/Note") == "LRN A-1"
    assert first.findtext("Head/Lines") == "2"  # the count
    assert [(link.get("item"), link.get("box")) for link in first.findall("Link")] == [("2", "MSKU1234565"), ("2", "CSQU3054383")]
    assert [e.tag for e in first][:3] == ["Head", "Box", "Box"]  # in the order the mapping names them
    back = applier.read_record(applier.records(root)[0])
    assert back.issues == []
    assert back.document == doc  # sum(...) is read only, and reads the same total


def test_a_value_a_strict_map_cannot_invert_is_refused_when_writing():
    applier = Applier(mapping("format: xml\nrecord: D\nfields: {office_code: {path: O, map: {'10S': SN-DKR-PORT}, unmapped: error}}"))
    with pytest.raises(ValidationFailed) as exc:
        applier.write_xml([{"office_code": "CI-ABJ-PORT"}])
    assert [(i.pointer, i.code) for i in exc.value.issues] == [("/office_code", "format.mapping.cannot_write")]
