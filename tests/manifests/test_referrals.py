"""Pre-loading referrals: a carrier files its cargo report before loading; an analyst refers a bill
(request for information or screening, do not load); the carrier sees its own referrals only and
answers them; a do-not-load blocks the declarations of its bill until an analyst lifts it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from typer.testing import CliRunner

from avance.auth.model import SYSTEM, Principal, Role
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.kit.errors import Conflict
from avance.manifests import referrals
from avance.manifests import service as manifests_service
from avance.manifests.cli import manifests_app
from avance.manifests.model import CargoReport, ReferralAnswer, ReferralKind, ReferralLift, ReferralRequest, ReferralState
from avance.store.engine import write
from tests.support import TODAY, declaration, manifest

CARS, MEDICINES = "GRIM0123456", "GRIM0123457"
ANALYST = Principal(user_id=None, name="analyste", role=Role.ANALYST)


def _before_loading(**overrides) -> dict:
    loading = datetime.combine(TODAY + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    return manifest(place_of_loading="BEANR", loading_date=loading.isoformat(), loaded=False, **overrides)


def _cars(lrn: str = "DNL-1") -> dict:
    """A declaration of the car on bill CARS of ``manifest()``."""
    return declaration(lrn=lrn, transport_document_reference=CARS, manifest_reference="MAN-2026-0001")


def test_a_carrier_answers_its_referrals_and_a_do_not_load_blocks_lodging_until_lifted(carriers):
    api = carriers
    with api.client("line", lang="en") as line:
        filed = line.post("/manifests", json=_before_loading())
        assert filed.status_code == 201, filed.text
        manifest_id = filed.json()["id"]
        assert line.get(f"/manifests/{manifest_id}").json()["loaded"] is False
    with api.client("analyst", lang="en") as analyst:
        stop = analyst.post(f"/manifests/{manifest_id}/bills/{CARS}/referrals", json={"kind": "do_not_load", "reason": "Véhicule signalé volé"})
        assert stop.status_code == 201, stop.text
        assert stop.json()["state"] == "open" and stop.json()["blocks_lodging"] is True
        ask = analyst.post(f"/manifests/{manifest_id}/bills/{MEDICINES}/referrals", json={"kind": "request_for_information", "reason": "Nom et adresse du fabricant"})
        assert ask.status_code == 201 and ask.json()["blocks_lodging"] is False
        assert analyst.post(f"/manifests/{manifest_id}/bills/{MEDICINES}/referrals", json={"kind": "request_for_information", "reason": "Encore"}).status_code == 409
        assert analyst.post(f"/manifests/{manifest_id}/bills/NOSUCHBILL/referrals", json={"kind": "do_not_load", "reason": "x"}).status_code == 404
    stop_id, ask_id = stop.json()["id"], ask.json()["id"]

    with api.client("broker", lang="en") as broker:  # a declarant cannot lodge on a do-not-load bill
        refused = broker.post("/declarations", json=_cars())
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "referral.do_not_load" and CARS in refused.json()["detail"] and "lifted" in refused.json()["detail"]
        assert broker.get("/manifests/referrals").json() == {"items": [], "total": 0}  # nor see the referrals
        assert broker.post(f"/manifests/referrals/{ask_id}/answer", json={"information": "x"}).status_code == 403
    with api.client("broker", lang="fr") as broker:
        assert "non-chargement" in broker.post("/declarations", json=_cars("DNL-2")).json()["detail"]

    with api.client("other_line", lang="en") as other:  # another carrier sees none of them
        assert other.get("/manifests/referrals").json() == {"items": [], "total": 0}
        assert other.get(f"/manifests/referrals/{ask_id}").status_code == 404
        assert other.post(f"/manifests/referrals/{ask_id}/answer", json={"information": "x"}).status_code == 404
    with api.client("line", lang="en") as line:
        mine = line.get("/manifests/referrals").json()
        assert mine["total"] == 2 and {r["id"] for r in mine["items"]} == {stop_id, ask_id}
        assert line.get("/manifests/referrals", params={"kind": "do_not_load"}).json()["total"] == 1
        assert line.post(f"/manifests/referrals/{stop_id}/answer", json={"information": "Déjà à quai"}).json()["code"] == "referral.not_answerable"
        no_information = line.post(f"/manifests/referrals/{ask_id}/answer", json={"screening_result": "nothing_found"})
        assert no_information.status_code == 422 and no_information.json()["errors"][0]["pointer"] == "/information"
        answered = line.post(f"/manifests/referrals/{ask_id}/answer", json={"information": "Sanofi, Rue de Rivoli, Paris"})
        assert answered.status_code == 200 and answered.json()["state"] == "answered" and answered.json()["answer"] == {"information": "Sanofi, Rue de Rivoli, Paris"}
        assert line.post(f"/manifests/referrals/{ask_id}/answer", json={"information": "again"}).json()["code"] == "referral.not_open"
        assert line.post(f"/manifests/referrals/{stop_id}/lift", json={}).status_code == 403  # only customs lifts

    with api.client("analyst", lang="en") as analyst:
        lifted = analyst.post(f"/manifests/referrals/{stop_id}/lift", json={"note": "Faux signalement"})
        assert lifted.status_code == 200 and lifted.json()["state"] == "lifted" and lifted.json()["blocks_lodging"] is False
        assert analyst.get("/manifests/referrals", params={"state": "answered"}).json()["total"] == 1
    with api.client("broker", lang="en") as broker:
        assert broker.post("/declarations", json=_cars("DNL-3")).status_code == 201


def test_referrals_are_made_before_loading_and_an_open_one_expires_at_its_deadline(node):
    with write(node.engine) as conn:
        loaded = manifests_service.lodge(conn, node.context, CargoReport.model_validate(manifest(reference="MAN-LOADED")), SYSTEM).id
        early = manifests_service.lodge(conn, node.context, CargoReport.model_validate(_before_loading()), SYSTEM).id
    now = datetime.now(timezone.utc)
    with write(node.engine) as conn:
        try:
            referrals.refer(conn, loaded, CARS, ReferralRequest(kind=ReferralKind.DO_NOT_LOAD, reason="Trop tard"), ANALYST)
            raise AssertionError("a loaded report was referred")
        except Conflict as exc:
            assert exc.code == "referral.already_loaded"
        screening = referrals.refer(conn, early, MEDICINES, ReferralRequest(kind=ReferralKind.REQUEST_FOR_SCREENING, reason="Radioscopie", deadline=now + timedelta(hours=2)), ANALYST, now=now)
        stop = referrals.refer(conn, early, CARS, ReferralRequest(kind=ReferralKind.DO_NOT_LOAD, reason="Arme signalée", deadline=now + timedelta(hours=2)), ANALYST, now=now)
    later = now + timedelta(hours=3)
    carrier = Principal(user_id=None, name="line", role=Role.CARRIER, party_id="SN0055555C1")
    with node.engine.connect() as conn:
        views, total = referrals.search(conn, carrier, now=later)
        assert total == 2 and {v["state"] for v in views} == {"expired"}
        assert referrals.search(conn, carrier, state=ReferralState.EXPIRED, now=later)[1] == 2
    with write(node.engine) as conn:
        try:
            referrals.answer(conn, screening["id"], ReferralAnswer(screening_result="nothing_found"), carrier, now=later)
            raise AssertionError("an expired referral was answered")
        except Conflict as exc:
            assert exc.code == "referral.not_open" and "expired" in exc.message("en")
    # an expired do-not-load still blocks, in a bulk import too, until it is lifted
    with write(node.engine) as conn:
        outcome = service.lodge_batch(conn, node.context, [(GoodsDeclaration.model_validate(_cars("DNL-B1")), TODAY)], SYSTEM)
    assert outcome.ids == [None] and outcome.issues[0][0].code == "referral.do_not_load"
    with write(node.engine) as conn:
        referrals.lift(conn, stop["id"], ReferralLift(), ANALYST)
        outcome = service.lodge_batch(conn, node.context, [(GoodsDeclaration.model_validate(_cars("DNL-B1")), TODAY)], SYSTEM)
    assert outcome.ids[0] is not None


def test_an_analyst_refers_lists_and_lifts_from_the_command_line(cli_node):
    with write(cli_node.engine) as conn:
        manifests_service.lodge(conn, cli_node.context, CargoReport.model_validate(_before_loading()), SYSTEM)
    runner = CliRunner()
    made = runner.invoke(manifests_app, ["refer", "MAN-2026-0001", CARS, "--kind", "do_not_load", "--reason", "Arme signalée", "--json", "--author", "a.diop"])
    assert made.exit_code == 0, made.output
    referral = json.loads(made.output)
    assert (referral["kind"], referral["state"], referral["referred_by"]) == ("do_not_load", "open", "a.diop")
    listed = runner.invoke(manifests_app, ["referrals", "--state", "open"])
    assert listed.exit_code == 0 and CARS in listed.output and "do not load" in listed.output
    lifted = runner.invoke(manifests_app, ["lift", str(referral["id"]), "--note", "Faux signalement"])
    assert lifted.exit_code == 0 and "lifted" in lifted.output
    assert "No referrals." in runner.invoke(manifests_app, ["referrals", "--state", "open"]).output
    bad = runner.invoke(manifests_app, ["refer", "MAN-2026-0001", CARS, "--kind", "do_not_load", "--reason", "x", "--deadline", "tomorrow"])
    assert bad.exit_code == 2 and "Unreadable deadline" in bad.output
