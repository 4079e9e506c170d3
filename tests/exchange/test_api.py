"""Over HTTP: partners post signed batches and get signed answers; the IT team watches the links."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from avance.exchange import keys, partners
from avance.exchange.envelope import build, sign, verify
from avance.store.engine import write
from avance.exchange.tables import exchange_inbox, exchange_outbox


def identify(api, node_id="SN-AVANCE"):
    with write(api.node.engine) as conn:
        keys.init(conn, api.node.settings.data_dir, node_id)


class Partner:
    def __init__(self, node_id="CI-AVANCE", country="CI"):
        self.node_id, self.country = node_id, country
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes_raw()
        self.public, self.kid = base64.b64encode(raw).decode(), keys.thumbprint(raw)

    def register_at(self, api):
        with write(api.node.engine) as conn:
            partners.add(conn, node_id=self.node_id, country=self.country, endpoint="http://127.0.0.1:9", public_key=self.public)

    def message(self, code, to="SN-AVANCE"):
        payload = {"dataset": "offices", "action": "upsert", "records": [{"code": code, "name": "Noé", "country": self.country, "kind": "road"}]}
        return sign(build(sender=self.node_id, recipient=to, type="reference-data-update", payload=payload), self.kid, self.key)


def node_public_key(api):
    with api.client() as http:
        identity = http.get("/exchange/identity").json()
    current = next(k for k in identity["keys"] if k["current"])
    return keys.load_public_key(keys.b64u(keys.parse_public_key(current["public_key"])))


def test_a_partner_posts_a_batch_and_gets_one_answer_per_message_in_order_signed_when_the_message_was_genuine(api):
    identify(api)
    ci = Partner()
    ci.register_at(api)
    good, tampered = ci.message("CI-NOE-ROAD"), ci.message("CI-ABJ-PORT")
    tampered["payload"]["records"][0]["name"] = "Changed"
    with api.client() as http:  # no bearer token: the signature is the credential
        response = http.post("/exchange/messages", json=[good, tampered])
    assert response.status_code == 200
    acks = response.json()
    public = node_public_key(api)
    assert verify(acks[0], public) and "signature" not in acks[1]  # a message that does not verify gets an unsigned refusal
    assert [(a["correlation"], a["payload"]["status"]) for a in acks] == [(good["id"], "accepted"), (tampered["id"], "rejected")]
    assert acks[1]["payload"]["code"] == "exchange.reject.bad_signature"
    with api.client("analyst") as http:
        data = http.get("/exchange/reference-data", params={"partner": "CI-AVANCE"}).json()
    assert [(r["code"], r["revision"]) for r in data] == [("CI-NOE-ROAD", 1)]


def test_a_node_without_an_exchange_identity_tells_partners_to_come_back_later(api):
    """Before `avance exchange init` the inbox cannot sign answers: a partner gets 503 (try again
    later), not a server error, and nothing is stored."""
    ci = Partner()
    with api.client(lang="en") as http:
        response = http.post("/exchange/messages", json=[ci.message("CI-NOE-ROAD")])
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "exchange.not_initialised"
    assert "avance exchange init" in response.json()["detail"]
    with api.node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(exchange_inbox)).scalar_one() == 0


def test_a_body_that_is_not_a_batch_is_refused_as_problem_json(api):
    identify(api)
    with api.client(lang="fr") as http:
        for body in (b"{not json", b'{"id": 1}', json.dumps([{}] * 501).encode()):
            response = http.post("/exchange/messages", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 422
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["errors"][0]["code"] in ("exchange.batch_not_array", "exchange.batch_too_large")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.recursive(st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=10), lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4), max_leaves=15))
def test_whatever_is_posted_the_inbox_answers_without_error_and_stores_nothing(shared_api, body):
    identify(shared_api)
    with shared_api.client() as http:
        response = http.post("/exchange/messages", json=body)
    assert response.status_code in (200, 422), response.text
    if isinstance(body, list):
        assert response.status_code == 200
        assert [a["payload"]["status"] for a in response.json()] == ["rejected"] * len(body)
    with shared_api.node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(exchange_inbox)).scalar_one() == 0


def test_anyone_can_read_the_nodes_public_identity_but_only_analysts_and_administrators_see_the_links(api):
    identify(api)
    with api.client() as http:
        identity = http.get("/exchange/identity").json()
        assert identity["node_id"] == "SN-AVANCE" and identity["country"] == "SN"
        assert [k["current"] for k in identity["keys"]] == [True]
        assert http.get("/exchange/status").status_code == 401
    with api.client("officer") as http:
        assert http.get("/exchange/status").status_code == 403
        assert http.get("/exchange/alerts").status_code == 403
    Partner().register_at(api)
    with api.client("analyst") as http:  # follows the queues and alerts toward partners, publishes nothing
        assert [p["node_id"] for p in http.get("/exchange/status").json()["partners"]] == ["CI-AVANCE"]
        assert http.get("/exchange/alerts").json() == []
        assert http.post("/exchange/reference-data", json={}).status_code == 403
    with api.client("admin") as http:
        status = http.get("/exchange/status").json()
        assert status["node_id"] == "SN-AVANCE"
        assert [(p["node_id"], p["queue_depth"], p["dead_letters"]) for p in status["partners"]] == [("CI-AVANCE", 0, 0)]
        assert http.get("/exchange/alerts").json() == []
        assert [p["node_id"] for p in http.get("/exchange/partners").json()] == ["CI-AVANCE"]


def test_an_administration_publishes_its_offices_to_its_partners(api):
    identify(api)
    with api.client("admin", lang="en") as http:
        office = {"code": "SN-KDG-ROAD", "name": "Kidira", "country": "SN", "kind": "road", "locode": "SNKID"}
        response = http.post("/exchange/reference-data", json={"dataset": "offices", "records": [office]})
        assert response.status_code == 422 and response.json()["errors"][0]["code"] == "exchange.refdata.no_partners"
        Partner().register_at(api)
        Partner("ML-AVANCE", "ML").register_at(api)
        foreign = http.post("/exchange/reference-data", json={"dataset": "offices", "records": [{**office, "country": "ML"}]})
        assert foreign.status_code == 422 and foreign.json()["errors"][0]["pointer"] == "/records/0/country"
        invalid = http.post("/exchange/reference-data", json={"dataset": "offices", "records": [{"code": "SN-X", "country": "SN"}]})
        assert invalid.status_code == 422
        sent = http.post("/exchange/reference-data", json={"dataset": "offices", "records": [office]})
        assert sent.status_code == 202
        assert sorted(sent.json()["message_ids"]) == ["CI-AVANCE", "ML-AVANCE"]
    with api.client("officer") as http:
        assert http.post("/exchange/reference-data", json={"dataset": "offices", "records": [office]}).status_code == 403
    with api.node.engine.connect() as conn:
        rows = conn.execute(select(exchange_outbox.c.recipient, exchange_outbox.c.movement, exchange_outbox.c.sequence).order_by(exchange_outbox.c.recipient)).all()
    assert rows == [("CI-AVANCE", "reference-data:offices", 1), ("ML-AVANCE", "reference-data:offices", 1)]
