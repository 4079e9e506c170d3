"""The write-off report (apurement du manifeste): bills not declared some days after arrival (days
set per office), bills over- or under-declared in packages or weight, declarations whose importer
is not the bill's consignee; for officers on the API and the command line, and raised as alerts
once each."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from typer.testing import CliRunner

from avance.auth.model import SYSTEM
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.kit.errors import ValidationFailed
from avance.manifests import service as manifests_service
from avance.manifests import writeoff
from avance.manifests.cli import manifests_app
from avance.manifests.model import CargoReport
from avance.store.engine import write
from tests.support import declaration, manifest

REFERENCE = "MAN-2026-0300"


def _bill(reference: str, packages: int, mass: str, consignee: str = "SN0098765B2") -> dict:
    return {
        "transport_document_reference": reference,
        "consignee": {"id": consignee, "name": "Destinataire"},
        "description": "Pneumatiques",
        "package_quantity": packages,
        "package_type": "CT",
        "gross_mass": mass,
    }


def _declared(lrn: str, bill: str, packages: int, mass: str, *, cited: bool = True) -> GoodsDeclaration:
    fields = {"transport_document_reference": bill, "containers": [], "total_package_quantity": packages}
    if cited:
        fields["manifest_reference"] = REFERENCE
    doc = declaration(lrn=lrn, **fields)
    doc["goods_items"][0].update(hs_code="4011100000", description="Pneumatiques neufs", net_mass=mass, gross_mass=mass, packages=[{"quantity": packages, "type_code": "CT"}], container_ids=[])
    return GoodsDeclaration.model_validate(doc)


def _cargo(node) -> datetime:
    """A cargo report of five bills and what was declared against them; its estimated arrival.

    - WOA: 10 packages, 4 declared (under-declared once due);
    - WOB: nothing declared (not declared once due);
    - WOC: 8 packages declared before the report, which carries 6 (over-declared at once);
    - WOD: declared in full by an importer who is not its named consignee;
    - WOE: declared in full: nothing to say.
    """
    with write(node.engine) as conn:
        service.lodge(conn, node.context, _declared("WO-C", "WOC0000001", 8, "800", cited=False), SYSTEM)
        service.lodge(conn, node.context, _declared("WO-D", "WOD0000001", 3, "300", cited=False), SYSTEM)
        report = manifest(reference=REFERENCE)
        report["bills_of_lading"] = [
            _bill("WOA0000001", 10, "1000"),
            _bill("WOB0000001", 5, "500"),
            _bill("WOC0000001", 6, "1000"),
            _bill("WOD0000001", 3, "300", consignee="SN0011111X1"),
            _bill("WOE0000001", 2, "200"),
        ]
        lodged = CargoReport.model_validate(report)
        manifests_service.lodge(conn, node.context, lodged, SYSTEM)
        service.lodge(conn, node.context, _declared("WO-A", "WOA0000001", 4, "400"), SYSTEM)
        service.lodge(conn, node.context, _declared("WO-E", "WOE0000001", 2, "200"), SYSTEM)
    return lodged.estimated_arrival


def _found(node, at: datetime) -> set[tuple[str, str]]:
    with node.engine.connect() as conn:
        return {(f["transport_document_reference"], f["kind"]) for f in writeoff.compute(conn, now=at)}


def test_findings_follow_the_days_set_per_office_and_are_raised_as_alerts_once(node):
    arrival = _cargo(node)
    at_once = {("WOC0000001", "over_declared"), ("WOD0000001", "consignee_mismatch")}
    assert _found(node, arrival + timedelta(days=3)) == at_once  # the default: 7 days after arrival
    assert _found(node, arrival + timedelta(days=7)) == at_once | {("WOA0000001", "under_declared"), ("WOB0000001", "not_declared")}
    with write(node.engine) as conn:
        writeoff.set_write_off_days(conn, node.context, 30)  # the node
        writeoff.set_write_off_days(conn, node.context, 2, "SN-DKR-PORT")  # the office's own wins
        try:
            writeoff.set_write_off_days(conn, node.context, 2, "ZZ-NOWHERE")
            raise AssertionError("an unknown office was given days")
        except ValidationFailed as exc:
            assert exc.issues[0].code == "office.unknown"
    assert _found(node, arrival + timedelta(days=2)) == _found(node, arrival + timedelta(days=7))

    with node.engine.connect() as conn:
        [under] = [f for f in writeoff.compute(conn, now=arrival + timedelta(days=3)) if f["kind"] == "under_declared"]
    assert (under["packages_on_bill"], under["packages_declared"], under["gross_mass_on_bill"], under["gross_mass_declared"], under["declarations"]) == (10, 4, "1000", "400", 1)
    with write(node.engine) as conn:
        raised = writeoff.raise_alerts(conn, now=arrival + timedelta(days=3))
        assert len(raised) == 4
        assert writeoff.raise_alerts(conn, now=arrival + timedelta(days=4)) == []  # once per bill and kind
        assert all(f["alerted_at"] is not None for f in writeoff.compute(conn, now=arrival + timedelta(days=4)))


def test_officers_read_the_report_on_the_api_and_declarants_may_not(api):
    _cargo(api.node)  # arrives in a week: only what is wrong at once is reported today
    with api.client("officer", lang="fr") as officer:
        report = officer.get("/manifests/write-off")
        assert report.status_code == 200, report.text
        items = report.json()["items"]
        assert {(i["transport_document_reference"], i["kind"], i["label"]) for i in items} == {
            ("WOC0000001", "over_declared", "sur-déclaré"),
            ("WOD0000001", "consignee_mismatch", "destinataire discordant"),
        }
        [mismatch] = [i for i in items if i["kind"] == "consignee_mismatch"]
        assert (mismatch["consignee_id"], mismatch["importer_ids"]) == ("SN0011111X1", ["SN0098765B2"])
        only = officer.get("/manifests/write-off", params={"kind": "over_declared", "office": "SN-DKR-PORT"}).json()
        assert [(i["transport_document_reference"], i["packages_on_bill"], i["packages_declared"]) for i in only["items"]] == [("WOC0000001", 6, 8)]
        assert officer.get("/manifests/write-off", params={"office": "SN-ZIG-PORT"}).json()["total"] == 0
    with api.client("broker") as broker:
        assert broker.get("/manifests/write-off").status_code == 403
    with api.client("carrier") as carrier:
        assert carrier.get("/manifests/write-off").status_code == 403


def test_the_report_and_the_days_on_the_command_line(cli_node):
    _cargo(cli_node)
    runner = CliRunner()
    days = runner.invoke(manifests_app, ["write-off-days", "--office", "SN-DKR-PORT", "--days", "3"])
    assert days.exit_code == 0, days.output
    assert "7 day(s)" in days.output and "SN-DKR-PORT: 3 day(s)" in days.output
    shown = runner.invoke(manifests_app, ["write-off", "--raise-alerts", "--json"])
    assert shown.exit_code == 0, shown.output
    lines = [json.loads(line) for line in shown.output.splitlines()]
    assert {(f["transport_document_reference"], f["kind"]) for f in lines} == {("WOC0000001", "over_declared"), ("WOD0000001", "consignee_mismatch")}
    assert all(f["alerted_at"] for f in lines)
    table = runner.invoke(manifests_app, ["write-off", "--kind", "consignee_mismatch"])
    assert table.exit_code == 0 and "WOD0000001" in table.output and "WOC0000001" not in table.output and "1 finding(s)." in table.output
    assert "Nothing to report" in runner.invoke(manifests_app, ["write-off", "--manifest", "MAN-NONE"]).output
    bad = runner.invoke(manifests_app, ["write-off", "--arrived-from", "2026-02-30"])
    assert bad.exit_code == 2
