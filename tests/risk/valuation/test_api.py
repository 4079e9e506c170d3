"""Valuation references over HTTP: officers look them up, analysts keep the value-control file,
declarants never see them (they are confidential). Real HTTP calls on each store engine."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from avance.risk.valuation.overrides_file import parse_overrides_csv
from avance.risk.valuation.service import rebuild
from avance.store.engine import write
from avance.risk.valuation.tables import valuation_overrides
from tests.support import lodge_history
from tests.support import valuation_doc as doc

PROBLEM = "application/problem+json"


def is_problem(response: Any, status: int) -> bool:
    return response.status_code == status and response.headers["content-type"].startswith(PROBLEM) and response.json()["status"] == status


def test_officers_look_up_the_reference_with_its_fallback_level_and_declarants_are_refused(api):
    lodge_history(api.node, [doc(f"J{i}", value=4_800_000) for i in range(10)] + [doc(f"K{i}", origin="KR", value=6_000_000) for i in range(2)])
    with write(api.node.engine) as conn:
        rebuild(conn)
    with api.client("officer", lang="en") as officer:
        japan = officer.get("/risk/valuation/reference", params={"hs": "8703231000", "origin": "JP"})
        assert japan.status_code == 200, japan.text
        body = japan.json()
        assert (body["reference"]["level"], body["reference"]["median"], body["reference"]["n"], body["currency"]) == ("hs6_origin", "4800", 10, "XOF")
        assert [level["level"] for level in body["levels"]] == ["hs6_origin", "hs6", "hs4"]
        korea = officer.get("/risk/valuation/reference", params={"hs": "8703231000", "origin": "KR"}).json()
        assert (korea["reference"]["level"], korea["reference"]["n"]) == ("hs6", 12)  # 2 Korean cars are too few
        assert korea["levels"][0]["sufficient"] is False
        missing = officer.get("/risk/valuation/reference", params={"hs": "100630", "unit": "KGM"})
        assert is_problem(missing, 404) and "100630" in missing.json()["detail"]
        bad = officer.get("/risk/valuation/reference", params={"hs": "87-03", "origin": "jp"})
        assert is_problem(bad, 422) and {e["parameter"] for e in bad.json()["errors"]} == {"hs", "origin"}
        assert officer.get("/risk/valuation/snapshot").json()["references"] == {"hs6_origin": 2, "hs6": 1, "hs4": 1}
    with api.client("analyst", lang="fr") as analyst:
        assert analyst.get("/risk/valuation/reference", params={"hs": "870323"}).json()["reference"]["level"] == "hs6"
    with api.client("broker", lang="fr") as broker:
        for path in ("/risk/valuation/reference?hs=870323", "/risk/valuation/snapshot", "/risk/valuation/overrides", "/risk/valuation/overrides/export"):
            refused = broker.get(path)
            assert is_problem(refused, 403), path
            assert "declarant" in refused.json()["detail"]
    with api.client() as anonymous:
        assert is_problem(anonymous.get("/risk/valuation/reference?hs=870323"), 401)


def test_analysts_keep_the_value_control_file_and_officers_only_read_it(api):
    line = {"hs": "870323", "origin": "JP", "unit": "KGM", "min": "4500", "valid_from": "2026-01-01", "note": "prix catalogue"}
    with api.client("analyst", lang="en") as analyst:
        created = analyst.post("/risk/valuation/overrides", json=line)
        assert created.status_code == 201, created.text
        stored = created.json()
        assert (stored["min"], stored["max"], stored["author"]) == ("4500", None, "analyst")
        assert created.headers["location"] == f"/risk/valuation/overrides/{stored['id']}"
        replaced = analyst.post("/risk/valuation/overrides", json=line | {"min": "4600", "max": "9000"})
        assert replaced.status_code == 200 and replaced.json()["id"] == stored["id"]
        assert analyst.get(f"/risk/valuation/overrides/{stored['id']}").json()["max"] == "9000"
    with api.client("officer", lang="en") as officer:
        listed = officer.get("/risk/valuation/overrides", params={"hs": "8703231000", "on": "2026-06-01"}).json()
        assert [o["min"] for o in listed["items"]] == ["4600"]
        assert officer.get("/risk/valuation/overrides", params={"on": "2025-06-01"}).json()["total"] == 0
        reference = officer.get("/risk/valuation/reference", params={"hs": "8703231000", "origin": "JP", "on": "2026-06-01"}).json()["reference"]
        assert (reference["level"], reference["low"], reference["high"]) == ("override", "4600", "9000")
        assert is_problem(officer.post("/risk/valuation/overrides", json=line), 403)
        assert is_problem(officer.delete(f"/risk/valuation/overrides/{stored['id']}"), 403)
    with api.client("broker") as broker:
        assert is_problem(broker.post("/risk/valuation/overrides", json=line), 403)
    with api.client("admin", lang="fr") as admin:
        assert admin.delete(f"/risk/valuation/overrides/{stored['id']}").status_code == 204
        gone = admin.delete(f"/risk/valuation/overrides/{stored['id']}")
        assert is_problem(gone, 404) and str(stored["id"]) in gone.json()["detail"]


def test_a_bad_override_is_refused_with_every_error_located(api):
    with api.client("analyst", lang="en") as analyst:
        refused = analyst.post("/risk/valuation/overrides", json={"hs": "87", "origin": "QQ", "min": "900", "max": "100", "valid_to": "2026-01-01", "valid_from": "2026-02-01"})
        assert is_problem(refused, 422)
        assert {e["pointer"] for e in refused.json()["errors"]} == {"/hs", "/origin", "/max", "/valid_to"}
        unknown_field = analyst.post("/risk/valuation/overrides", json={"hs": "8703", "min": "1", "price": 3})
        assert is_problem(unknown_field, 422)
    with api.node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(valuation_overrides)).scalar_one() == 0


def test_a_value_control_file_is_imported_whole_or_not_at_all_and_exported_back(api):
    good = "hs,origin,unit,min,max,valid_from,valid_to,note\n870323,JP,KGM,4000,,2026-01-01,,étude\n100630,TH,KGM,250,600,,,riz\n"
    bad = good + "8703,ZZ,KGM,1,,,,\n870323,JP,KGM,4000,,2026-01-01,,doublon\n"
    with api.client("analyst", lang="en") as analyst:
        refused = analyst.post("/risk/valuation/overrides/import", content=bad.encode(), headers={"Content-Type": "text/csv"})
        assert is_problem(refused, 422)
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/lines/4/origin", "/lines/5"]
        assert analyst.get("/risk/valuation/overrides").json()["total"] == 0
        loaded = analyst.post("/risk/valuation/overrides/import", content=good.encode(), headers={"Content-Type": "text/csv"})
        assert loaded.json() == {"created": 2, "replaced": 0, "removed": 0}
        exported = analyst.get("/risk/valuation/overrides/export")
        assert exported.headers["content-type"].startswith("text/csv")
        assert sorted(parse_overrides_csv(exported.text), key=str) == sorted(parse_overrides_csv(good), key=str)
        again = analyst.post("/risk/valuation/overrides/import?replace=true", content=exported.content, headers={"Content-Type": "text/csv"})
        assert again.json() == {"created": 2, "replaced": 0, "removed": 2}
    with api.client("officer") as officer:
        assert is_problem(officer.post("/risk/valuation/overrides/import", content=good.encode()), 403)


cells = st.one_of(st.none(), st.text(max_size=12), st.integers(-(10**20), 10**20), st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["8703", "870323", "JP", "KGM", "2026-02-30", "1e400", "-0"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.dictionaries(st.sampled_from(["hs", "origin", "unit", "min", "max", "valid_from", "valid_to", "note", "extra"]), cells, max_size=8))
def test_whatever_the_body_an_override_is_stored_or_refused_with_a_problem(shared_api, body):
    with shared_api.client("analyst", lang="en") as analyst:
        response = analyst.post("/risk/valuation/overrides", json=body)
    assert response.status_code in (200, 201, 422), response.text
    if response.status_code == 422:
        assert response.headers["content-type"].startswith(PROBLEM) and response.json()["errors"]
