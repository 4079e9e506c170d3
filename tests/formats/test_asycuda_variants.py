"""ASYCUDA World SAD exports as other installations write them (tests/formats/samples/asycuda/variants):
one to thirty items, ``<null/>``, ``<X/>`` or ``<X></X>`` for an empty field, optional blocks left
out, a default namespace, names over several lines, decimal commas and space thousands, two-digit
transport modes, freight in another currency. Each is read whole into the declaration a customs
officer would see, through the library, ``avance convert``, the API and ``avance import``; a broken
export is one clear error naming its element, and nothing of it is stored."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from lxml import etree

from avance.declarations.model import GoodsDeclaration
from avance.declarations.tables import declarations
from avance.formats import asycuda
from avance.formats.documents import Document
from avance.formats.mapping import Applier, Mapping
from avance.imports.runner import run_import
from avance.kit.datafiles import load_yaml_model
from avance.kit.errors import ValidationFailed
from tests.support import TODAY, LiveApi, make_node, run_cli, serve_fresh, count_rows

VARIANTS = Path(__file__).parent / "samples" / "asycuda" / "variants"
SAMPLES = sorted(VARIANTS.glob("*.xml"))
SN = VARIANTS / "sad-sn-three-items-null-indented.xml"


def sample(name: str) -> bytes:
    return (VARIANTS / name).read_bytes()


def read_one(data: bytes) -> dict[str, Any]:
    [doc] = asycuda.read(data)
    return doc.body


def lodgeable(body: dict[str, Any]) -> GoodsDeclaration:
    """The declaration as the API's model takes it (the arrival, which a SAD does not hold, set)."""
    return GoodsDeclaration.model_validate({**body, "estimated_arrival": "2026-07-01T00:00:00Z"})


def refusal(data: bytes) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        asycuda.read(data)
    for issue in exc.value.issues:
        assert issue.message("fr") and issue.message("en")
    return {issue.pointer: issue.code for issue in exc.value.issues}




# --- every sample is read whole ----------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_each_installations_export_gives_a_declaration_the_api_takes_with_every_item(path):
    data = path.read_bytes()
    body = read_one(data)
    model = lodgeable(body)
    root = etree.fromstring(data)
    items = [e for e in root if etree.QName(e).localname == "Item"]
    assert model.goods_item_quantity == len(model.goods_items) == len(items)
    assert [i.sequence for i in model.goods_items] == list(range(1, len(items) + 1))
    assert all("\n" not in i.description and "  " not in i.description for i in model.goods_items)
    assert not any(name.startswith("_") for name in body)  # the reader's own helpers are not fields


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_convert_prints_the_same_declaration_as_the_library(path, english):
    code, out, err = run_cli(["convert", str(path), "--from", "asycuda"])
    assert code == 0, err
    assert orjson.loads(out) == read_one(path.read_bytes())


def test_names_written_over_several_lines_are_read_as_one_line_with_their_accents():
    body = read_one(SN.read_bytes())
    assert body["importer"]["name"] == "Établissements Ndiaye & Fils Rue Félix Faure Dakar"
    assert body["exporter"]["name"] == "Société Française d'Électroménager (SFE)"
    assert body["goods_items"][0]["description"] == "Réfrigérateurs « Frigéco » 300 l"
    assert body["goods_items"][1]["procedure_code"] == "4071" and body["goods_items"][1]["duty_regime"] == "community"
    assert body["goods_items"][2]["container_ids"] == ["MSKU1234565"]
    assert body["containers"] == [{"id": "CSQU3054383"}, {"id": "MSKU1234565"}]


def test_decimal_commas_and_space_thousands_are_read_as_the_amounts_they_are():
    body = read_one(sample("sad-bf-comma-decimals.xml"))
    assert (body["invoice_amount"], body["freight_amount"], body["insurance_amount"]) == ("12500.75", "1250.50", "62.5")
    assert body["total_package_quantity"] == 1200
    first = body["goods_items"][0]
    assert (first["gross_mass"], first["net_mass"], first["invoice_amount"]) == ("25000", "24800.5", "10000.25")
    assert first["packages"] == [{"quantity": 1000, "type_code": "BG"}] and first["supplementary_quantity"] == "24800.5"


@pytest.mark.parametrize(
    ("written", "read"),
    [("1250.5", "1250.5"), ("1 250,50", "1250.50"), ("1\u00a0250,50", "1250.50"), ("1,250.50", "1250.50"), ("1.250,50", "1250.50"), ("12,5", "12.5"), ("1250,500", "1250.500")],
)
def test_an_amount_is_read_whichever_way_the_installation_writes_it(written, read):
    data = sample("sad-sn-three-items-null-indented.xml").replace(b"<Amount_foreign_currency>18500.50<", f"<Amount_foreign_currency>{written}<".encode())
    assert read_one(data)["invoice_amount"] == read


@pytest.mark.parametrize("written", ["1,250", "1 25", "12.500,5,0", "1.2.3", "douze"])
def test_an_amount_that_could_be_read_two_ways_or_none_is_refused_by_its_element(written):
    data = SN.read_bytes().replace(b"<Amount_foreign_currency>18500.50<", f"<Amount_foreign_currency>{written}<".encode())
    assert refusal(data) == {"/ASYCUDA/Valuation/Gs_Invoice/Amount_foreign_currency": "format.mapping.bad_value"}


def test_a_count_of_packages_written_12_0_is_twelve_but_a_fraction_of_a_package_is_refused():
    body = read_one(sample("sad-bj-two-digit-mode.xml"))
    assert body["goods_items"][0]["packages"] == [{"quantity": 20, "type_code": "DR"}] and body["total_package_quantity"] == 20
    broken = sample("sad-bj-two-digit-mode.xml").replace(b"<Number_of_packages>20.0<", b"<Number_of_packages>0.06<")
    assert refusal(broken) == {"/ASYCUDA/Item/Packages/Number_of_packages": "format.mapping.bad_value"}


@pytest.mark.parametrize(("mode", "read"), [("1", 1), ("01", 1), ("10", 1), ("31", 3), ("40", 4)])
def test_a_two_digit_transport_mode_is_read_as_its_mode(mode, read):
    data = sample("sad-bj-two-digit-mode.xml").replace(b"<Mode>10</Mode>", f"<Mode>{mode}</Mode>".encode())
    assert read_one(data)["transport_mode_code"] == read


def test_an_unknown_transport_mode_is_refused_by_its_element():
    data = sample("sad-bj-two-digit-mode.xml").replace(b"<Mode>10</Mode>", b"<Mode>SEA</Mode>")
    assert refusal(data) == {"/ASYCUDA/Transport/Means_of_transport/Border_information/Mode": "format.mapping.bad_value"}


def test_freight_in_another_currency_is_converted_into_the_invoice_currency_through_the_rates():
    body = read_one(sample("sad-ne-freight-other-currency.xml"))
    assert body["invoice_currency"] == "EUR"
    assert body["freight_amount"] == "5488.16"  # 6000 USD x 600 / 655.957
    assert body["insurance_amount"] == "450"  # already in EUR


def test_freight_in_another_currency_without_its_rate_is_refused_rather_than_read_as_euros():
    data = sample("sad-ne-freight-other-currency.xml").replace(b"<Currency_rate>600</Currency_rate>", b"<Currency_rate><null/></Currency_rate>")
    found = refusal(data)
    assert found == {"/ASYCUDA/Valuation/Gs_external_freight/Currency_rate": "format.asycuda.freight_rate"}


def test_an_export_without_item_count_counts_its_items_and_takes_the_incoterm_from_the_item():
    body = read_one(sample("sad-ci-one-item-minimal.xml"))
    assert body["goods_item_quantity"] == 1 and body["incoterm"] == "FOB"
    assert "freight_amount" not in body and "manifest_reference" not in body
    assert body["estimated_arrival"] == "2026-04-14T00:00:00+00:00"


def test_an_item_valued_in_its_invoice_block_only_and_a_registration_date_are_read():
    body = read_one(sample("sad-tg-warehouse-item-invoice.xml"))
    assert body["goods_items"][0]["invoice_amount"] == "8000"
    assert body["estimated_arrival"] == "2026-05-20T00:00:00+00:00"  # no Date_of_declaration: the registration's


def test_a_default_namespace_and_attributes_do_not_matter():
    body = read_one(sample("sad-gh-namespace-attributes.xml"))
    assert body["lrn"] == "GH-2026-TMA-55" and body["exporter"] == {"id": "JP-0001", "name": "Nagoya Autos Co.", "country": "JP"}
    assert [i["supplementary_unit"] for i in body["goods_items"]] == ["NAR", "NAR"]  # Supplementary_unit_code, the usual spelling
    assert [i["container_ids"] for i in body["goods_items"]] == [["TGHU1234567"], ["TGHU7654321"]]


def test_thirty_items_are_read_in_order():
    body = read_one(sample("sad-ml-thirty-items-road.xml"))
    assert len(body["goods_items"]) == 30 and body["goods_item_quantity"] == 30
    assert [i["description"] for i in body["goods_items"]][-1] == "Ciment Portland, lot n°30"
    assert body["transport_mode_code"] == 3 and body["invoice_currency"] == "XOF"


# --- broken exports --------------------------------------------------------------------------


BROKEN = [
    ("count", lambda d: d.replace(b"<Total_number_of_items>3<", b"<Total_number_of_items>4<"), "/ASYCUDA/Property/Nbers/Total_number_of_items", "format.mapping.item_count"),
    ("mandatory", lambda d: d.replace(b"<Number>CAD-2026-000777</Number>", b"<Number><null/></Number>"), "/ASYCUDA/Declarant/Reference/Number", "format.mapping.missing"),
    ("number", lambda d: d.replace(b"<Gross_weight_itm>900<", b"<Gross_weight_itm>9OO<"), "/ASYCUDA/Item[2]/Valuation_item/Weight_itm/Gross_weight_itm", "format.mapping.bad_value"),
    ("hs", lambda d: d.replace(b"<Commodity_code>84501100</Commodity_code>", b"<Commodity_code><null/></Commodity_code>"), "/ASYCUDA/Item[3]/Tarification/HScode/Commodity_code", "format.mapping.missing"),
]


@pytest.mark.parametrize(("name", "damage", "pointer", "code"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_export_names_the_element_at_fault(name, damage, pointer, code):
    assert refusal(damage(SN.read_bytes())) == {pointer: code}


@pytest.mark.parametrize(("name", "damage", "pointer", "code"), BROKEN[:3], ids=[b[0] for b in BROKEN[:3]])
def test_convert_refuses_a_broken_export_in_one_line_naming_the_element(tmp_path, english, name, damage, pointer, code):
    bad = tmp_path / f"{name}.xml"
    bad.write_bytes(damage(SN.read_bytes()))
    status, out, err = run_cli(["convert", str(bad), "--from", "asycuda"])
    assert (status, out) == (2, "")
    assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err
    assert pointer in err and "format." not in err  # words, not keys


def test_convert_refuses_another_root_naming_it(tmp_path, english):
    bad = tmp_path / "invoice.xml"
    bad.write_bytes(b"<?xml version='1.0'?><Invoice><Item/></Invoice>")
    status, _, err = run_cli(["convert", str(bad), "--from", "asycuda"])
    assert status == 2 and "<Invoice>" in err and "<ASYCUDA>" in err


# --- the writer -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_a_declaration_read_from_any_export_is_written_and_read_back_the_same(path):
    body = read_one(path.read_bytes())
    written = asycuda.write_one(Document("declaration", body))
    back = read_one(written)
    assert back == {k: v for k, v in body.items() if k != "estimated_arrival"}  # the SAD holds no arrival
    assert etree.fromstring(written).findtext("Valuation/Gs_external_freight/Currency_code") in (None, body["invoice_currency"])


def test_a_country_that_writes_decimal_commas_gets_them_back():
    text = (Path(asycuda.__file__).parent / "mappings" / "asycuda-sad.yaml").read_text(encoding="utf-8").replace("decimal_separator: auto", 'decimal_separator: ","')
    mapping = load_yaml_model(Mapping, text=text, where="bf.yaml")
    body = read_one(sample("sad-bf-comma-decimals.xml"))
    written = asycuda.write_one(Document("declaration", body), mapping)
    assert etree.fromstring(written).findtext("Valuation/Gs_Invoice/Amount_foreign_currency") == "12500,75"
    assert asycuda.read(written, mapping)[0].body["invoice_amount"] == "12500.75"


def test_a_mapping_pattern_must_be_a_regular_expression():
    with pytest.raises(Exception, match="pattern"):
        load_yaml_model(Mapping, text="format: xml\nfields: {transport_mode_code: {path: Mode, pattern: '([1-9'}}", where="bad.yaml")
    applier = Applier(load_yaml_model(Mapping, text="format: xml\nfields: {lrn: {path: R, pattern: 'LRN-(.*)'}}", where="ok.yaml"))
    assert applier.read_record(etree.fromstring(b"<D><R>LRN-42</R></D>")).document == {"lrn": "42"}


# --- the API and the importer --------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    yield from serve_fresh(tmp_path_factory, "asycuda-variants")


def dakar_sad(lrn: str, data: bytes | None = None) -> bytes:
    """The Senegalese sample (or ``data``, a damaged copy) with its own reference, dated within
    the coming days, its goods on a tariff line of the test node's schedule, on no cargo report."""
    day = (TODAY + timedelta(days=5)).isoformat().encode()
    data = SN.read_bytes() if data is None else data
    for code in (b"84181000", b"85161000", b"84501100"):
        data = data.replace(b"<Commodity_code>" + code + b"<", b"<Commodity_code>87032310<")
    data = data.replace(b"<Manifest_reference_number>2026/0417</Manifest_reference_number>", b"<Manifest_reference_number><null/></Manifest_reference_number>")
    return data.replace(b"CAD-2026-000777", lrn.encode()).replace(b"<Date_of_declaration>2026-03-02<", b"<Date_of_declaration>" + day + b"<")


def test_a_brokers_indented_sad_with_null_fields_is_lodged_through_the_api(live):
    before = count_rows(live.node, declarations)
    with live.client("broker", "en") as http:
        response = http.post("/declarations", content=dakar_sad("CAD-2026-API001"), headers={"Content-Type": "application/xml"})
    assert response.status_code == 201, response.text
    assert b"CAD-2026-API001" in response.content
    assert count_rows(live.node, declarations) == before + 1


@pytest.mark.parametrize(("name", "damage", "pointer", "code"), BROKEN[:3], ids=[b[0] for b in BROKEN[:3]])
def test_a_broken_sad_is_a_problem_naming_the_element_and_nothing_is_stored(live, name, damage, pointer, code):
    before = count_rows(live.node, declarations)
    with live.client("broker", "fr") as http:
        response = http.post("/declarations", content=dakar_sad(f"CAD-2026-BAD-{name}", damage(SN.read_bytes())), headers={"Content-Type": "application/xml"})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["pointer"], e["code"]) for e in errors] == [(pointer, code)]
    assert count_rows(live.node, declarations) == before


def test_the_importer_lodges_a_sad_and_rejects_a_broken_one_whole(tmp_path):
    node = make_node(f"sqlite:///{(tmp_path / 'avance.db').as_posix()}", tmp_path)
    try:
        good = tmp_path / "export-1.xml"
        good.write_bytes(dakar_sad("CAD-2026-IMP001"))
        report = run_import(node, good, workers=1, rejects_path=tmp_path / "good.csv", lang="fr")
        assert (report.accepted, report.rejected) == (1, 0)
        broken = tmp_path / "export-2.xml"
        broken.write_bytes(dakar_sad("CAD-2026-IMP002").replace(b"<Total_number_of_items>3<", b"<Total_number_of_items>2<"))
        report = run_import(node, broken, workers=1, rejects_path=tmp_path / "broken.csv", lang="fr")
        assert (report.accepted, report.rejected) == (0, 1)
        with (tmp_path / "broken.csv").open(newline="", encoding="utf-8") as handle:
            [row] = list(csv.reader(handle))[1:]
        assert any("Total_number_of_items" in cell for cell in row) and any("annonce 2 article(s) mais en contient 3" in cell for cell in row)
        assert count_rows(node, declarations) == 1
    finally:
        node.engine.dispose()
