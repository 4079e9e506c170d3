"""``GET /reports/release-times`` over real HTTP: JSON and the CSV file for staff, 403 for a broker,
422 problem+json for a reversed range."""

from __future__ import annotations

import csv
import io
import threading
import time

import pytest
import uvicorn

from avance.auth.model import Role
from avance.auth.service import create_user
from avance.entrypoints.http import ROUTERS, create_app
from avance.reports.api import router
from avance.reports.release_times import CSV_COLUMNS
from avance.store.engine import write
from tests.reports.conftest import H, T0, add
from tests.support import LiveApi, free_port


@pytest.fixture
def live(node):
    with write(node.engine) as conn:
        add(conn, 1, lodged=T0 - 48 * H, events=[("arrived", T0), ("paid", T0), ("released", T0 + 0.5 * H)])
        add(conn, 2, lodged=T0, lane="red", events=[("arrived", T0), ("inspected", T0 + 2 * H), ("paid", T0 + 3 * H), ("released", T0 + 4 * H)])
    tokens = {}
    with node.engine.begin() as conn:
        for name, role, party in [("analyst", Role.ANALYST, None), ("officer", Role.OFFICER, None), ("broker", Role.DECLARANT, "SN0012345A7")]:
            _, tokens[name] = create_user(conn, name=name, role=role, party_id=party)
    app = create_app(node)
    if router not in ROUTERS:  # until the lead registers it in avance.entrypoints.http
        app.include_router(router)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", node, tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


PARAMS = {"since": "2026-04-06", "until": "2026-04-12", "by": "lane", "period": "day"}


def test_staff_read_the_release_times_as_json_and_csv(live):
    with live.client("analyst") as analyst:
        answer = analyst.get("/reports/release-times", params=PARAMS)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        lanes = {g["key"]["lane"]: g for g in body["totals"]}
        assert lanes["red"]["measures"]["arrival_to_release"]["median_seconds"] == 4 * 3600
        assert lanes["red"]["measures"]["arrival_to_control"]["median_hours"] == 2
        assert lanes["green"]["released_on_arrival_share"] == 1.0
        assert body["query"]["by"] == ["lane"] and body["series"][0]["period"] == "2026-04-06"
        as_csv = analyst.get("/reports/release-times", params={**PARAMS, "format": "csv"})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert tuple(rows[0]) == CSV_COLUMNS and {r["lane"] for r in rows} == {"green", "red"}
        by_accept = analyst.get("/reports/release-times", params=PARAMS, headers={"Accept": "text/csv"})
        assert by_accept.text == as_csv.text
    with live.client("officer") as officer:
        assert officer.get("/reports/release-times", params=PARAMS).status_code == 200


def test_a_broker_is_refused_and_a_bad_range_explained(live):
    with live.client("broker") as broker:
        refused = broker.get("/reports/release-times")
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden.role"
    with live.client("analyst", lang="fr") as analyst:
        bad = analyst.get("/reports/release-times", params={"since": "2026-04-12", "until": "2026-04-06"})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["errors"][0]["code"] == "reports.range_reversed" and "finit" in bad.json()["errors"][0]["detail"]
        unknown = analyst.get("/reports/release-times", params={"by": "importer"})
        assert unknown.status_code == 422
