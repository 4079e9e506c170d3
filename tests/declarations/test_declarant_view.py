"""What a declarant (broker) sees of its own declarations through the API: its status, what is
due and what blocks release, never the risk score, the selectivity criteria, the officers' names
or their free-text findings (issue 10, item 6). Over real HTTP."""

from __future__ import annotations

from typing import Any

from avance.declarations import service
from avance.declarations.assessment import Lane, Reason
from avance.store.engine import write
from tests.support import declaration

FINDINGS = "Facture minorée, vérifiée avec le fournisseur lyonnais"


def _controlled(api: Any) -> dict[str, Any]:
    """A declaration lodged by the broker, its lane raised by mirror control with a reason, then
    arrived, controlled with free-text findings and extra duty, paid and released by an officer."""
    with api.client("broker") as broker:
        lodged = broker.post("/declarations", json=declaration(lrn="VIEW-1", transport_document_reference="BL-VIEW-1")).json()
    url = lodged["location"]
    with write(api.node.engine) as conn:
        service.raise_lane(conn, lodged["id"], Lane.RED, [Reason("mirror.test", text={"fr": "Écart miroir secret", "en": "Secret mirror gap"})], actor="mirror-control", source="mirror_control")
    with api.client("officer") as officer:
        assert officer.post(f"{url}/arrival", json={}).status_code == 200
        found = officer.post(f"{url}/inspection-result", json={"fraud_found": True, "fraud_kinds": ["undervaluation"], "extra_duty": "250000", "findings": FINDINGS})
        assert found.status_code == 200, found.text
        due = found.json()["amount_outstanding"]
        assert officer.post(f"{url}/payment", json={"amount": due, "receipt": "Q-VIEW-1"}).status_code == 200
    with api.client("officer2") as other:  # who controlled a red-lane declaration does not release it
        assert other.post(f"{url}/release").status_code == 200
    return lodged


def test_a_declarant_sees_status_and_money_but_no_score_criteria_officer_or_findings(api):
    lodged = _controlled(api)
    with api.client("broker", lang="fr") as broker:
        answer = broker.get(lodged["location"])
    assert answer.status_code == 200
    view = answer.json()
    assert view["status"] == "released" and view["lane"] == "red"
    assert view["amount_outstanding"] == "0" and view["amount_due"] is not None
    for hidden in ("score", "reasons", "assessor", "mirror_control"):
        assert hidden not in view
    text = answer.text
    assert FINDINGS not in text  # the control's free text
    assert "Écart miroir secret" not in text and "mirror.test" not in text  # a criterion that hit
    assert '"officer"' not in text and "mirror-control" not in text  # who did what on the customs side
    kinds = [e["kind"] for e in view["events"]]
    assert kinds.count("lane_assigned") == 2 and "inspected" in kinds and "supplement" in kinds
    for event in view["events"]:
        assert event["actor"] is None or event["kind"] == "lodged"
        assert "score" not in event["data"] and "draw" not in event["data"] and "reasons" not in event["data"]
    inspected = next(e for e in view["events"] if e["kind"] == "inspected")
    assert inspected["data"] == {"fraud_found": True, "fraud_kinds": ["undervaluation"], "extra_duty": "250000"}
    supplement = next(e for e in view["events"] if e["kind"] == "supplement")
    assert supplement["data"]["amount"] == "250000" and "reason" not in supplement["data"]


def test_staff_still_see_the_score_the_criteria_and_the_findings(api):
    lodged = _controlled(api)
    with api.client("officer") as officer:
        view = officer.get(lodged["location"]).json()
    assert view["score"] is not None and view["reasons"]
    inspected = next(e for e in view["events"] if e["kind"] == "inspected")
    assert inspected["data"]["findings"] == FINDINGS and inspected["actor"] == "officer"


def test_a_declarants_list_has_no_score(api):
    _controlled(api)
    with api.client("broker") as broker:
        page = broker.get("/declarations").json()
    assert page["total"] == 1 and "score" not in page["items"][0]
