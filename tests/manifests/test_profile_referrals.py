"""Selectivity profiles that refer bills of lading: an analyst writes a cargo profile (a ``cargo``
block of bill conditions and a ``refer`` action); every cargo report lodged or amended afterwards
is screened, and each bill it matches gets the referral (once per bill and profile version), in
the lodging's transaction. Declaration profiles and cargo profiles never mix."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from avance.auth.model import Principal, Role
from avance.declarations.assessment import AssessmentInput, ItemFacts
from avance.declarations.model import GoodsDeclaration
from avance.formats import registry
from avance.formats.documents import Document
from avance.kit.errors import ValidationFailed
from avance.manifests import service as manifests_service
from avance.manifests.model import CargoReport
from avance.manifests.tables import cargo_referrals
from avance.risk.profiles import service as profiles
from avance.risk.profiles.rules import RuleAssessor, RuleSet, cargo_matches
from avance.risk.profiles.tables import risk_profile_hits
from avance.store.engine import write
from tests.support import TODAY, declaration, manifest

CARS, MEDICINES = "GRIM0123456", "GRIM0123457"
ANALYST = Principal(user_id=None, name="analyste", role=Role.ANALYST)
DESCRIPTION = {"fr": "Médicaments : contrefaçons signalées au départ", "en": "Medicines: counterfeits reported at departure"}


def _before_loading(**overrides) -> dict:
    loading = datetime.combine(TODAY + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    return manifest(**{"place_of_loading": "BEANR", "loading_date": loading.isoformat(), "loaded": False, **overrides})


def _profile(cargo: dict, kind: str = "request_for_screening", **extra) -> dict:
    return {"description": DESCRIPTION, "cargo": cargo, "refer": {"kind": kind, **extra}}


def _rule(profile_id: str, document: dict):
    return profiles.parse_rule({"id": profile_id, **document})


def _referrals(api) -> list[dict]:
    with api.client("analyst", lang="en") as analyst:
        return analyst.get("/manifests/referrals").json()["items"]


# --- over HTTP ---------------------------------------------------------------------------------


def test_a_cargo_profile_refers_the_matching_bill_of_a_later_cargo_report_once_per_profile_version(carriers):
    api = carriers
    with api.client("analyst", lang="en") as analyst:
        saved = analyst.put("/risk/profiles/C-PHARMA-SCREEN", json=_profile({"description_keywords": ["médicaments"], "not_loaded": True}, deadline_hours=12))
        assert saved.status_code == 201, saved.text
        assert saved.json()["cargo"] == {"description_keywords": ["médicaments"], "not_loaded": True}
        assert saved.json()["refer"] == {"kind": "request_for_screening", "deadline_hours": 12}

    with api.client("line", lang="en") as line:
        before = datetime.now(timezone.utc)
        filed = line.post("/manifests", json=_before_loading())
        assert filed.status_code == 201, filed.text
        raised = filed.json()["referrals"]
        # "Medicaments" on the bill: the keyword matches without its accent; the car is not referred
        assert [(r["transport_document_reference"], r["kind"], r["blocks_lodging"]) for r in raised] == [(MEDICINES, "request_for_screening", False)]
        deadline = datetime.fromisoformat(raised[0]["deadline"])
        assert before + timedelta(hours=12) <= deadline <= datetime.now(timezone.utc) + timedelta(hours=12)
        referral = line.get(raised[0]["location"]).json()  # the carrier reads it, and answers it
        assert referral["state"] == "open" and referral["referred_by"] == "profile C-PHARMA-SCREEN v1"
        assert referral["reason"] == f"Profil de sélectivité : {DESCRIPTION['fr']}\nSelectivity profile: {DESCRIPTION['en']}"
        assert line.post(raised[0]["location"] + "/answer", json={"screening_result": "nothing_found"}).status_code == 200

        resent = line.post("/manifests", json=_before_loading())  # a retry: nothing stored, nothing raised
        assert resent.status_code == 200 and "referrals" not in resent.json()
        amended = line.post("/manifests", json=_before_loading(voyage_number="GD0427"))  # the bill unchanged
        assert amended.status_code == 201 and amended.json()["version"] == 2 and "referrals" not in amended.json()
    with api.client("analyst", lang="en") as analyst:
        assert analyst.post(raised[0]["location"] + "/lift", json={"note": "Rien trouvé"}).status_code == 200
    with api.client("line", lang="en") as line:  # lifted: the same profile version still does not refer it again
        assert "referrals" not in line.post("/manifests", json=_before_loading(voyage_number="GD0428")).json()
    assert len(_referrals(api)) == 1

    with api.client("analyst", lang="en") as analyst:  # a new version of the profile judges the bill afresh
        assert analyst.put("/risk/profiles/C-PHARMA-SCREEN", json=_profile({"description_keywords": ["médicaments"], "not_loaded": True}, deadline_hours=6)).json()["version"] == 2
    with api.client("line", lang="en") as line:
        again = line.post("/manifests", json=_before_loading(voyage_number="GD0429")).json()
        assert [r["transport_document_reference"] for r in again["referrals"]] == [MEDICINES]
    assert sorted(r["referred_by"] for r in _referrals(api)) == ["profile C-PHARMA-SCREEN v1", "profile C-PHARMA-SCREEN v2"]


def test_a_do_not_load_raised_by_a_profile_blocks_the_declarations_of_that_bill_until_lifted(carriers):
    api = carriers
    with write(api.node.engine) as conn:  # saved through the service (as the command line does): the server reads it at the next lodging
        profiles.put_profile(conn, {"id": "C-CARS-STOP", **_profile({"consignee": ["auto import dakar sa"], "containers_above": 0}, "do_not_load")}, ANALYST)
    with api.client("line", lang="en") as line:
        filed = line.post("/manifests", json=_before_loading())
        assert filed.status_code == 201, filed.text
        [stop] = filed.json()["referrals"]
        assert stop["transport_document_reference"] == CARS and stop["kind"] == "do_not_load" and stop["blocks_lodging"] is True
    cars = declaration(lrn="DNL-P-1", transport_document_reference=CARS, manifest_reference="MAN-2026-0001")
    with api.client("broker", lang="fr") as broker:
        refused = broker.post("/declarations", json=cars)
        assert refused.status_code == 409 and refused.json()["code"] == "referral.do_not_load" and CARS in refused.json()["detail"]
    with api.client("analyst", lang="en") as analyst:
        assert analyst.post(stop["location"] + "/lift", json={"note": "Contrôlé au départ"}).status_code == 200
    with api.client("broker", lang="en") as broker:
        assert broker.post("/declarations", json=cars).status_code == 201


def test_bills_that_match_no_cargo_profile_are_not_referred_and_declaration_profiles_never_refer_bills(carriers):
    api = carriers
    with api.client("analyst", lang="en") as analyst:
        for profile_id, document in (
            ("C-SHANGHAI", _profile({"port_of_loading": ["CNSHA"]}, "do_not_load")),  # loaded at Antwerp: no
            ("C-BEFORE-LOADING", _profile({"consignee": ["SN0098765B2"], "not_loaded": True})),  # filed after loading: no
            ("C-HEAVY", _profile({"gross_mass_above": 1300})),  # 1300 kg is not above 1300: no
            ("P-AUTO-IMPORT-RED", {"description": DESCRIPTION, "when": {"importer": ["SN0098765B2"]}, "lane": "red"}),  # a declaration profile
        ):
            assert analyst.put(f"/risk/profiles/{profile_id}", json=document).status_code == 201
    with api.client("line", lang="en") as line:
        filed = line.post("/manifests", json=manifest())
        assert filed.status_code == 201 and "referrals" not in filed.json()
    assert _referrals(api) == []


def test_a_cargo_profile_never_judges_a_declaration(carriers):
    api = carriers
    with api.client("analyst", lang="en") as analyst:  # the importer of the sample declaration is this bill's consignee
        assert analyst.put("/risk/profiles/C-CONSIGNEE", json=_profile({"consignee": ["SN0098765B2"]}, "do_not_load")).status_code == 201
    with api.client("broker", lang="en") as broker:
        lodged = broker.post("/declarations", json=declaration())
        assert lodged.status_code == 201, lodged.text
    with api.client("officer", lang="en") as officer:
        reasons = officer.get(f"/declarations/{lodged.json()['id']}").json()["reasons"]
    assert not any("C-CONSIGNEE" in str(reason) for reason in reasons)
    with api.node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(risk_profile_hits).where(risk_profile_hits.c.profile_id == "C-CONSIGNEE")).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(cargo_referrals)).scalar_one() == 0


def test_a_cuscar_that_a_profile_refers_is_still_answered_with_a_cusres(carriers):
    api = carriers
    with api.client("analyst", lang="en") as analyst:
        assert analyst.put("/risk/profiles/C-CARS-INFO", json=_profile({"description_keywords": ["used car"]}, "request_for_information")).status_code == 201
    cuscar = registry.write([Document("cargo_report", manifest("MAN-EDI-PROFILE"))], "edifact")  # type: ignore[arg-type]
    with api.client("line", lang="fr") as line:
        lodged = line.post("/manifests", content=cuscar, headers={"Content-Type": "application/edifact"})
    assert lodged.status_code == 201 and lodged.headers["content-type"].startswith("application/edifact")
    assert "RFF+ACW:MAN-EDI-PROFILE" in lodged.content.decode("latin-1")
    assert [(r["transport_document_reference"], r["kind"]) for r in _referrals(api)] == [(CARS, "request_for_information")]


def test_a_bad_cargo_profile_is_refused_in_the_callers_language_naming_the_field(carriers):
    api = carriers
    with api.client("analyst", lang="fr") as analyst:
        lane = analyst.put("/risk/profiles/C-BAD", json={**_profile({"carrier": ["SN0055555C1"]}), "lane": "red"})
        both = analyst.put("/risk/profiles/C-BAD", json={**_profile({"carrier": ["SN0055555C1"]}), "when": {"origin": ["CN"]}})
        kind = analyst.put("/risk/profiles/C-BAD", json=_profile({"carrier": ["SN0055555C1"]}, "stop_everything"))
    assert lane.status_code == 422 and lane.json()["errors"][0]["pointer"] == "/lane" and "ni circuit ni score" in lane.json()["errors"][0]["detail"]
    assert both.json()["errors"][0]["pointer"] == "/cargo" and both.json()["errors"][0]["code"] == "profiles.when_and_cargo"
    assert kind.json()["errors"][0]["pointer"] == "/refer/kind"
    with api.client("analyst", lang="en") as analyst:
        assert analyst.get("/risk/profiles/C-BAD").status_code == 404


# --- the profiles themselves (no server) ------------------------------------------------------


@pytest.mark.parametrize(
    ("cargo", "report", "referred"),
    [
        ({"consignee": ["PHARMACIE NATIONALE D APPROVISIONNEMENT"]}, {}, [MEDICINES]),  # names: case, accents, punctuation ignored
        ({"consignee": ["sn0098765b2"]}, {}, [CARS]),  # or the identification
        ({"consignor": ["Sanofi"]}, {}, []),  # no consignor on the sample bills
        ({"carrier": ["SN0055555C1"]}, {}, [CARS, MEDICINES]),
        ({"carrier": ["SN0066666E4"]}, {}, []),
        ({"port_of_loading": ["BEANR", "NLRTM"]}, {}, [CARS, MEDICINES]),
        ({"place_of_loading": ["BEANR"]}, {}, []),  # a report without a place of loading
        ({"place_of_loading": ["BEANR"]}, {"place_of_loading": "BEANR"}, [CARS, MEDICINES]),
        ({"description_keywords": ["CAR"]}, {}, [CARS]),  # whole words
        ({"description_keywords": ["ca", "medic"]}, {}, []),  # not parts of words
        ({"description_keywords": ["used  car", "médicaments"]}, {}, [CARS, MEDICINES]),
        ({"containers_above": 0}, {}, [CARS]),
        ({"gross_mass_above": "1000"}, {}, [CARS]),
        ({"not_loaded": True}, {}, []),
        ({"not_loaded": True, "carrier": ["SN0055555C1"]}, {"loaded": False}, [CARS, MEDICINES]),
        ({"not_loaded": True, "description_keywords": ["car"], "gross_mass_above": 1299.999}, {"loaded": False}, [CARS]),  # all must hold
    ],
)
def test_each_cargo_condition_judges_the_bills_of_a_report(cargo, report, referred):
    rule = _rule("C-TEST", _profile(cargo))
    report_doc = CargoReport.model_validate(manifest(**report))
    assert [bill.transport_document_reference for _, bill in cargo_matches([rule], report_doc, TODAY)] == referred


def test_inactive_and_out_of_force_cargo_profiles_refer_nothing():
    report = CargoReport.model_validate(manifest())
    live = _rule("C-LIVE", _profile({"carrier": ["SN0055555C1"]}))
    inactive = _rule("C-OFF", {**_profile({"carrier": ["SN0055555C1"]}), "active": False})
    future = _rule("C-LATER", {**_profile({"carrier": ["SN0055555C1"]}), "valid_from": (TODAY + timedelta(days=1)).isoformat()})
    assert [rule.id for rule, _ in cargo_matches([live, inactive, future], report, TODAY)] == ["C-LIVE", "C-LIVE"]
    assert [rule.id for rule, _ in cargo_matches([future], report, TODAY + timedelta(days=1))] == ["C-LATER", "C-LATER"]


def test_declaration_and_cargo_profiles_do_not_mix():
    report = CargoReport.model_validate(manifest())
    importer = _rule("P-IMPORTER", {"description": DESCRIPTION, "when": {"importer": ["SN0098765B2"]}, "lane": "red"})
    consignee = _rule("C-CONSIGNEE", _profile({"consignee": ["SN0098765B2"]}, "do_not_load"))
    d = GoodsDeclaration.model_validate(declaration())
    subject = AssessmentInput(
        declaration=d,
        items=(ItemFacts(customs_value=Decimal("7000000"), duty_total=Decimal("0")),),
        customs_value=Decimal("7000000"),
        duty_total=Decimal("0"),
        registration_date=TODAY,
        country="SN",
        currency="XOF",
    )
    assert importer.hits(subject) and not consignee.hits(subject)
    assert cargo_matches([importer], report, TODAY) == [] and [r.id for r, _ in cargo_matches([consignee], report, TODAY)] == ["C-CONSIGNEE"]
    assessed = RuleAssessor(RuleSet(rules=[importer, consignee])).assess(subject)
    assert [reason.params.get("rule") for reason in assessed.reasons if reason.code == "reason.rule_hit"] == ["P-IMPORTER"]


def test_a_cargo_profile_survives_the_yaml_export_and_import(sqlite_node):
    document = {"id": "C-EXPORT", **_profile({"consignee": ["Auto Import Dakar SA"], "gross_mass_above": "1000.5", "not_loaded": True}, "do_not_load", deadline_hours=48)}
    with write(sqlite_node.engine) as conn:
        profiles.put_profile(conn, document, ANALYST)
        exported = profiles.export_yaml(conn)
    assert "kind: do_not_load" in exported and "deadline_hours: 48" in exported
    ruleset, _ = profiles.parse_ruleset(exported)
    [back] = [r for r in ruleset.rules if r.id == "C-EXPORT"]
    assert back.content() == profiles.parse_rule(document).content()
    with write(sqlite_node.engine) as conn:  # importing it back changes nothing
        assert "C-EXPORT" in profiles.import_yaml(conn, exported, ANALYST).unchanged


def test_lodging_screens_in_the_same_transaction_and_stores_nothing_when_it_fails(sqlite_node):
    """The screen runs inside the lodging's transaction: a screen that fails leaves neither the
    cargo report nor a referral behind."""

    def broken(conn, report, *, now):
        raise RuntimeError("screen down")

    owner = Principal(user_id=None, name="line", role=Role.ADMIN)
    with pytest.raises(RuntimeError), write(sqlite_node.engine) as conn:
        manifests_service.lodge(conn, sqlite_node.context, CargoReport.model_validate(manifest("MAN-SCREEN-1")), owner, screen=broken)
    with write(sqlite_node.engine) as conn:
        profiles.put_profile(conn, {"id": "C-ALL", **_profile({"carrier": ["SN0055555C1"]})}, ANALYST)
        lodging = manifests_service.lodge(conn, sqlite_node.context, CargoReport.model_validate(manifest("MAN-SCREEN-1")), owner, screen=sqlite_node.screen_cargo)
    assert lodging.version == 1 and [r["transport_document_reference"] for r in lodging.referrals] == [CARS, MEDICINES]
    with sqlite_node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cargo_referrals)).scalar_one() == 2


def test_a_profile_without_conditions_a_referral_or_a_readable_keyword_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        profiles.parse_rule({"id": "C-EMPTY", "description": DESCRIPTION, "refer": {"kind": "do_not_load"}})
    assert [(i.pointer, i.code) for i in refused.value.issues] == [("/when", "profiles.no_condition")]
    with pytest.raises(ValidationFailed) as no_referral:
        profiles.parse_rule({"id": "C-NOREFER", "description": DESCRIPTION, "cargo": {"carrier": ["SN0055555C1"]}})
    assert [(i.pointer, i.code) for i in no_referral.value.issues] == [("/refer", "profiles.no_referral")]
    with pytest.raises(ValidationFailed) as keyword:
        profiles.parse_rule({"id": "C-KEY", **_profile({"description_keywords": ["arms", "--"]})})
    assert [(i.pointer, i.code) for i in keyword.value.issues] == [("/cargo/description_keywords/1", "profiles.empty_keyword")]
