"""Risk analysts manage selectivity profiles over HTTP; officers read them; traders never see them."""

from __future__ import annotations

import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avance.declarations import service
from avance.auth.model import SYSTEM
from avance.risk.profiles.rules import shipped_rules_text
from tests.support import declaration

PROBLEM = "application/problem+json"


def textiles(**change) -> dict:
    return {
        "description": {"fr": "Textiles chinois sous-évalués", "en": "Under-valued Chinese textiles"},
        "valid_from": "2026-01-01",
        "when": {"hs_prefix": ["61", "62"], "origin": ["CN"], "value_per_kg_below": 2000},
        "lane": "red",
        "score": 0.3,
    } | change


def test_declarants_get_403_everywhere_and_officers_only_read(api):
    with api.client("analyst") as analyst:
        assert analyst.put("/risk/profiles/P-TEXT", json=textiles()).status_code == 201
    with api.client("broker", lang="en") as broker:
        for method, path in [
            ("GET", "/risk/profiles"),
            ("GET", "/risk/profiles/P-TEXT"),
            ("GET", "/risk/profiles/export"),
            ("GET", "/risk/profiles/stats"),
            ("PUT", "/risk/profiles/P-TEXT"),
            ("DELETE", "/risk/profiles/P-TEXT"),
            ("POST", "/risk/profiles/import"),
        ]:
            answer = broker.request(method, path, json=textiles() if method == "PUT" else None)
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.headers["content-type"].startswith(PROBLEM)
            body = answer.json()
            assert body.pop("instance") == path  # nothing else about the profile comes back
            assert "P-TEXT" not in str(body) and "Chinese" not in answer.text
    with api.client("officer") as officer:
        assert "P-TEXT" in [p["id"] for p in officer.get("/risk/profiles").json()["items"]]
        assert officer.get("/risk/profiles/P-TEXT").status_code == 200
        assert officer.get("/risk/profiles/export").status_code == 200
        assert officer.get("/risk/profiles/stats").status_code == 200
        assert officer.put("/risk/profiles/P-TEXT", json=textiles(score=0.9)).status_code == 403
        assert officer.delete("/risk/profiles/P-TEXT").status_code == 403
        assert officer.post("/risk/profiles/import", content=shipped_rules_text()).status_code == 403
    with api.client() as anonymous:
        assert anonymous.get("/risk/profiles").status_code == 401
    with api.client("analyst") as analyst:
        assert analyst.get("/risk/profiles/P-TEXT").json()["version"] == 1


def _rules_hit(api, lrn: str) -> list[str]:
    with api.client("broker") as broker:
        lodged = broker.post("/declarations", json=declaration(lrn=lrn))
    assert lodged.status_code == 201, lodged.text
    with api.client("officer", lang="en") as officer:
        reasons = officer.get(f"/declarations/{lodged.json()['id']}").json()["reasons"]
    return [r["detail"].split(":")[0] for r in reasons if r["code"] == "reason.rule_hit"]  # "P-WATCH: Importer under watch"


def test_the_running_node_assesses_with_a_profile_from_the_moment_it_is_saved_until_it_is_withdrawn(api):
    watch = {"description": {"fr": "Importateur sous surveillance", "en": "Importer under watch"}, "when": {"importer": ["SN0098765B2"]}, "lane": "red"}
    assert "P-WATCH" not in _rules_hit(api, "W-1")
    with api.client("analyst") as analyst:
        assert analyst.put("/risk/profiles/P-WATCH", json=watch).status_code == 201
    assert "P-WATCH" in _rules_hit(api, "W-2")
    with api.client("analyst") as analyst:
        assert analyst.delete("/risk/profiles/P-WATCH").status_code == 200
    assert "P-WATCH" not in _rules_hit(api, "W-3")


def test_an_analyst_creates_updates_and_deactivates_a_profile_and_its_history_shows_who_did_it(api):
    with api.client("analyst", lang="en") as analyst, api.client("admin", lang="fr") as admin:
        created = analyst.put("/risk/profiles/P-TEXT", json=textiles(author="someone else", version=9))
        assert created.status_code == 201 and created.headers["location"] == "/risk/profiles/P-TEXT"
        body = created.json()
        assert (body["version"], body["author"], body["outcome"], body["score"]) == (1, "analyst", "created", "0.3")
        assert body["label"] == "Under-valued Chinese textiles" and body["in_force"] is True
        again = analyst.put("/risk/profiles/P-TEXT", json=textiles())
        assert again.status_code == 200 and again.json()["outcome"] == "unchanged" and again.json()["version"] == 1
        updated = admin.put("/risk/profiles/P-TEXT", json=textiles(score=0.5, valid_to="2026-12-31"))
        assert updated.status_code == 200 and updated.json()["version"] == 2 and updated.json()["label"] == "Textiles chinois sous-évalués"
        gone = analyst.delete("/risk/profiles/P-TEXT")
        assert gone.status_code == 200 and gone.json()["active"] is False and gone.json()["version"] == 3
        shown = analyst.get("/risk/profiles/P-TEXT").json()
        assert [(v["version"], v["change"], v["author"]) for v in shown["versions"]] == [
            (1, "created", "analyst"),
            (2, "updated", "admin"),
            (3, "deactivated", "analyst"),
        ]
        assert shown["versions"][0]["document"]["score"] == "0.3"
        assert [p["id"] for p in analyst.get("/risk/profiles", params={"active": "false"}).json()["items"]] == ["P-TEXT"]
        assert "P-TEXT" not in [p["id"] for p in analyst.get("/risk/profiles", params={"active": "true"}).json()["items"]]
        missing = analyst.get("/risk/profiles/P-NOWHERE")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
        assert analyst.delete("/risk/profiles/P-NOWHERE").status_code == 404


def test_a_bad_profile_gets_422_naming_each_field_in_the_callers_language_and_stores_nothing(api):
    with api.client("analyst", lang="fr") as analyst:
        answer = analyst.put(
            "/risk/profiles/P-BAD",
            json=textiles(valid_from="2026-06-01", valid_to="2026-01-01", when={"origin": ["china"], "incoterm": ["FOB"]}),
        )
        assert answer.status_code == 422 and answer.headers["content-type"].startswith(PROBLEM)
        errors = {e["pointer"]: e for e in answer.json()["errors"]}
        assert set(errors) == {"/when/origin/0"}  # the date check runs once the fields are valid
        fixed = analyst.put("/risk/profiles/P-BAD", json=textiles(valid_from="2026-06-01", valid_to="2026-01-01"))
        assert fixed.status_code == 422
        error = fixed.json()["errors"][0]
        assert (error["pointer"], error["code"]) == ("/valid_to", "profiles.valid_to_before_from")
        assert "valid_to est antérieure" in error["detail"]
        mismatch = analyst.put("/risk/profiles/P-BAD", json=textiles(id="P-OTHER"))
        assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["pointer"] == "/id"
        lower = analyst.put("/risk/profiles/p-bad", json=textiles())
        assert lower.status_code == 422 and lower.json()["errors"][0]["pointer"] == "/id"
        not_object = analyst.put("/risk/profiles/P-BAD", json=["red"])
        assert not_object.status_code == 422
        assert "P-BAD" not in [p["id"] for p in analyst.get("/risk/profiles").json()["items"]]


def test_profiles_export_as_yaml_and_import_back_all_or_nothing(api):
    """The node starts with the shipped profiles; an export imports back unchanged, a bad one not at all."""
    with api.client("admin", lang="en") as admin:
        imported = admin.post("/risk/profiles/import", content=shipped_rules_text().encode(), headers={"content-type": "text/yaml"})
        assert imported.status_code == 200 and len(imported.json()["unchanged"]) == 6
        exported = admin.get("/risk/profiles/export")
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/yaml")
        again = admin.post("/risk/profiles/import", content=exported.content)
        assert again.json()["unchanged"] == sorted(again.json()["unchanged"]) and len(again.json()["unchanged"]) == 6
        assert again.json()["created"] == again.json()["updated"] == []
        data = yaml.safe_load(exported.text)
        data["rules"][0]["when"]["origin"] = ["nowhere"]
        data["rules"].append({"id": "P-NEW", "description": {"fr": "Nouveau", "en": "New"}, "when": {"origin": ["CN"]}, "lane": "red"})
        refused = admin.post("/risk/profiles/import", content=yaml.safe_dump(data, allow_unicode=True).encode())
        assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/rules/0/when/origin/0"
        assert admin.get("/risk/profiles/P-NEW").status_code == 404
        broken = admin.post("/risk/profiles/import", content=b"rules: [")
        assert broken.status_code == 422 and broken.json()["errors"][0]["code"] == "profiles.yaml_invalid"
        latin1 = admin.post("/risk/profiles/import", content="rules: [{id: É}]".encode("latin-1"))
        assert latin1.status_code == 422 and latin1.json()["errors"][0]["code"] == "profiles.body_not_text"
        replaced = admin.post("/risk/profiles/import", params={"replace": "true"}, content=yaml.safe_dump({"rules": [data["rules"][-1]]}).encode())
        assert replaced.json()["created"] == ["P-NEW"] and len(replaced.json()["deactivated"]) == 6
        assert [p["id"] for p in admin.get("/risk/profiles", params={"active": "true"}).json()["items"]] == ["P-NEW"]


def test_hit_rates_over_http_from_lodging_to_inspection(api):
    """A broker lodges a used French car; the shipped profile VEH-USED-EU hits it; an officer finds fraud."""
    with api.client("broker") as broker:
        lodged = broker.post("/declarations", json=declaration(lrn="HIT-1"))
    assert lodged.status_code == 201, lodged.text
    declaration_id = lodged.json()["id"]  # the node records the profile hits as it stores the declaration
    with api.node.engine.connect() as conn:
        row = service.get(conn, declaration_id, SYSTEM).row
    with api.client("officer") as officer:
        assert officer.post(f"/declarations/{declaration_id}/arrival", json={}).status_code == 200
        found = officer.post(f"/declarations/{declaration_id}/inspection-result", json={"fraud_found": True, "fraud_kinds": ["undervaluation"], "extra_duty": "320000"})
        assert found.status_code == 200, found.text
        stats = {s["profile_id"]: s for s in officer.get("/risk/profiles/stats").json()["items"]}
        day = row["lodged_at"].date().isoformat()
        long_ago = officer.get("/risk/profiles/stats", params={"since": "2000-01-01", "until": "2000-01-02"}).json()["items"]
        assert {s["profile_id"] for s in long_ago} == set(stats) and all(s["hits"] == 0 for s in long_ago)
        assert {s["profile_id"]: s for s in officer.get("/risk/profiles/stats", params={"since": day, "until": day}).json()["items"]} == stats
        bad = officer.get("/risk/profiles/stats", params={"since": "yesterday"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["parameter"] == "since"
    used = stats["VEH-USED-EU"]
    assert (used["hits"], used["inspected"], used["frauds"], used["hit_rate"], used["extra_duty"], used["currency"]) == (1, 1, 1, "1.0000", "320000", "XOF")


RULE_FIELDS = {"id", "version", "active", "description", "author", "valid_from", "valid_to", "when", "lane", "score"}
letters = st.text(alphabet="abcdxyzQRS -/", min_size=1, max_size=10)
invalid_fields = st.one_of(
    st.tuples(st.just("lane"), st.one_of(letters, st.integers(), st.lists(st.integers(), min_size=1, max_size=2))),
    st.tuples(st.just("score"), st.one_of(st.integers(min_value=2), st.integers(max_value=-1), st.floats(min_value=1.01, max_value=1e9), letters)),
    st.tuples(st.sampled_from(["valid_from", "valid_to"]), st.one_of(letters, st.lists(st.integers(), max_size=1))),
    st.tuples(
        st.just("when"),
        st.one_of(
            st.just({}),
            letters,
            st.integers(),
            st.fixed_dictionaries({"origin": st.lists(st.text(max_size=4).filter(lambda c: not re.fullmatch(r"[A-Z]{2}", c)), min_size=1, max_size=3)}),
            st.fixed_dictionaries({"value_per_kg_below": st.one_of(st.integers(max_value=-1), letters)}),
        ),
    ),
    st.tuples(st.just("description"), st.one_of(letters, st.integers(), st.fixed_dictionaries({"fr": st.just("  "), "en": st.text(max_size=5)}))),
    st.tuples(st.text(alphabet="abcdefghij_", min_size=1, max_size=8).filter(lambda k: k not in RULE_FIELDS), st.integers()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=invalid_fields, junk=st.one_of(st.none(), st.text(max_size=300)))
def test_whatever_an_analyst_sends_a_malformed_profile_stores_nothing_and_gets_a_problem(shared_api, bad, junk):
    field, value = bad
    with shared_api.client("analyst", lang="en") as analyst:
        before = analyst.get("/risk/profiles/export").text.split("\n", 2)[2]
        put = analyst.put("/risk/profiles/P-FUZZ", json=textiles() | {field: value})
        assert put.status_code == 422 and put.headers["content-type"].startswith(PROBLEM), put.text
        assert all(e.get("pointer", "/").startswith("/") or e["pointer"] == "" for e in put.json()["errors"])
        text = junk if junk is not None else yaml.safe_dump({"rules": [textiles(id="P-FUZZ") | {field: value}]})
        posted = analyst.post("/risk/profiles/import", content=text.encode("utf-8", "surrogatepass"))
        assert posted.status_code == 422 and posted.headers["content-type"].startswith(PROBLEM), posted.text
        assert analyst.get("/risk/profiles/export").text.split("\n", 2)[2] == before
