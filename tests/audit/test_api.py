"""Over real HTTP: each lifecycle step is recorded with the user, its role, its token and its
address; reading confidential risk data is recorded once per request; ``GET /audit`` answers
administrators only and filters by actor, object and period."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import httpx
import pytest
import uvicorn

from avance.audit.api import router
from avance.auth.model import Role
from avance.auth.service import create_user
from avance.auth.sessions import set_offices
from avance.entrypoints.http import create_app
from avance.store.engine import write
from tests.support import declaration, free_port

USERS = [("admin", Role.ADMIN, None), ("officer", Role.OFFICER, None), ("analyst", Role.ANALYST, None), ("broker", Role.DECLARANT, "SN0012345A7")]


@pytest.fixture(scope="module")
def live(trail_node: Any) -> Iterator[tuple[str, dict[str, str], dict[str, int]]]:
    """The node's API on a free port, with a user per role: (base URL, tokens, user ids)."""
    tokens, ids = {}, {}
    with write(trail_node.engine) as conn:
        for name, role, party in USERS:
            user_id, tokens[name] = create_user(conn, name=name, role=role, party_id=party)
            ids[name] = int(user_id)
        set_offices(conn, "officer", sorted(trail_node.context.offices))
    app = create_app(trail_node)
    if not any(getattr(r, "path", None) == "/audit" for r in app.routes):  # until the lead registers the router
        app.include_router(router)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the API server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", tokens, ids
    server.should_exit = True
    thread.join(timeout=10)


def _client(live: Any, who: str) -> httpx.Client:
    url, tokens, _ = live
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[who]}", "Accept-Language": "en"}, timeout=30)


def _trail(live: Any, **query: Any) -> list[dict[str, Any]]:
    with _client(live, "admin") as http:
        answer = http.get("/audit", params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_lodging_and_arrival_are_recorded_with_user_role_token_and_address(node, live):
    _, _, ids = live
    with _client(live, "broker") as http:
        lodged = http.post("/declarations", json=declaration("2026-DKR-AUD001"))
    assert lodged.status_code == 201, lodged.text
    declaration_id = lodged.json()["id"]
    with _client(live, "officer") as http:
        assert http.post(f"/declarations/{declaration_id}/arrival").status_code == 200
    records = _trail(live, object_type="declaration", object_id=str(declaration_id))
    by_action = {r["action"]: r for r in records}
    assert by_action["declaration.lodged"]["actor"] == "broker" and by_action["declaration.lodged"]["role"] == "declarant"
    assert by_action["declaration.lodged"]["via"] == f"token:{ids['broker']}" and by_action["declaration.lodged"]["address"] == "127.0.0.1"
    assert by_action["declaration.lodged"]["after_doc"]["lrn"] == "2026-DKR-AUD001"
    arrived = by_action["declaration.arrived"]
    assert (arrived["actor"], arrived["role"], arrived["via"]) == ("officer", "officer", f"token:{ids['officer']}")
    assert arrived["seq"] > by_action["declaration.lodged"]["seq"]


def test_reading_profiles_or_a_declaration_s_risk_is_recorded_once_per_request(node, live):
    with _client(live, "analyst") as http:
        assert http.get("/risk/profiles").status_code == 200
        assert http.get("/risk/profiles", params={"active": "true"}).status_code == 200
    reads = _trail(live, actor="analyst", action="read.risk.profiles")
    assert len(reads) == 2 and reads[0]["after_doc"] == {"query": "active=true"} and reads[1]["object_id"] == "/risk/profiles"
    with _client(live, "broker") as http:  # a declarant reads its own declaration: no risk, no record
        lodged = http.post("/declarations", json=declaration("2026-DKR-AUD002")).json()
        assert http.get(f"/declarations/{lodged['id']}").status_code == 200
    with _client(live, "officer") as http:
        assert http.get(f"/declarations/{lodged['id']}").status_code == 200
    assert [r["actor"] for r in _trail(live, action="read.risk.declaration")] == ["officer"]


def test_the_trail_is_for_administrators_only(node, live):
    for who in ("officer", "analyst", "broker"):
        with _client(live, who) as http:
            for path in ("/audit", "/audit/heads"):
                answer = http.get(path)
                assert answer.status_code == 403 and answer.json()["code"] == "forbidden.role", (who, path)
    with httpx.Client(base_url=live[0]) as anonymous:
        assert anonymous.get("/audit").status_code == 401


def test_the_trail_filters_by_period_and_pages(node, live):
    with _client(live, "analyst") as http:
        for _ in range(3):
            http.get("/risk/profiles")
    everything = _trail(live, actor="analyst")
    assert len(everything) == 3 and [r["seq"] for r in everything] == sorted((r["seq"] for r in everything), reverse=True)
    assert _trail(live, actor="analyst", since="2999-01-01T00:00:00") == []
    assert len(_trail(live, actor="analyst", until="2999-01-01T00:00:00Z", page_size=2)) == 2
    with _client(live, "admin") as http:
        assert http.get("/audit/heads").json() == {"items": []}
