"""One consignment, declared once: a broker cannot lodge the same bill of lading again and again
until one lodging lands in the green lane (lane shopping), nor clear it once more after release.

What "the same goods" means: the same transport document reference, with a goods item of the
same HS heading (first four digits) or a container in common. A declarant who clears a bill in
several parts says so (``split_consignment``); each part then carries a signal the assessor sees.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal

import pytest

from avance.auth.model import SYSTEM
from avance.declarations import service
from avance.declarations.assessment import AssessmentInput, ItemFacts, Lane
from avance.declarations.model import GoodsDeclaration
from avance.imports.runner import run_import
from avance.kit.errors import Conflict, ValidationFailed
from avance.manifests import service as manifests_service
from avance.manifests.model import CargoReport
from avance.risk.profiles.rules import Conditions, Rule, RuleAssessor, RuleSet
from avance.store.engine import write
from tests.support import declaration as sample, manifest

BILL = "GRIM0123456"  # the first bill of manifest(): one used car in container CSQU3054383


def declaration(lrn: str, **overrides):
    """The sample used car, on bill GRIM0123456 whatever its LRN (the same consignment)."""
    return sample(lrn=lrn, **({"transport_document_reference": BILL} | overrides))


def _lodge(node, doc):
    with write(node.engine) as conn:
        return service.lodge(conn, node.context, GoodsDeclaration.model_validate(doc), SYSTEM)


def _report(node, doc):
    with write(node.engine) as conn:
        return manifests_service.lodge(conn, node.context, CargoReport.model_validate(doc), SYSTEM)[0]


def _reason_codes(node, declaration_id):
    with node.engine.connect() as conn:
        return [r["code"] for r in service.get(conn, declaration_id, SYSTEM).row["reasons"]]


def _release(node, declaration_id):
    with write(node.engine) as conn:
        service.record_arrival(conn, declaration_id, SYSTEM)
        service.record_inspection(conn, declaration_id, SYSTEM, fraud_found=False, fraud_kinds=[], extra_duty=Decimal(0), findings=None)
        duty = service.get(conn, declaration_id, SYSTEM).row["duty_total"]
        service.record_payment(conn, declaration_id, SYSTEM, amount=duty, receipt="Q-1")
        life = service.record_release(conn, declaration_id, SYSTEM)
    assert life.status.value == "released"


def test_six_lodgings_of_one_bill_leave_one_declaration_and_tell_nothing_of_the_first(api):
    """Lane shopping: the same bill, goods and container under six LRNs. Only the first stands;
    the others get a 409 naming the bill only (never the other LRN, declarant or lane)."""
    with api.client("broker", lang="en") as broker:
        first = broker.post("/declarations", json=declaration(lrn="SHOP-1"))
        assert first.status_code == 201, first.text
        for n in range(2, 7):
            again = broker.post("/declarations", json=declaration(lrn=f"SHOP-{n}"))
            assert again.status_code == 409, again.text
            problem = again.json()
            assert problem["code"] == "consignment.already_declared"
            assert "GRIM0123456" in problem["detail"]
            assert "SHOP-1" not in again.text and first.json()["lane"] not in problem["detail"]
        listed = broker.get("/declarations").json()
        assert listed["total"] == 1
    with api.client("other_broker", lang="fr") as other:
        theirs = other.post("/declarations", json=declaration(lrn="SHOP-X", declarant="SN0077777D3"))
        assert theirs.status_code == 409
        assert "SN0012345A7" not in theirs.text and "SHOP-1" not in theirs.text


def test_resending_the_very_same_document_is_still_a_safe_retry(node):
    first = _lodge(node, declaration(lrn="RETRY-1"))
    again = _lodge(node, declaration(lrn="RETRY-1"))
    assert again.replayed and again.id == first.id


def test_other_goods_on_the_same_bill_are_another_consignment_line(node):
    """A different HS heading and no container in common: not the same goods."""
    _lodge(node, declaration(lrn="OTHER-1"))
    other = declaration(lrn="OTHER-2", containers=[{"id": "MSKU9070323"}])
    other["goods_items"][0].update(hs_code="8471300000", description="Ordinateurs portables", container_ids=["MSKU9070323"])
    assert not _lodge(node, other).replayed


def test_the_same_bill_cannot_be_declared_again_after_release(node):
    first = _lodge(node, declaration(lrn="REL-1"))
    _release(node, first.id)
    with pytest.raises(Conflict) as refused:
        _lodge(node, declaration(lrn="REL-2"))
    assert refused.value.code == "consignment.already_declared"


def test_a_rejected_declaration_frees_its_bill_for_a_new_declaration(node):
    first = _lodge(node, declaration(lrn="REJ-1"))
    with pytest.raises(Conflict):
        _lodge(node, declaration(lrn="REJ-2"))
    with write(node.engine) as conn:
        service.record_rejection(conn, first.id, SYSTEM, reason="wrong importer")
    assert not _lodge(node, declaration(lrn="REJ-2")).replayed


def test_split_parts_are_accepted_and_each_carries_the_signal_and_a_reason(node):
    first = _lodge(node, declaration(lrn="SPLIT-1", split_consignment=True))
    second = _lodge(node, declaration(lrn="SPLIT-2", split_consignment=True))
    for lodged in (first, second):
        assert "reason.signal.split_consignment" in _reason_codes(node, lodged.id)
    with node.engine.connect() as conn:
        texts = [r["text"] for r in service.get(conn, second.id, SYSTEM).row["reasons"] if r["code"] == "reason.signal.split_consignment"][0]
    assert "GRIM0123456" in texts["en"] and "GRIM0123456" in texts["fr"] and texts["en"] != texts["fr"]


def test_the_bill_consignee_and_the_declared_importer_must_agree(node):
    _report(node, manifest())
    doc = declaration(lrn="CONS-1", manifest_reference="MAN-2026-0001", importer={"id": "SN0011111X1", "name": "Autre Importateur SA", "country": "SN"})
    with pytest.raises(ValidationFailed) as refused:
        _lodge(node, doc)
    assert [(i.pointer, i.code) for i in refused.value.issues] == [("/importer/id", "consignment.consignee_mismatch")]


def test_a_bill_to_order_lets_another_importer_declare_with_a_signal(node):
    report = manifest()
    report["bills_of_lading"][0]["consignee"] = {"name": "TO THE ORDER OF SOCIETE GENERALE SENEGAL"}
    _report(node, report)
    doc = declaration(lrn="ORDER-1", manifest_reference="MAN-2026-0001", importer={"id": "SN0011111X1", "name": "Autre Importateur SA", "country": "SN"})
    lodged = _lodge(node, doc)
    assert "reason.signal.consignee_differs" in _reason_codes(node, lodged.id)


def test_bulk_import_keeps_one_declaration_per_consignment_and_rejects_the_rest_with_the_reason(node):
    docs = [GoodsDeclaration.model_validate(declaration(lrn=f"BULK-{n}")) for n in range(6)]
    docs.append(GoodsDeclaration.model_validate(declaration(lrn="BULK-OTHER", transport_document_reference="MSCU7654321")))
    with write(node.engine) as conn:
        outcome = service.lodge_batch(conn, node.context, [(d, date.today()) for d in docs], SYSTEM)
    assert outcome.ids[0] is not None and outcome.ids[6] is not None
    assert outcome.ids[1:6] == [None] * 5
    assert all(issues == outcome.issues[1] for issues in outcome.issues[1:6])
    assert [(i.pointer, i.code) for i in outcome.issues[1]] == [("/transport_document_reference", "consignment.already_declared")]
    # and against what is already stored
    with write(node.engine) as conn:
        again = service.lodge_batch(conn, node.context, [(GoodsDeclaration.model_validate(declaration(lrn="BULK-LATE")), date.today())], SYSTEM)
    assert again.ids == [None] and again.issues[0][0].code == "consignment.already_declared"


def _subject(signals: frozenset[str]) -> AssessmentInput:
    d = GoodsDeclaration.model_validate(declaration(lrn="SIG-1", split_consignment=True))
    return AssessmentInput(
        declaration=d,
        country="SN",
        currency="XOF",
        registration_date=date.today(),
        items=(ItemFacts(Decimal(1000), Decimal(0)),),
        duty_total=Decimal(0),
        customs_value=Decimal(1000),
        signals=signals,
    )


def test_a_selectivity_profile_can_target_split_consignments():
    rule = Rule(id="P-SPLIT", description={"fr": "Envoi fractionné", "en": "Split consignment"}, when=Conditions(signal=["split_consignment"]), lane=Lane.YELLOW)
    assessor = RuleAssessor(RuleSet(rules=[rule]))
    hit = assessor.assess(_subject(frozenset({"split_consignment"})))
    assert hit.lane is Lane.YELLOW
    assert {r.code for r in hit.reasons} >= {"reason.rule_hit", "reason.signal.split_consignment"}
    miss = assessor.assess(_subject(frozenset()))
    assert miss.lane is Lane.GREEN and all(not r.code.startswith("reason.signal.") for r in miss.reasons)


def test_a_bulk_import_file_reports_each_second_declaration_of_a_consignment_in_its_rejects(node, tmp_path):
    """The importer (worker processes, then one write transaction per batch, in the order of the
    file) refuses the repeats of a bill like a single lodging does, and lists them with their line
    and reason. The first line of the consignment is the one kept, even when its batch takes the
    longest to check (here a declaration of 300 items)."""
    source = tmp_path / "extract.jsonl"
    first = declaration(lrn="FILE-0")
    item = first["goods_items"][0]
    first["goods_items"] = [item | {"sequence": n, "invoice_amount": "40.00", "net_mass": "4", "gross_mass": "4"} for n in range(1, 301)]
    first |= {"goods_item_quantity": 300, "total_package_quantity": 300}
    lines = [first, sample(lrn="FILE-OWN-A")] + [declaration(lrn=f"FILE-{n}") for n in range(1, 4)] + [sample(lrn="FILE-OWN-B")]
    source.write_text("".join(json.dumps({"declaration": doc}) + "\n" for doc in lines))
    report = run_import(node, source, batch_size=2, workers=2, rejects_path=tmp_path / "rejects.csv", lang="en")
    assert (report.accepted, report.rejected) == (3, 3)
    with (tmp_path / "rejects.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((row["line"], row["code"]) for row in rows) == [("3", "consignment.already_declared"), ("4", "consignment.already_declared"), ("5", "consignment.already_declared")]
    assert all("FILE-0" not in row["reason"] and BILL in row["reason"] for row in rows)
