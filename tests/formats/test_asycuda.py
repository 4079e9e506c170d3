"""ASYCUDA World SAD XML: an administration's export is read into Avance declarations through an
editable path mapping, a pre-arrival declaration is written for lodging, and a broken export is
refused with every problem named where it is, never with a crash."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from avance.declarations.model import GoodsDeclaration
from avance.formats import asycuda
from avance.formats.documents import Document
from avance.formats.mapping import Mapping, load_mapping
from avance.kit.datafiles import load_yaml_model
from avance.kit.errors import ValidationFailed
from tests.support import declaration

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).parent / "samples" / "asycuda"
FILLED = (SAMPLES / "sad-import-sn.xml").read_bytes()
BLANK = SAMPLES / "asycuda_world_sad_blank_template.xml"
PACKAGED = ROOT / "src" / "avance" / "formats" / "mappings" / "asycuda-sad.yaml"

LOST = ("estimated_arrival", "consignor", "consignee", "ucr", "split_consignment")
"""Avance fields the SAD (through the default mapping) does not hold."""


def issues_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {issue.pointer: issue.code for issue in exc.value.issues}


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """A declaration as the API would take it, without what the SAD cannot hold."""
    model = GoodsDeclaration.model_validate({**body, "estimated_arrival": "2026-01-01T00:00:00Z"}).model_dump(mode="json")
    for name in LOST:
        model.pop(name, None)
    model["declarant"].pop("country", None)
    for container in model["containers"]:
        container["seals"] = []
    return model


def test_a_filled_export_gives_the_declaration_with_its_items_and_french_names():
    [doc] = asycuda.read(FILLED)
    assert doc.kind == "declaration"
    body = doc.body
    assert body["lrn"] == "CAD-2026-000481"
    assert body["office_code"] == "SN-DKR-PORT"
    assert body["importer"] == {"id": "SN0098765B2", "name": "Établissements Ndiaye & Fils", "country": "SN"}
    assert body["exporter"]["name"] == "Société Générale d'Électroménager Française"
    assert body["transport_means"]["name"] == "GRANDE CÔTE D'IVOIRE"
    assert (body["invoice_currency"], body["invoice_amount"], body["freight_amount"]) == ("EUR", "18500.50", "1200")
    assert body["goods_item_quantity"] == 2 and len(body["goods_items"]) == 2
    first, second = body["goods_items"]
    assert first["hs_code"] == "8418100000"  # Commodity_code + Precision_1
    assert first["description"] == "Réfrigérateurs combinés « Frigéco » 300 l"
    assert first["packages"] == [{"quantity": 100, "marks": "SGEF — Réfrigérateurs", "type_code": "CT"}]
    assert "procedure_code" not in first  # the declaration's own
    assert second["procedure_code"] == "4071" and second["duty_regime"] == "community"
    assert second["container_ids"] == ["CSQU3054383", "MSKU1234565"]
    assert body["containers"] == [{"id": "CSQU3054383"}, {"id": "MSKU1234565"}]  # one each, though listed per item
    GoodsDeclaration.model_validate(body)


def test_the_blank_template_is_refused_with_every_empty_mandatory_element_named():
    with pytest.raises(ValidationFailed) as exc:
        asycuda.read(BLANK.read_bytes())
    found = issues_of(exc)
    assert found["/ASYCUDA/Declarant/Reference/Number"] == "format.mapping.missing"
    assert found["/ASYCUDA/Identification/Office_segment/Customs_clearance_office_code"] == "format.mapping.missing"
    assert found["/ASYCUDA/Item"] == "format.asycuda.no_items"
    assert all(exc.value.issues[0].message(lang) for lang in ("fr", "en"))


def test_an_export_whose_item_count_disagrees_with_its_items_is_refused_naming_both_numbers():
    data = FILLED.replace(b"<Total_number_of_items>2<", b"<Total_number_of_items>3<")
    with pytest.raises(ValidationFailed) as exc:
        asycuda.read(data)
    [issue] = [i for i in exc.value.issues if i.code == "format.mapping.item_count"]
    assert issue.pointer == "/ASYCUDA/Property/Nbers/Total_number_of_items"
    assert issue.params["declared"] == 3 and issue.params["found"] == 2
    assert "3" in issue.message("fr") and "2" in issue.message("fr")


def test_an_older_export_naming_the_count_number_of_items_is_checked_too():
    data = FILLED.replace(b"<Total_number_of_items>2</Total_number_of_items>", b"<Number_of_items>1</Number_of_items>")
    with pytest.raises(ValidationFailed) as exc:
        asycuda.read(data)
    assert issues_of(exc) == {"/ASYCUDA/Property/Nbers/Number_of_items": "format.mapping.item_count"}


def test_namespaces_whitespace_and_null_elements_do_not_matter():
    spaced = FILLED.replace(b"<ASYCUDA id=", b'<sad:ASYCUDA xmlns:sad="urn:example:asycuda" id=').replace(b"</ASYCUDA>", b"</sad:ASYCUDA>")
    spaced = spaced.replace(b"<Mode>1</Mode>", b"<Mode>\n   1\n</Mode>")
    [doc] = asycuda.read(spaced)
    assert doc.body == asycuda.read(FILLED)[0].body
    assert asycuda.is_sad(etree.fromstring(spaced)) and not asycuda.is_sad(etree.fromstring(b"<Declaration/>"))


def test_a_wrong_value_is_named_by_its_element():
    data = FILLED.replace(b"<Net_weight_itm>850<", b"<Net_weight_itm>huit cents<")
    with pytest.raises(ValidationFailed) as exc:
        asycuda.read(data)
    assert issues_of(exc) == {"/ASYCUDA/Item[2]/Valuation_item/Weight_itm/Net_weight_itm": "format.mapping.bad_value"}


def test_another_message_is_refused_by_its_root():
    with pytest.raises(ValidationFailed) as exc:
        asycuda.read(b"<Declaration><ID>1</ID></Declaration>")
    assert issues_of(exc) == {"/Declaration": "format.asycuda.not_sad"}


@pytest.mark.parametrize("body", [json.loads((ROOT / "examples" / "declaration-sn.json").read_text(encoding="utf-8")), declaration()], ids=["example", "support"])
def test_a_declaration_comes_back_from_its_sad_as_it_was(body):
    sad = asycuda.write_one(Document("declaration", body))
    root = etree.fromstring(sad)
    assert root.tag == "ASYCUDA" and [c.tag for c in root][-1] == "Item"
    assert root.findtext("Identification/Type/Declaration_gen_procedure_code") == "4"
    [back] = asycuda.read(sad)
    assert comparable(back.body) == comparable(body)


def test_french_names_several_items_and_shared_containers_survive_a_round_trip():
    [doc] = asycuda.read(FILLED)
    [again] = asycuda.read(asycuda.write(asycuda.read(FILLED)))
    assert again.body == {k: v for k, v in doc.body.items() if k != "estimated_arrival"}  # written SADs carry no date
    assert comparable(again.body) == comparable(doc.body)


def test_write_takes_one_declaration_per_file():
    body = declaration()
    with pytest.raises(ValidationFailed) as exc:
        asycuda.write([Document("declaration", body), Document("declaration", declaration(lrn="OTHER-1"))])
    assert [i.code for i in exc.value.issues] == ["format.asycuda.one_per_file"]
    with pytest.raises(ValidationFailed):
        asycuda.write([])
    with pytest.raises(ValidationFailed) as exc:
        asycuda.write_one(Document("cargo_report", {}))
    assert [i.code for i in exc.value.issues] == ["format.asycuda.not_declaration"]


def test_a_country_mapping_with_its_own_office_element_and_codes_is_read_and_written():
    text = PACKAGED.read_text(encoding="utf-8").replace(
        "office_code: {path: Identification/Office_segment/Customs_clearance_office_code, required: true}",
        'office_code: {path: Identification/Bureau/Code_bureau, map: {"10S": SN-DKR-PORT}, unmapped: error, required: true}',
    )
    mapping = load_yaml_model(Mapping, text=text, where="sn.yaml")
    national = FILLED.replace(
        b"<Office_segment>\n<Customs_clearance_office_code>SN-DKR-PORT</Customs_clearance_office_code>",
        b"<Bureau>\n<Code_bureau>10S</Code_bureau>",
    ).replace(b"</Customs_Clearance_office_name>\n</Office_segment>", b"</Customs_Clearance_office_name>\n</Bureau>")
    [doc] = asycuda.read(national, mapping)
    assert doc.body["office_code"] == "SN-DKR-PORT"
    with pytest.raises(ValidationFailed) as exc:  # the default mapping finds no office there
        asycuda.read(national)
    assert "/ASYCUDA/Identification/Office_segment/Customs_clearance_office_code" in issues_of(exc)
    written = etree.fromstring(asycuda.write_one(doc, mapping))
    assert written.findtext("Identification/Bureau/Code_bureau") == "10S"  # the map, inverted
    assert asycuda.read(asycuda.write_one(doc, mapping), mapping)[0].body["office_code"] == "SN-DKR-PORT"
    with pytest.raises(ValidationFailed) as exc:
        asycuda.write_one(Document("declaration", {**doc.body, "office_code": "CI-ABJ-PORT"}), mapping)
    assert [i.code for i in exc.value.issues] == ["format.mapping.cannot_write"]


def test_the_example_national_mapping_reads_national_office_codes_and_dates():
    mapping = load_mapping(ROOT / "examples" / "mappings" / "asycuda-sad-sn.yaml")
    national = FILLED.replace(b">SN-DKR-PORT<", b">10S<").replace(b">2026-03-02<", b">02/03/2026<")
    [doc] = asycuda.read(national, mapping)
    assert doc.body["office_code"] == "SN-DKR-PORT"
    assert doc.body["estimated_arrival"] == "2026-03-02T00:00:00+00:00"


# --- broken exports: ValidationFailed, never another exception ---------------------------------


def _refused_or_read(data: bytes) -> None:
    try:
        documents = asycuda.read(data)
    except ValidationFailed as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.message("fr") and issue.message("en")
        return
    assert all(isinstance(d.body, dict) for d in documents)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(0, len(FILLED.rstrip()) - 1))
def test_a_truncated_export_is_refused(cut):
    with pytest.raises(ValidationFailed):
        asycuda.read(FILLED[:cut])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flips=st.lists(st.tuples(st.integers(0, len(FILLED) - 1), st.integers(0, 255)), min_size=1, max_size=6))
def test_flipped_bytes_give_a_refusal_or_a_document_never_a_crash(flips):
    data = bytearray(FILLED)
    for at, byte in flips:
        data[at] = byte
    _refused_or_read(bytes(data))


ELEMENT_TEXTS = st.sampled_from([b"", b"x", b"-1", b"1e999999", b"NaN", b"Infinity", b"  ", "é".encode(), b"99999999999999999999999999", b"2026-13-45"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replacements=st.lists(st.tuples(st.integers(0, 200), ELEMENT_TEXTS), min_size=1, max_size=5))
def test_odd_values_in_any_element_give_a_refusal_or_a_document(replacements):
    root = etree.fromstring(FILLED)
    leaves = [e for e in root.iter() if len(e) == 0]
    for at, text in replacements:
        leaves[at % len(leaves)].text = text.decode()
    _refused_or_read(etree.tostring(root))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drop=st.lists(st.integers(0, 400), min_size=1, max_size=4))
def test_removed_elements_give_a_refusal_or_a_document(drop):
    root = etree.fromstring(FILLED)
    for at in drop:
        elements = [e for e in root.iter() if e is not root]
        victim = elements[at % len(elements)]
        victim.getparent().remove(victim)
    _refused_or_read(etree.tostring(root))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(st.text(alphabet="abcdéèçôABCÉ '-&<>\"", min_size=1, max_size=30).map(str.strip).filter(bool), min_size=3, max_size=3),
    items=st.integers(1, 4),
    hs=st.sampled_from(["870323", "87032310", "8703231000"]),
)
def test_generated_declarations_come_back_from_their_sad(names, items, hs):
    body = declaration()
    body["importer"]["name"], body["exporter"]["name"], body["declarant"]["name"] = names
    base = body["goods_items"][0]
    body["goods_items"] = []
    for n in range(1, items + 1):
        item = copy.deepcopy(base)
        item.update(sequence=n, hs_code=hs, description=f"{names[0]} n°{n}")
        if n % 2 == 0:
            item["procedure_code"] = "4071"
            item["duty_regime"] = "community"
            item["container_ids"] = []
        body["goods_items"].append(item)
    body["goods_item_quantity"] = items
    GoodsDeclaration.model_validate(body)
    [back] = asycuda.read(asycuda.write_one(Document("declaration", body)))
    assert comparable(back.body) == comparable(body)
