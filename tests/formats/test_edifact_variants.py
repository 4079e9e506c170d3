"""CUSCAR and CUSDEC as shipping lines' EDI desks and brokers send them, not as Avance writes them:
several consignments and goods items, equipment with seals and weights, remarks beside the goods
description, currencies in CUX, carriers coded in TDT, voyage numbers in RFF, other separators,
UNG groups, UTF-8, one line or CRLF. Each is read with nothing lost, converted by ``avance
convert``, lodged over HTTP; and each, broken, is refused in one line with nothing stored.
The samples are described in ``samples/edifact/SOURCE.md``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avance.declarations.model import GoodsDeclaration
from avance.declarations.tables import declarations
from avance.formats import edifact
from avance.kit.errors import ValidationFailed
from avance.manifests.model import CargoReport
from avance.manifests.tables import manifests
from avance.movements.payloads import ExportDeclarationNotice
from tests.support import LiveApi, run_cli, serve_fresh, count_rows

SAMPLES = Path(__file__).parent / "samples" / "edifact"
VARIANTS = {
    "cuscar_unoc_dakar_three_bills.edi": ("cargo_report",),
    "cuscar_unoa_one_line_air.edi": ("cargo_report",),
    "cuscar_una_ung_road_two_messages.edi": ("cargo_report", "cargo_report"),
    "cuscar_unob_relay_one_consignment.edi": ("cargo_report",),
    "cusdec_unoc_import_three_items.edi": ("declaration",),
    "cusdec_export_830_abidjan.edi": ("export_notice",),
    "cusdec_unow_two_declarations.edi": ("declaration", "declaration"),
    "cuscar_unoc_abidjan.edi": ("cargo_report",),
}
MODELS = {"declaration": GoodsDeclaration, "cargo_report": CargoReport, "export_notice": ExportDeclarationNotice}


def read(name: str) -> list:
    return edifact.read((SAMPLES / name).read_bytes())


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_reads_into_valid_avance_documents(name: str) -> None:
    docs = read(name)
    assert tuple(d.kind for d in docs) == VARIANTS[name]
    for doc in docs:
        MODELS[doc.kind].model_validate(doc.body)


def test_a_cuscar_with_three_bills_keeps_every_container_seal_party_and_accent() -> None:
    [doc] = read("cuscar_unoc_dakar_three_bills.edi")
    report = CargoReport.model_validate(doc.body)
    assert (report.reference, report.office_code, report.voyage_number) == ("CMA-DKR-0A1BKS-01", "SN-DKR-PORT", "0A1BKS1MA")
    assert (report.port_of_loading, report.port_of_discharge) == ("FRLEH", "SNDKR")
    assert report.estimated_arrival == datetime(2026, 12, 10, 6, tzinfo=timezone.utc)  # DTM format 203
    assert report.carrier.id == "CMDU" and report.carrier.name == "CMA CGM Sénégal SA"
    assert report.carrier.address == "Immeuble Atryum, route de l'Aéroport, BP 3291 Dakar"  # ?' released
    assert (report.conveyance.identification, report.conveyance.name, report.conveyance.nationality) == ("9454436", "CMA CGM LA SCALA", "MT")
    cars, medicines, books = report.bills_of_lading
    # Two goods items of one bill: quantities and masses summed, descriptions joined; remarks
    # (FTX+AAI, FTX+HAN) are not part of the goods description.
    assert cars.description == "Véhicule d'occasion Peugeot 3008, châssis VF3MCYHZRKS123456 Pièces détachées automobiles: freins, filtres, garnitures"
    assert (cars.package_quantity, cars.package_type, str(cars.gross_mass)) == (7, "NE", "2480")
    assert [(c.id, c.seals) for c in cars.containers] == [("CMAU1234564", ["FR7731002", "C4421890"])]
    assert cars.consignee.id == "SN0098765B2" and cars.consignor is not None and cars.consignor.id is None
    assert cars.consignor.name == "Société Normande d'Exportation" and cars.consignor.country == "FR"
    assert medicines.description == "Médicaments et vaccins sous température dirigée +2/+8 °C"
    assert medicines.consignor is not None and medicines.consignor.name == "Laboratoires Français + Associés"
    assert [(c.id, c.seals) for c in medicines.containers] == [("CMAU7654327", ["CU0099812"])]
    # A consignment without a number on CNI is the house bill of its RFF+BH.
    assert books.transport_document_reference == "DKRH2612001"
    assert books.consignee.name == "À L'ORDRE DE LA BANQUE DE L'HABITAT DU SÉNÉGAL"
    assert (books.package_quantity, books.package_type) == (12, "PL")
    assert [(c.id, c.seals) for c in books.containers] == [("TRIU8877663", ["FR7731004"])]


def test_an_air_cargo_report_on_one_line_in_unoa_reads_master_and_house_waybills() -> None:
    [doc] = read("cuscar_unoa_one_line_air.edi")
    report = CargoReport.model_validate(doc.body)
    assert (report.transport_mode_code, report.voyage_number, report.office_code) == (4, "ET935", "SN-DSS-AIR")
    assert report.estimated_arrival == datetime(2026, 12, 7, 2, 30, tzinfo=timezone.utc)  # DTM format 204
    flowers, parts = report.bills_of_lading
    assert flowers.transport_document_reference == "071-12345675"  # CNI, as RFF+MWB
    assert str(flowers.gross_mass) == "412.5"  # the volume (MEA+VOL) is no mass
    assert parts.transport_document_reference == "ADDH99001"  # RFF+HWB
    assert parts.description == "SPARE PARTS: MEDICAL DEVICES DOCUMENTS"
    assert (parts.package_quantity, str(parts.gross_mass)) == (4, "35.500")  # 35 kg + 500 g


def test_other_separators_a_functional_group_and_two_messages_give_two_cargo_reports() -> None:
    first, second = (CargoReport.model_validate(d.body) for d in read("cuscar_una_ung_road_two_messages.edi"))
    assert (first.reference, second.reference) == ("SX-KDG-2612-07", "SX-KDG-2612-08")
    assert first.carrier.name == "Transports Sahel*Express SA, Bamako"  # !* released, name in C058
    assert (first.conveyance.identification, first.conveyance.name, first.conveyance.nationality) == ("AA-1234-MD", "Camion Renault Kerax", "ML")
    assert first.estimated_arrival == datetime(2026, 12, 8, 16, tzinfo=timezone.utc)  # 303 with +00
    [cotton] = first.bills_of_lading
    assert cotton.consignee.name == "Société Textile de Thiès ~ SOTEXTHIES"
    assert str(cotton.gross_mass) == "9120.5"  # decimal comma
    assert [(c.id, c.seals) for c in cotton.containers] == [("SEGU3004009", ["ML-77123"])]
    [mangoes] = second.bills_of_lading
    assert mangoes.consignee.name == "Établissements Ndiaye > Fils"
    assert mangoes.description == "Mangues fraîches, calibre > 400 g"
    assert mangoes.gross_mass == 7500  # 7,5 t


def test_a_relay_cargo_report_takes_carrier_voyage_and_ports_where_the_sender_put_them() -> None:
    [doc] = read("cuscar_unob_relay_one_consignment.edi")
    report = CargoReport.model_validate(doc.body)
    # NAD+CA gives the code only: the name comes from TDT C040; the voyage from RFF+VON; the main
    # carriage is the TDT+20, not the feeder (TDT+10) that comes first.
    assert (report.carrier.id, report.carrier.name) == ("MAEU", "MAERSK LINE A/S")
    assert report.voyage_number == "649S"
    assert report.conveyance.name == "MAERSK KENSINGTON"
    assert report.port_of_loading == "TGLFW"  # given on the consignment (SG8 LOC) only
    assert report.estimated_arrival == datetime(2026, 12, 9, 4, 30, tzinfo=timezone.utc)  # DTM format 201
    [bill] = report.bills_of_lading
    assert bill.description == "CLINKER IN BULK BAGS, 2 X 40FT"
    # One consignment, no SGP: the containers of the message are its containers.
    assert [(c.id, c.seals) for c in bill.containers] == [("TGHU1002005", ["ML7781234", "TG0091X"]), ("MSCU9988773", ["ML7781235"])]


def test_a_broker_cusdec_with_three_items_keeps_tariff_codes_amounts_currency_and_containers() -> None:
    [doc] = read("cusdec_unoc_import_three_items.edi")
    declaration = GoodsDeclaration.model_validate(doc.body)
    assert (declaration.lrn, declaration.procedure_code, declaration.office_code) == ("2026-DKR-004711", "4000", "SN-DKR-PORT")
    assert declaration.invoice_currency == "USD"  # from CUX, the MOA gives none
    assert (str(declaration.invoice_amount), str(declaration.freight_amount), str(declaration.insurance_amount)) == ("48250.00", "2100.00", "310.50")
    assert declaration.incoterm == "CIF"
    assert [(c.id, c.seals) for c in declaration.containers] == [("MSCU4455663", ["ML2210334"]), ("MSCU9988773", ["ML2210335", "CU558812"])]
    assert declaration.exporter is not None and declaration.exporter.name == "Shanghai Huaxin Trading Co., Ltd."
    assert (declaration.goods_item_quantity, declaration.total_package_quantity) == (3, 500)
    laptops, phones, tyres = declaration.goods_items
    assert [i.hs_code for i in declaration.goods_items] == ["84713000", "85171300", "40111000"]
    assert laptops.description == "Ordinateurs portables (claviers AZERTY, chargeurs inclus)"  # FTX+AAI left out
    assert (str(laptops.net_mass), str(laptops.gross_mass), str(laptops.invoice_amount)) == ("2350.5", "2600", "22100.00")
    assert laptops.packages[0].marks == "HX/DKR/1-60" and laptops.container_ids == ["MSCU4455663"]
    assert (str(phones.supplementary_quantity), phones.supplementary_unit) == ("1200", "NAR")
    assert tyres.description == "Pneumatiques neufs pour voitures de tourisme + chambres à air"
    assert (str(tyres.net_mass), tyres.origin_country) == ("3650", "TH")  # MEA+WT without qualifier: net


def test_an_export_cusdec_with_a_decimal_comma_takes_its_currency_from_cux() -> None:
    [doc] = read("cusdec_export_830_abidjan.edi")
    notice = ExportDeclarationNotice.model_validate(doc.body)
    assert doc.body["export_declaration_reference"] == "26CIABJ0004512E"
    assert (doc.body["exporting_country"], doc.body["destination_country"], doc.body["office_of_exit"]) == ("CI", "SN", "CIABJ01")
    assert doc.body["exporter"] == {"id": "CI2004567X", "name": "Société Ivoirienne de Cacao et Café", "country": "CI"}
    assert doc.body["totals"] == {"goods_item_quantity": 2, "net_mass": "18450.5", "statistical_value": {"amount": "41230.00", "currency": "XOF"}}
    cocoa, cake = doc.body["items"]
    assert cocoa["statistical_value"] == {"amount": "32000.00", "currency": "XOF"}
    assert cake["description"] == "Tourteaux de cacao dégraissés"  # FTX+ACB left out
    assert notice is not None


def test_utf8_declarations_two_in_one_interchange_keep_characters_outside_latin1() -> None:
    first, second = (GoodsDeclaration.model_validate(d.body) for d in read("cusdec_unow_two_declarations.edi"))
    assert first.importer.name == "Œnologie & Spiritueux d’Afrique SARL"
    assert first.estimated_arrival == datetime(2026, 12, 14, tzinfo=timezone.utc)  # DTM format 102
    assert (first.declarant.country, str(first.goods_items[0].supplementary_quantity)) == ("SN", "1350")
    assert second.lrn == "2026-DKR-004802" and second.exporter is not None and second.exporter.name == "Fromagerie de l’Ain"
    assert (str(second.goods_items[0].net_mass), str(second.goods_items[0].gross_mass)) == ("410", "455")  # MEA C502 N and G


@pytest.mark.parametrize(("value", "fmt", "expected"), [("261130", "101", "2026-11-30T00:00:00Z"), ("2612090430", "201", "2026-12-09T04:30:00Z")])
def test_two_digit_year_dates_are_read(value: str, fmt: str, expected: str) -> None:
    text = (SAMPLES / "cuscar_unob_relay_one_consignment.edi").read_text("ascii").replace("DTM+132:2612090430:201", f"DTM+132:{value}:{fmt}")
    [doc] = edifact.read(text.encode("ascii"))
    assert doc.body["estimated_arrival"] == expected


def test_a_two_digit_year_date_of_the_wrong_length_is_refused_as_given() -> None:
    text = (SAMPLES / "cuscar_unob_relay_one_consignment.edi").read_text("ascii").replace("DTM+132:2612090430:201", "DTM+132:20261209:201")
    with pytest.raises(ValidationFailed) as caught:
        edifact.read(text.encode("ascii"))
    [issue] = caught.value.issues
    assert issue.code == "format.edifact.bad_date" and "'20261209:201'" in issue.message("en")


# --- avance convert -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_avance_convert_prints_every_document_of_each_variant(name: str) -> None:
    code, out, err = run_cli(["convert", str(SAMPLES / name)])
    assert (code, err) == (0, "")
    lines = [json.loads(line) for line in out.splitlines()] if len(VARIANTS[name]) > 1 else [json.loads(out)]
    assert len(lines) == len(VARIANTS[name])


def breakages(text: str) -> Iterator[tuple[str, str, str]]:
    """(what, broken text, the error key expected) for one interchange."""
    unt = re.search(r"UNT(.)(\d+)", text)
    assert unt is not None
    count = int(unt.group(2))
    yield "UNT count +1", text.replace(unt.group(0), f"UNT{unt.group(1)}{count + 1}", 1), "format.edifact.unt_count"
    yield "UNT count -1", text.replace(unt.group(0), f"UNT{unt.group(1)}{count - 1}", 1), "format.edifact.unt_count"
    unz = re.search(r"UNZ(.)(\d+)", text)
    assert unz is not None
    yield "UNZ count", text.replace(unz.group(0), f"UNZ{unz.group(1)}{int(unz.group(2)) + 1}"), "format.edifact.unz_count"
    middle = text.index("UNT") - 7
    yield "cut in a segment", text[:middle], "format.edifact.truncated_segment"
    yield "IFTMIN", text.replace("CUSCAR", "IFTMIN").replace("CUSDEC", "IFTMIN"), "format.edifact.message_type"
    yield "CUSREP", text.replace("CUSCAR", "CUSREP").replace("CUSDEC", "CUSREP"), "format.edifact.message_type"
    yield "D.01B", text.replace("99B", "01B"), "format.edifact.message_version"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_variant_broken_is_one_line_on_stderr_and_exit_2(name: str, tmp_path: Path) -> None:
    data = (SAMPLES / name).read_bytes()
    codec = "utf-8" if b"UNOW" in data[:80] else "latin-1"
    for what, broken, key in breakages(data.decode(codec)):
        path = tmp_path / "broken.edi"
        path.write_bytes(broken.encode(codec))
        code, out, err = run_cli(["convert", str(path)])
        assert (code, out) == (2, ""), what
        assert err.count("\n") == 1 and err.startswith(("error:", "erreur")), (what, err)
        with pytest.raises(ValidationFailed) as caught:
            edifact.read(broken.encode(codec))
        assert key in {i.code for i in caught.value.issues}, (what, caught.value.issues)


def test_bytes_of_another_character_set_are_refused_by_the_cli() -> None:
    latin = (SAMPLES / "cuscar_unoc_dakar_three_bills.edi").read_bytes()
    for syntax in (b"UNOA", b"UNOB", b"UNOW"):  # é in ISO 8859-1 is neither ASCII nor UTF-8
        with pytest.raises(ValidationFailed) as caught:
            edifact.read(latin.replace(b"UNOC", syntax, 1))
        assert [i.code for i in caught.value.issues] == ["format.edifact.charset_bytes"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(VARIANTS)), data=st.data())
def test_a_variant_cut_anywhere_is_refused_with_a_format_error(name: str, data: st.DataObject) -> None:
    whole = (SAMPLES / name).read_bytes().rstrip()
    cut = data.draw(st.integers(1, len(whole) - 1))
    with pytest.raises(ValidationFailed) as caught:
        edifact.read(whole[:cut])
    assert all(i.code.startswith("format.edifact.") and i.code != "format.edifact.unreadable" for i in caught.value.issues)


# --- lodged over HTTP ---------------------------------------------------------------------------

EDIFACT = {"Content-Type": "application/edifact"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    yield from serve_fresh(tmp_path_factory, "edifact-variants")



def arriving(name: str, days: int = 3) -> bytes:
    """A sample with its estimated arrival (DTM 132) moved to ``days`` from now, as a real message
    sent today would have it (an arrival far from the day of lodging is refused as implausible)."""
    data = (SAMPLES / name).read_bytes()
    codec = "utf-8" if b"UNOW" in data[:80] else "latin-1"
    eta = (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y%m%d%H%M")
    text = re.sub(r"DTM(.)132(.)\d{8,12}(.)\d{3}", lambda m: f"DTM{m[1]}132{m[2]}{eta}{m[3]}203", data.decode(codec))
    return text.encode(codec)


def test_a_real_world_cuscar_and_cusdec_are_lodged_with_nothing_lost(live: LiveApi) -> None:
    with live.client("admin", "fr") as http:
        lodged = http.post("/manifests", content=arriving("cuscar_unoc_dakar_three_bills.edi"), headers=EDIFACT)
        assert lodged.status_code == 201, lodged.text
        given = re.search(rb"RFF\+ABT:(\d+)'", lodged.content)  # the CUSRES names the id Avance gave it
        assert given is not None, lodged.content
        stored = http.get(f"/manifests/{given[1].decode()}").json()["manifest"]
    assert [b["transport_document_reference"] for b in stored["bills_of_lading"]] == ["LEH0123456", "LEH0123457", "DKRH2612001"]
    assert stored["bills_of_lading"][0]["containers"] == [{"id": "CMAU1234564", "seals": ["FR7731002", "C4421890"]}]
    assert stored["carrier"]["name"] == "CMA CGM Sénégal SA"
    with live.client("broker", "fr") as http:
        lodged = http.post("/declarations", content=arriving("cusdec_unoc_import_three_items.edi"), headers=EDIFACT)
        assert lodged.status_code == 201, lodged.text
        stored = http.get(lodged.headers["location"]).json()["declaration"]
    assert stored["invoice_currency"] == "USD" and len(stored["goods_items"]) == 3
    assert stored["goods_items"][1]["description"] == "Téléphones portables (smartphones), 1 200 unités"


@pytest.mark.parametrize("name", ["cuscar_unoa_one_line_air.edi", "cusdec_unoc_import_three_items.edi"])
def test_a_broken_variant_is_refused_over_http_with_nothing_stored(live: LiveApi, name: str) -> None:
    path, table = ("/manifests", manifests) if name.startswith("cuscar") else ("/declarations", declarations)
    data = arriving(name).decode("latin-1")
    broken = re.sub(r"UNT\+(\d+)", lambda m: f"UNT+{int(m[1]) - 1}", data, count=1).encode("latin-1")
    before = count_rows(live.node, table)
    with live.client("admin", "en") as http:
        answer = http.post(path, content=broken, headers=EDIFACT)
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("application/problem+json")
    assert [e["code"] for e in answer.json()["errors"]] == ["format.edifact.unt_count"]
    assert count_rows(live.node, table) == before
