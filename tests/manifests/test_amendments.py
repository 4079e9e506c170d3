"""A carrier amends a cargo report by sending it again under the same reference: a new version
with what changed, instead of a refusal as a duplicate; the same report sent again stores
nothing; the bills, and so their write-off balances, follow the latest version."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from avance.auth.model import SYSTEM
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.kit.errors import Conflict
from avance.manifests import service as manifests_service
from avance.manifests.model import CargoReport
from avance.store.engine import write
from tests.support import declaration, manifest

BILL = "MSCU1234567"


def _amended() -> dict:
    """``manifest()`` amended: one more car on the first bill, the medicines' bill withdrawn, a new bill of rice, a new voyage number."""
    doc = manifest(voyage_number="GD0427")
    doc["bills_of_lading"][0].update(package_quantity=2, gross_mass="2600", description="2 used cars")
    doc["bills_of_lading"][1] = {
        "transport_document_reference": "GRIM0999999",
        "consignee": {"id": "SN0098765B2", "name": "Auto Import Dakar SA"},
        "description": "Riz brisé",
        "package_quantity": 400,
        "package_type": "BG",
        "gross_mass": "20000",
    }
    return doc


def test_an_amendment_is_a_new_version_with_what_changed_and_a_resend_stores_nothing(api):
    with api.client("carrier", lang="en") as carrier:
        first = carrier.post("/manifests", json=manifest())
        assert first.status_code == 201, first.text
        assert first.json()["version"] == 1 and "changes" not in first.json()
        manifest_id = first.json()["id"]
        again = carrier.post("/manifests", json=manifest())
        assert (again.status_code, again.json()["id"], again.json()["version"]) == (200, manifest_id, 1)

        amended = carrier.post("/manifests", json=_amended())
        assert amended.status_code == 201, amended.text
        body = amended.json()
        assert (body["id"], body["version"]) == (manifest_id, 2)
        assert body["changes"]["bills_added"] == ["GRIM0999999"]
        assert body["changes"]["bills_removed"] == ["GRIM0123457"]
        assert body["changes"]["report"] == {"voyage_number": {"from": "GD0426", "to": "GD0427"}}
        [changed] = body["changes"]["bills_changed"]
        assert changed["transport_document_reference"] == "GRIM0123456"
        assert changed["fields"]["package_quantity"] == {"from": 1, "to": 2}
        assert changed["fields"]["gross_mass"] == {"from": "1300", "to": "2600"}
        assert set(changed["fields"]) == {"package_quantity", "gross_mass", "description"}
        resent = carrier.post("/manifests", json=_amended())  # a retry of the amendment
        assert (resent.status_code, resent.json()["version"]) == (200, 2)

        shown = carrier.get(f"/manifests/{manifest_id}").json()
        assert shown["version"] == 2 and shown["manifest"]["voyage_number"] == "GD0427" and shown["amended_at"] >= shown["lodged_at"]
        history = carrier.get(f"/manifests/{manifest_id}/versions").json()
        assert [(v["version"], v["bills_of_lading"]) for v in history] == [(1, 2), (2, 2)]
        assert "changes" not in history[0] and history[1]["changes"] == body["changes"]
        assert carrier.get(f"/manifests/{manifest_id}/versions/1").json()["voyage_number"] == "GD0426"
        assert carrier.get(f"/manifests/{manifest_id}/versions/3").status_code == 404

    with api.client("broker", lang="en") as broker:  # another party: neither the report nor its history
        assert broker.get(f"/manifests/{manifest_id}/versions").status_code == 404
        stolen = broker.post("/manifests", json=manifest(carrier="SN0012345A7"))  # the same reference from another carrier
        assert stolen.status_code == 422 and stolen.json()["errors"][0]["code"] == "manifest.duplicate"
    with api.node.engine.connect() as conn:  # the bills are the latest version's: the amendment's rice can be declared against it
        assert set(manifests_service.bills_of(conn, "MAN-2026-0001")) == {"GRIM0123456", "GRIM0999999"}


def _report(packages: int, mass: str, *, with_bill: bool = True) -> CargoReport:
    doc = manifest(reference="MAN-2026-0200")
    doc["bills_of_lading"][0].update(transport_document_reference=BILL, package_quantity=packages, package_type="CT", gross_mass=mass, description="Pneumatiques", containers=[])
    if not with_bill:
        doc["bills_of_lading"] = doc["bills_of_lading"][1:]
    return CargoReport.model_validate(doc)


def _part(lrn: str, packages: int, mass: str, *, cited: bool = True) -> GoodsDeclaration:
    fields = {"transport_document_reference": BILL, "split_consignment": True, "containers": [], "total_package_quantity": packages}
    if cited:
        fields["manifest_reference"] = "MAN-2026-0200"
    doc = declaration(lrn=lrn, **fields)
    doc["goods_items"][0].update(hs_code="4011100000", description="Pneumatiques neufs", net_mass=mass, gross_mass=mass, packages=[{"quantity": packages, "type_code": "CT"}], container_ids=[])
    return GoodsDeclaration.model_validate(doc)


def _lodge(node, d: GoodsDeclaration):
    with write(node.engine) as conn:
        return service.lodge(conn, node.context, d, SYSTEM)


def _file(node, report: CargoReport, at: datetime | None = None):
    with write(node.engine) as conn:
        return manifests_service.lodge(conn, node.context, report, SYSTEM, now=at)


def test_the_write_off_balance_follows_the_latest_version(node):
    _file(node, _report(10, "1000"))
    _lodge(node, _part("AM-1", 6, "600"))
    cut = _file(node, _report(5, "500"), datetime.now(timezone.utc) + timedelta(minutes=1))  # the carrier lands only 5 packages
    assert (cut.version, cut.replayed) == (2, False)
    with node.engine.connect() as conn:
        balance = manifests_service.balance(conn, "MAN-2026-0200", BILL)
        assert (balance.packages_on_bill, balance.packages_written_off) == (5, 6)
        [excess] = manifests_service.discrepancies(conn, SYSTEM)[0]
    assert (excess["transport_document_reference"], excess["packages_on_bill"], excess["packages_declared"]) == (BILL, 5, 6)
    with pytest.raises(Conflict) as refused:
        _lodge(node, _part("AM-2", 1, "1"))
    assert refused.value.code == "consignment.exceeds_balance"

    _file(node, _report(12, "1200"))  # amended upwards: 6 packages and 600 kg left
    assert not _lodge(node, _part("AM-3", 6, "600")).replayed
    with node.engine.connect() as conn:
        balance = manifests_service.balance(conn, "MAN-2026-0200", BILL)
    assert (balance.packages_on_bill, balance.packages_written_off, balance.gross_mass_written_off) == (12, 12, 1200)


def test_a_bill_withdrawn_by_an_amendment_frees_its_declarations_and_takes_them_back_when_listed_again(node):
    _file(node, _report(10, "1000"))
    _lodge(node, _part("WD-1", 4, "400"))
    withdrawn = _file(node, _report(10, "1000", with_bill=False))
    assert withdrawn.changes["bills_removed"] == [BILL]
    with node.engine.connect() as conn:
        assert manifests_service.balance(conn, "MAN-2026-0200", BILL) is None
    listed = _file(node, _report(4, "300"))  # listed again, with less mass than was declared
    assert (listed.version, listed.changes["bills_added"]) == (3, [BILL])
    with node.engine.connect() as conn:
        balance = manifests_service.balance(conn, "MAN-2026-0200", BILL)
        assert (balance.packages_written_off, balance.gross_mass_written_off) == (4, 400)  # the earlier declaration writes it off again
        [excess] = manifests_service.discrepancies(conn, SYSTEM)[0]
    assert (excess["gross_mass_on_bill"], excess["gross_mass_declared"]) == ("300", "400")
