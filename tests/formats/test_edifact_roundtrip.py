"""Avance -> EDIFACT -> Avance gives the same documents, French names included; what Avance writes
passes its own D.99B checks; and no broken interchange ends in anything but ValidationFailed."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avance.declarations.model import GoodsDeclaration
from avance.formats import edifact
from avance.formats.documents import Document
from avance.formats.edifact import structure, syntax
from avance.kit.errors import ValidationFailed
from avance.manifests.model import CargoReport
from avance.movements.payloads import ExportDeclarationNotice
from tests.support import ROOT, declaration, manifest

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MODELS: dict[str, Any] = {"declaration": GoodsDeclaration, "cargo_report": CargoReport, "export_notice": ExportDeclarationNotice}


def export_notice(**overrides: Any) -> dict[str, Any]:
    """An export notice from France to Côte d'Ivoire with two items."""
    body: dict[str, Any] = {
        "export_declaration_reference": "26FR000000000012X4",
        "ucr": "6FR123456789-UCR",
        "transport_document_reference": "GRIM0123456",
        "exporter": {"id": "FR12345678901", "name": "Société Générale d'Exportation", "country": "FR"},
        "consignee": {"id": "CI1234567B", "name": "Librairie de la Côte", "country": "CI"},
        "exporting_country": "FR",
        "destination_country": "CI",
        "office_of_exit": "FRLEH001",
        "export_date": "2026-11-30",
        "items": [
            {
                "sequence": 1,
                "hs_code": "49019900",
                "description": "Livres scolaires, français",
                "origin_country": "FR",
                "net_mass": "120.5",
                "statistical_value": {"amount": "3000.00", "currency": "EUR"},
            },
            {
                "sequence": 2,
                "hs_code": "48201000",
                "description": "Cahiers",
                "origin_country": "FR",
                "net_mass": "80",
                "supplementary_quantity": "2000",
                "supplementary_unit": "NAR",
                "statistical_value": {"amount": "450.50", "currency": "EUR"},
            },
        ],
        "totals": {"goods_item_quantity": 2, "net_mass": "200.5", "statistical_value": {"amount": "3450.50", "currency": "EUR"}},
    }
    body.update(overrides)
    return body


def assert_round_trip(docs: list[Document]) -> bytes:
    data = edifact.write(docs)
    back = edifact.read(data)
    assert [d.kind for d in back] == [d.kind for d in docs]
    for original, read in zip(docs, back, strict=True):
        model = MODELS[original.kind]
        assert model.model_validate(read.body) == model.model_validate(original.body), json.dumps(read.body, ensure_ascii=False)
    return data


def passes_own_checks(data: bytes) -> None:
    """Every message of ``data`` has its UNT/UNZ counts right and the D.99B structure of its type."""
    interchange = syntax.parse(data, taken=None)
    for message in interchange.messages:
        _, issues = structure.check(message)
        assert issues == [], issues


def test_declarations_export_notices_and_cargo_reports_survive_a_round_trip_under_unoc() -> None:
    sample = json.loads((ROOT / "examples" / "declaration-sn.json").read_text(encoding="utf-8"))
    full = declaration(
        "2026-DKR-000777",
        consignor={"name": "Exportateur Lyonnais", "country": "FR", "address": "12 rue de la République, 69002 Lyon"},
        consignee={"id": "SN0098765B2", "name": "Société Sénégalaise d'Équipement", "country": "SN"},
        manifest_reference="MAN-2026-0001",
        ucr="6SN0098765B2-2026-000777",
        split_consignment=True,
        procedure_code="4071",
    )
    full["importer"]["address"] = "Zone industrielle de Mbao, km 18 route de Rufisque, BP 3021 Dakar, Sénégal, près du dépôt de Thiaroye"
    full["goods_items"][0].update(
        procedure_code="4000",
        duty_regime="community",
        supplementary_quantity="1",
        supplementary_unit="NAR",
        packages=[{"quantity": 1, "type_code": "NE", "marks": "VIN VF1RFB00X12345678 « garé côté quai » " * 3}],
        description="Véhicule d'occasion : berline, 1 800 cm³, moteur à essence, année 2019 ; carrosserie intacte, rétroviseur cassé ? " * 4,
    )
    report = manifest()
    report["bills_of_lading"][1]["consignee"] = {"name": "Pharmacie Nationale d'Approvisionnement (PNA) - Dakar", "country": "SN"}
    report["bills_of_lading"][1]["consignor"] = {"name": "Laboratoires Français + Associés: l'oeil ?'"}
    report.update(place_of_loading="BEANR", loading_date="2026-12-01T08:30:00Z", loaded=False)
    docs = [
        Document("declaration", sample),
        Document("declaration", full),
        Document("export_notice", export_notice()),
        Document("cargo_report", report),
    ]
    data = assert_round_trip(docs)
    assert data.startswith(b"UNA:+.? '\nUNB+UNOC:3+")
    assert "Société Sénégalaise d'Équipement".replace("'", "?'").encode("latin-1") in data
    passes_own_checks(data)


def test_french_names_are_written_in_iso_8859_1_under_unoc() -> None:
    report = manifest()
    report["carrier"]["name"] = "Société Ivoirienne à Côté"
    data = edifact.write([Document("cargo_report", report)])
    assert data.startswith(b"UNA:+.? '\nUNB+UNOC:3+")
    assert "Société Ivoirienne à Côté".encode("latin-1") in data


def test_fields_the_format_cannot_hold_are_the_documented_ones() -> None:
    """Sub-second precision of timestamps is lost (DTM format 204 counts seconds)."""
    report = manifest(estimated_arrival="2026-12-10T06:00:00.250000+00:00")
    [back] = edifact.read(edifact.write([Document("cargo_report", report)]))
    assert back.body["estimated_arrival"] == "2026-12-10T06:00:00Z"


# --- generated documents -------------------------------------------------------------------------

LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 éèêëàâçôöûùîïÉÈÀÇÔœŒ'’+:?.,-()/&«»"
names = st.text(alphabet=LATIN, min_size=1, max_size=70).map(str.strip).filter(bool)
texts = st.text(alphabet=LATIN, min_size=1, max_size=512).map(str.strip).filter(bool)
identifiers = st.from_regex(r"[A-Z0-9][A-Z0-9/._-]{0,20}", fullmatch=True)
masses = st.decimals(min_value=0, max_value=Decimal("999999999.999"), places=3).map(str)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(timezone.utc)).map(
    lambda d: d.replace(microsecond=0).isoformat()
)
container_ids = st.from_regex(r"[A-Z]{4}[0-9]{7}", fullmatch=True)


@st.composite
def parties(draw: st.DrawFn, identified: bool = False) -> dict[str, Any]:
    party: dict[str, Any] = {"name": draw(names)}
    if identified or draw(st.booleans()):
        party["id"] = draw(identifiers)
    if draw(st.booleans()):
        party["country"] = draw(st.sampled_from(["SN", "CI", "FR", "BE"]))
    if draw(st.booleans()):
        party["address"] = draw(st.text(alphabet=LATIN, min_size=1, max_size=256).map(str.strip).filter(bool))
    return party


@st.composite
def cargo_reports(draw: st.DrawFn) -> dict[str, Any]:
    report = manifest(draw(identifiers))
    report["carrier"] = draw(parties(identified=True))
    report["estimated_arrival"] = draw(moments)
    report["voyage_number"] = draw(identifiers)
    report["transport_mode_code"] = draw(st.sampled_from([1, 3, 4]))
    ids = iter(draw(st.lists(container_ids, min_size=4, max_size=4, unique=True)))
    bills = []
    for number in range(draw(st.integers(1, 3))):
        bill: dict[str, Any] = {
            "transport_document_reference": f"{draw(identifiers)}{number}",
            "consignee": draw(parties()),
            "description": draw(texts),
            "package_quantity": draw(st.integers(0, 10_000_000)),
            "package_type": draw(st.sampled_from(["CT", "PK", "NE", "BG"])),
            "gross_mass": draw(masses),
        }
        if draw(st.booleans()):
            bill["consignor"] = draw(parties())
        if draw(st.booleans()):
            bill["containers"] = [{"id": next(ids), "seals": draw(st.lists(identifiers, max_size=2))}]
        bills.append(bill)
    report["bills_of_lading"] = bills
    return report


@st.composite
def declarations(draw: st.DrawFn) -> dict[str, Any]:
    doc = declaration(draw(identifiers))
    doc["importer"] = draw(parties(identified=True))
    doc["exporter"] = draw(parties())
    doc["estimated_arrival"] = draw(moments)
    doc["invoice_amount"] = str(draw(st.decimals(min_value=0, max_value=10**9, places=2)))
    item = copy.deepcopy(doc["goods_items"][0])
    items = []
    for sequence in range(1, draw(st.integers(1, 3)) + 1):
        items.append(
            {
                **item,
                "sequence": sequence,
                "description": draw(texts),
                "gross_mass": draw(masses),
                "net_mass": str(draw(st.decimals(min_value=1, max_value=10**6, places=3))),
            }
        )
    doc["goods_items"] = items
    doc["goods_item_quantity"] = len(items)
    return doc


@SETTINGS
@given(cargo_reports())
def test_generated_cargo_reports_survive_a_round_trip(report: dict[str, Any]) -> None:
    passes_own_checks(assert_round_trip([Document("cargo_report", report)]))


@SETTINGS
@given(declarations())
def test_generated_declarations_survive_a_round_trip(doc: dict[str, Any]) -> None:
    passes_own_checks(assert_round_trip([Document("declaration", doc)]))


# --- broken interchanges -------------------------------------------------------------------------

VALID = edifact.write(
    [Document("declaration", declaration()), Document("cargo_report", manifest()), Document("export_notice", export_notice())], control_reference="IC0001"
)


def only_validation_failed(data: bytes) -> None:
    try:
        docs = edifact.read(data)
    except ValidationFailed as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.code.startswith("format.edifact.") and issue.code != "format.edifact.unreadable", issue
            assert issue.message("fr") != issue.code and issue.message("en") != issue.code
    else:
        assert all(doc.kind in MODELS for doc in docs)


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    data = VALID
    kind = draw(st.sampled_from(["truncate", "flip", "delete", "duplicate", "insert"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "flip":
        index = draw(st.integers(0, len(data) - 1))
        return data[:index] + bytes([draw(st.integers(0, 255))]) + data[index + 1 :]
    segments = data.split(b"'\n")
    index = draw(st.integers(0, len(segments) - 1))
    if kind == "delete":
        del segments[index]
    elif kind == "duplicate":
        segments.insert(index, segments[index])
    else:
        segments.insert(index, draw(st.binary(max_size=20)))
    return b"'\n".join(segments)


@SETTINGS
@given(mutations())
def test_broken_interchanges_end_in_validation_failed_only(data: bytes) -> None:
    only_validation_failed(data)


@SETTINGS
@given(st.binary(max_size=200).map(lambda tail: b"UNA:+.? 'UNB+UNOC:3+A+B+260101:1200+1'UNH+1+CUSCAR:D:99B:UN'" + tail))
def test_arbitrary_bytes_after_a_valid_header_end_in_validation_failed_only(data: bytes) -> None:
    only_validation_failed(data)


def test_the_shared_samples_still_read_after_every_single_segment_removal() -> None:
    """Removing any one segment of a sample gives documents or ValidationFailed, never a traceback."""
    for path in sorted((Path(__file__).parent / "samples" / "edifact").glob("*.edi")):
        lines = path.read_bytes().splitlines(keepends=True)
        for index in range(len(lines)):
            only_validation_failed(b"".join(lines[:index] + lines[index + 1 :]))
