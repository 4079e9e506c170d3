"""Three administrations (Côte d'Ivoire, Ghana, Mali), each with its own node process, database and
port: a partner crashes mid-stream, forged and replayed messages arrive, a key is changed."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from avance.exchange.envelope import build, sign, verify
from avance.harness.nodes import Cluster, run_commands
from avance.exchange.keys import b64u, load_public_key, parse_public_key, thumbprint
from avance.exchange.outbox import envelope_of
from avance.exchange.tables import exchange_inbox, exchange_outbox, exchange_reference_data


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with Cluster(tmp_path_factory.mktemp("cluster"), countries=("CI", "GH", "ML")) as running:
        yield running


def publish(node, code, to):
    body = {"dataset": "offices", "to": [to.node_id], "records": [{"code": code, "name": f"Office {code}", "country": node.country, "kind": "road"}]}
    with node.client("admin") as http:
        response = http.post("/exchange/reference-data", json=body)
    assert response.status_code == 202, response.text
    return response.json()["message_ids"][to.node_id]


def offices_at(node, prefix):
    with node.engine().connect() as conn:
        return {r.code: r.revision for r in conn.execute(select(exchange_reference_data.c.code, exchange_reference_data.c.revision).where(exchange_reference_data.c.code.like(f"{prefix}%")))}


def applied_ids(node):
    with node.engine().connect() as conn:
        return {r[0] for r in conn.execute(select(exchange_inbox.c.message_id).where(exchange_inbox.c.state == "applied"))}


def test_a_partner_killed_mid_stream_and_restarted_loses_nothing_and_applies_nothing_twice(cluster):
    ci, gh, ml = cluster.nodes
    sent = {}  # message id -> (recipient, code)
    for i in range(40):
        sender = (ci, ml)[i % 2]
        code = f"{sender.country}-K-{i:03d}"
        sent[publish(sender, code, gh)] = (gh, code)
    gh.kill()  # SIGKILL, whatever it was doing
    for i in range(40, 100):
        sender = (ci, ml)[i % 2]
        code = f"{sender.country}-K-{i:03d}"
        sent[publish(sender, code, gh)] = (gh, code)
    time.sleep(1.0)
    with ci.client("admin") as http:
        link = next(p for p in http.get("/exchange/status").json()["partners"] if p["node_id"] == gh.node_id)
    assert link["queue_depth"] > 0 and link["last_error"]  # the queue waits, the operator sees why
    gh.restart()
    cluster.wait_drained(60)
    assert set(sent) <= applied_ids(gh)
    expected = {code: 1 for _, code in sent.values()}
    assert {**offices_at(gh, "CI-K-"), **offices_at(gh, "ML-K-")} == expected  # each applied exactly once
    with ci.engine().connect() as conn:
        states = {r.state for r in conn.execute(select(exchange_outbox.c.state).where(exchange_outbox.c.recipient == gh.node_id))}
    assert states == {"delivered"}


def delivered_envelope(sender, recipient):
    with sender.engine().connect() as conn:
        row = conn.execute(
            select(exchange_outbox)
            .where(exchange_outbox.c.recipient == recipient.node_id, exchange_outbox.c.state == "delivered", exchange_outbox.c.type == "reference-data-update")
            .order_by(exchange_outbox.c.id.desc())
        ).first()
    return envelope_of(row, sender.node_id)


def test_tampered_replayed_and_unknown_sender_messages_are_refused_with_the_reason_signed_only_for_the_genuine_replay(cluster):
    ci, gh, ml = cluster.nodes
    publish(ci, "CI-F-001", gh)
    cluster.wait_drained(30)
    genuine = delivered_envelope(ci, gh)
    tampered = json.loads(json.dumps(genuine))
    tampered["payload"]["records"][0]["name"] = "Bureau fantôme"
    rogue = Ed25519PrivateKey.generate()
    unknown = sign(build(sender="ZZ-ROGUE", recipient=gh.node_id, type="reference-data-update", payload=genuine["payload"], message_id=str(uuid.uuid4())),
                   thumbprint(rogue.public_key().public_bytes_raw()), rogue)
    before = offices_at(gh, "CI-F-")
    with gh.client(lang="fr") as http:
        acks = http.post("/exchange/messages", json=[tampered, genuine, unknown]).json()
    gh_key = load_public_key(b64u(parse_public_key(gh.public_key)))
    assert all(a["sender"] == gh.node_id for a in acks)
    assert [("signature" in a) and verify(a, gh_key) for a in acks] == [False, True, False]  # only the replay's signature verified
    assert [(a["payload"]["status"], a["payload"]["code"]) for a in acks] == [
        ("rejected", "exchange.reject.bad_signature"),
        ("rejected", "exchange.reject.replay"),
        ("rejected", "exchange.reject.unknown_sender"),
    ]
    assert "ZZ-ROGUE" in acks[2]["payload"]["reason"]["fr"] and "ZZ-ROGUE" in acks[2]["payload"]["reason"]["en"]
    assert offices_at(gh, "CI-F-") == before == {"CI-F-001": 1}
    with gh.client("admin") as http:
        rejections = http.get("/exchange/status").json()["rejections"]
    assert {"exchange.reject.bad_signature", "exchange.reject.replay", "exchange.reject.unknown_sender"} <= set(rejections)


def test_a_node_changes_its_key_while_running_and_its_partners_still_accept_its_messages(cluster):
    ci, gh, ml = cluster.nodes
    # the commands of one node run in one process (the harness's runner) to save start-up time
    rotated, shown = run_commands(ml.env, ml.data_dir, [["exchange", "rotate-key"], ["exchange", "identity", "--json"]])
    identity = json.loads(shown[1])
    assert identity["kid"] != ml.kid and identity["previous"]["kid"] == ml.kid
    assert identity["public_key"] in rotated[1]
    ids = [publish(ml, "ML-R-001", ci), publish(ml, "ML-R-002", gh)]  # neither partner knows the new key yet
    cluster.wait_drained(30)
    assert ids[0] in applied_ids(ci) and ids[1] in applied_ids(gh)
    _, listed, status = run_commands(
        ci.env, ci.data_dir, [["partners", "add-key", "--node-id", ml.node_id, "--public-key", identity["public_key"]], ["partners", "list", "--json"], ["exchange", "status"]]
    )
    assert len(next(p for p in json.loads(listed[1]) if p["node_id"] == ml.node_id)["keys"]) == 2
    assert "GH-AVANCE" in status[1] and "ML-AVANCE" in status[1]
