"""Three administrations on three real nodes (Côte d'Ivoire, Ghana, Mali: one process, one database
and one port each, signed messages over HTTP):

- Côte d'Ivoire exports to Ghana, which matches each export with its import declaration: conforme,
  non conforme (with its value and revenue gaps, and the lane raised to red), non retrouvée;
- a transit from Tema (Ghana) through Noé (Côte d'Ivoire) to Bamako (Mali): passage, arrival and
  discharge flow back, and the guarantee is released at Tema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from avance.harness.nodes import Cluster
from tests.support import TODAY, declaration

@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    with Cluster(tmp_path_factory.mktemp("movements"), countries=("CI", "GH", "ML")) as running:
        yield running


def ok(response: Any, *codes: int) -> Any:
    assert response.status_code in (codes or (200,)), response.text
    return response.json()


def ghana_import(lrn: str, tdr: str, value: str) -> dict[str, Any]:
    """A used car imported at Tema, invoiced CIF in cedi."""
    doc = declaration(lrn=lrn, declarant="GH0012345A7")
    doc.update(
        importer={"id": "GH0098765B2", "name": "Accra Motors Ltd", "country": "GH"},
        declarant={"id": "GH0012345A7", "name": "Tema Clearing Agency", "country": "GH"},
        office_code="GH-TEM-PORT",
        transport_document_reference=tdr,
        invoice_currency="GHS",
        invoice_amount=value,
        incoterm="CIF",
        freight_amount="0",
        insurance_amount="0",
    )
    doc["goods_items"][0]["invoice_amount"] = value
    return doc


def ivorian_export(reference: str, tdr: str, value: str, days_ago: int = 2) -> dict[str, Any]:
    return {
        "export_declaration_reference": reference,
        "transport_document_reference": tdr,
        "exporter": {"id": "CI1234567X", "name": "Auto Export Abidjan SARL", "country": "CI"},
        "consignee": {"id": "GH0098765B2", "name": "Accra Motors Ltd", "country": "GH"},
        "exporting_country": "CI",
        "destination_country": "GH",
        "office_of_exit": "CI-ABJ-PORT",
        "export_date": (TODAY - timedelta(days=days_ago)).isoformat(),
        "items": [
            {
                "sequence": 1,
                "hs_code": "8703231000",
                "description": "Voiture de tourisme d'occasion",
                "origin_country": "FR",
                "net_mass": "1250",
                "statistical_value": {"amount": value, "currency": "XOF"},
            }
        ],
        "totals": {"goods_item_quantity": 1, "net_mass": "1250", "statistical_value": {"amount": value, "currency": "XOF"}},
    }


def test_export_import_matching_in_all_three_outcomes(cluster, tmp_path):
    ci, gh = cluster.node("CI"), cluster.node("GH")
    rates = tmp_path / "gh-rates.csv"
    rates.write_text("currency,rate,valid_from\nXOF,0.02,2020-01-01\n")  # 1 XOF = 0.02 GHS: 10,000,000 XOF = 200,000 GHS
    loaded = gh.cli("rates", "load", str(rates))
    assert loaded.returncode == 0, loaded.stderr

    with gh.client("broker") as broker:
        conforming = ok(broker.post("/declarations", json=ghana_import("GH-IM-0001", "MSCUCG0001", "200000.00")), 201)["id"]
    with ci.client("officer") as officer:
        ok(officer.post("/matching/export-notices", json=ivorian_export("CI-EX-0001", "MSCUCG0001", "10000000")), 201)  # conforme
        ok(officer.post("/matching/export-notices", json=ivorian_export("CI-EX-0002", "MSCUCG0002", "10000000")), 201)  # under-declared later
        ok(officer.post("/matching/export-notices", json=ivorian_export("CI-EX-0003", "MSCUCG0003", "5000000", days_ago=45)), 201)  # never imported
    cluster.wait_drained(30)

    with gh.client("broker") as broker:  # the import of CI-EX-0002 is lodged after its notice, at half the value
        under = ok(broker.post("/declarations", json=ghana_import("GH-IM-0002", "MSCUCG0002", "100000.00")), 201)["id"]
    with gh.client("officer") as officer:
        matched = ok(officer.post(f"/matching/declarations/{under}/match"))
        assert matched["outcome"] == "non_conforme" and matched["suggested_lane"] == "red"
        assert ok(officer.get(f"/declarations/{under}"))["lane"] == "red"
        assert ok(officer.get(f"/matching/declarations/{conforming}"))["outcome"] == "conforme"
    swept = gh.cli("matching", "sweep")
    assert swept.returncode == 0 and "1 export notice" in swept.stdout, swept.stdout + swept.stderr
    cluster.wait_drained(30)

    with ci.client("analyst") as analyst:
        sent = {n["export_reference"]: n for n in ok(analyst.get("/matching/results", params={"direction": "sent"}))["items"]}
        detail = ok(analyst.get(f"/matching/results/{sent['CI-EX-0002']['id']}"))
    assert {ref: n["outcome"] for ref, n in sent.items()} == {"CI-EX-0001": "conforme", "CI-EX-0002": "non_conforme", "CI-EX-0003": "non_retrouvee"}
    assert detail["value_gap_percent"] == "-50.0" and detail["currency"] == "GHS"
    assert detail["revenue_gap"] == "45740.00"  # duties and taxes of a 200,000 GHS car (91,480.00) minus those declared on 100,000 (45,740.00)
    assert [g["kind"] for g in detail["gaps"]] == ["value"] and detail["import_reference"].endswith(f"/{under}")


def test_a_transit_across_three_countries_discharges_and_releases_the_guarantee(cluster):
    gh, ci, ml = cluster.node("GH"), cluster.node("CI"), cluster.node("ML")
    registration = {
        "lrn": "GH-TR-3N-0001",
        "departure_office": "GH-TEM-PORT",
        "itinerary": ["CI-NOE-ROAD"],
        "destination_office": "ML-BKO-ROAD",
        "principal": {"id": "GH0012345T1", "name": "Sahel Transit Ltd", "country": "GH"},
        "guarantee": {"reference": "GRN-GH-2026-0042", "amount": {"amount": "150000.00", "currency": "GHS"}},
        "transport_means": {"mode_code": 3, "identification": "GT-4521-26", "nationality": "GH"},
        "seals": ["GHS778812"],
        "items": [{"sequence": 1, "hs_code": "100630", "description": "Milled rice, 25 kg bags", "origin_country": "TH", "gross_mass": "30150"}],
        "time_limit": (datetime.now(timezone.utc) + timedelta(days=5)).isoformat(),
    }
    with gh.client("officer") as officer:
        mrn = ok(officer.post("/transits", json=registration), 201)["mrn"]
        held = ok(officer.get("/transits/guarantees", params={"principal": "GH0012345T1"}))["items"]
    assert [(g["guarantee_reference"], g["held"], g["currency"]) for g in held] == [("GRN-GH-2026-0042", "150000", "GHS")]
    cluster.wait_drained(30)

    with ci.client("officer") as officer:
        assert ok(officer.get(f"/transits/{mrn}"))["role"] == "en_route"
        assert ok(officer.post(f"/transits/{mrn}/passage", json={"office_code": "CI-NOE-ROAD"}))["status"] == "in_transit"
    cluster.wait_drained(30)
    with ml.client("officer") as officer:
        assert ok(officer.get(f"/transits/{mrn}"))["status"] == "in_transit"  # the passage reached the destination too
        assert ok(officer.post(f"/transits/{mrn}/arrival", json={"seals_intact": True}))["status"] == "arrived"
    cluster.wait_drained(30)
    with gh.client("analyst") as analyst:
        assert ok(analyst.get(f"/transits/{mrn}"))["status"] == "arrived"
    with ml.client("officer") as officer:
        assert ok(officer.post(f"/transits/{mrn}/discharge", json={"remarks": "Scellés intacts"}))["status"] == "discharged"
    cluster.wait_drained(30)

    with gh.client("analyst", lang="fr") as analyst:
        movement = ok(analyst.get(f"/transits/{mrn}"))
        assert ok(analyst.get("/transits/guarantees", params={"principal": "GH0012345T1"}))["items"] == []
    assert movement["status_label"] == "apuré" and movement["guarantee_released_at"] is not None
    assert [(e["kind"], e["office_code"], e["source_node"]) for e in movement["events"]] == [
        ("registered", "GH-TEM-PORT", None),
        ("passage", "CI-NOE-ROAD", "CI-AVANCE"),
        ("arrival", "ML-BKO-ROAD", "ML-AVANCE"),
        ("discharge", "ML-BKO-ROAD", "ML-AVANCE"),
    ]
    guarantees = gh.cli("transit", "guarantees", "--json")
    assert guarantees.returncode == 0 and guarantees.stdout.strip() == ""
    shown = gh.cli("transit", "show", mrn, "--json")
    assert json.loads(shown.stdout)["status"] == "discharged"
