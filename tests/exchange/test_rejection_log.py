"""The inbox's rejection log cannot be used to fill the disk: rejections are counted per day,
partner and reason, the last few of each kept as a sample, and both are forgotten after the
retention period. The inbox can also be closed to every address but its partners'."""

from __future__ import annotations

import base64
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, func, insert, select, text

from avance.bootstrap import Node
from avance.exchange import inbox, keys, partners
from avance.exchange.envelope import build, sign
from avance.exchange.tables import exchange_inbox, exchange_rejection_counts, exchange_rejections
from avance.migrations import upgrade
from avance.store.engine import write
from tests.support import serve as _serve

serve = contextmanager(_serve)
R = "exchange.reject."


def identify(node, node_id="SN-AVANCE"):
    with write(node.engine) as conn:
        keys.init(conn, node.settings.data_dir, node_id)


class Partner:
    def __init__(self, node_id="CI-AVANCE", country="CI"):
        self.node_id, self.country = node_id, country
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes_raw()
        self.public, self.kid = base64.b64encode(raw).decode(), keys.thumbprint(raw)

    def register_at(self, node):
        with write(node.engine) as conn:
            partners.add(conn, node_id=self.node_id, country=self.country, endpoint="http://127.0.0.1:9", public_key=self.public)

    def message(self, code="CI-NOE-ROAD", to="SN-AVANCE"):
        payload = {"dataset": "offices", "action": "upsert", "records": [{"code": code, "name": "Noé", "country": self.country, "kind": "road"}]}
        return sign(build(sender=self.node_id, recipient=to, type="reference-data-update", payload=payload), self.kid, self.key)


def junk(i: int) -> dict:
    """An envelope anyone could post: a made-up sender each time, a signature that means nothing."""
    forged = build(sender=f"X{i:04d}-FAKE", recipient="SN-AVANCE", type="reference-data-update", payload={"dataset": "offices", "action": "upsert", "records": []})
    if i % 3 == 0:
        return forged  # unsigned
    return sign(forged, f"k{i}", STRANGER)


STRANGER = Ed25519PrivateKey.generate()


def rows(node, table) -> int:
    with node.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def counted(node) -> dict[tuple[str, str], int]:
    with node.engine.connect() as conn:
        query = select(exchange_rejection_counts.c.partner, exchange_rejection_counts.c.code, func.sum(exchange_rejection_counts.c.count))
        return {(p, c): int(n) for p, c, n in conn.execute(query.group_by(exchange_rejection_counts.c.partner, exchange_rejection_counts.c.code))}


def test_500_junk_envelopes_in_one_anonymous_request_add_a_bounded_number_of_rows(api):
    identify(api.node)
    sample = api.node.settings.exchange_rejection_sample
    with api.client() as http:
        for _ in range(2):  # and again: the rows do not grow with the requests either
            response = http.post("/exchange/messages", json=[junk(i) for i in range(500)])
            assert response.status_code == 200 and len(response.json()) == 500
            assert {a["payload"]["status"] for a in response.json()} == {"rejected"}
    assert counted(api.node) == {("", R + "unsigned"): 334, ("", R + "unknown_sender"): 666}  # every one counted, under no partner
    assert rows(api.node, exchange_rejection_counts) == 2
    assert rows(api.node, exchange_rejections) == 2 * sample  # the sample: the last few of each reason
    with api.node.engine.connect() as conn:
        kept = conn.execute(select(exchange_rejections.c.sender, exchange_rejections.c.address).where(exchange_rejections.c.code == R + "unsigned")).all()
    assert {address for _, address in kept} == {"127.0.0.1"} and ("X0498-FAKE", "127.0.0.1") in kept  # the latest, with where it came from
    assert rows(api.node, exchange_inbox) == 0
    with api.client("admin") as http:
        assert http.get("/exchange/status").json()["rejections"] == {R + "unknown_sender": 666, R + "unsigned": 334}


def test_a_partners_rejections_are_counted_under_its_name_apart_from_strangers(node):
    identify(node)
    ci = Partner()
    ci.register_at(node)
    genuine = ci.message()
    tampered = {**ci.message("CI-OTHER"), "payload": genuine["payload"]}
    acks = inbox.receive(node.engine, node.settings.data_dir, 600, [genuine, tampered, tampered, junk(1)], node.handlers, source="192.0.2.7", sample=5)
    assert [a["payload"]["status"] for a in acks] == ["accepted", "rejected", "rejected", "rejected"]
    assert counted(node) == {("CI-AVANCE", R + "bad_signature"): 2, ("", R + "unknown_sender"): 1}
    with node.engine.connect() as conn:
        assert {r.address for r in conn.execute(select(exchange_rejections))} == {"192.0.2.7"}


def test_old_rejections_are_swept_and_every_sample_trimmed(node):
    now = datetime.now(timezone.utc)
    old = now - timedelta(days=100)

    def rejection(at, code, i):
        return {"at": at, "sender": f"S{i}", "partner": "", "address": None, "message_id": str(i), "type": None, "code": code, "detail": "x"}

    with write(node.engine) as conn:
        inbox.log_rejections(conn, [rejection(old, R + "stale", i) for i in range(3)], sample=50)
        inbox.log_rejections(conn, [rejection(now, R + "unsigned", i) for i in range(30)], sample=50)
    assert rows(node, exchange_rejections) == 33 and rows(node, exchange_rejection_counts) == 2
    gone = inbox.sweep_rejections(node.engine, retention_days=90, sample=10, at=now)
    assert gone == 3 + 1 + 20  # the old sample and its count, and the sample beyond its size
    assert counted(node) == {("", R + "unsigned"): 30}
    with node.engine.connect() as conn:
        kept = [r.message_id for r in conn.execute(select(exchange_rejections).order_by(exchange_rejections.c.id))]
    assert kept == [str(i) for i in range(20, 30)]  # the latest ten
    assert inbox.sweep_rejections(node.engine, retention_days=90, sample=10, at=now) == 0


def test_the_inbox_refuses_addresses_outside_its_allow_list_before_reading_the_batch(sqlite_node):
    identify(sqlite_node)
    settings = sqlite_node.settings.model_copy(update={"exchange_inbox_allow": ["10.20.0.0/16", "192.0.2.7/32"]})
    with serve(Node(settings, sqlite_node.engine)) as api, api.client(lang="en") as http:
        refused = http.post("/exchange/messages", json=[junk(i) for i in range(10)])
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "exchange.source_refused" and "127.0.0.1" in refused.json()["detail"]
        assert "403" in http.get("/openapi.json").json()["paths"]["/exchange/messages"]["post"]["responses"]
    assert rows(sqlite_node, exchange_rejections) == 0  # not even logged: the batch was never read


def test_the_inbox_serves_its_partners_addresses(tmp_path):
    from tests.support import make_node

    node = make_node(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    identify(node)
    settings = node.settings.model_copy(update={"exchange_inbox_allow": ["127.0.0.0/8"]})
    with serve(Node(settings, node.engine)) as api, api.client() as http:
        assert http.post("/exchange/messages", json=[]).status_code == 200
    node.engine.dispose()


def test_an_address_is_allowed_when_it_lies_in_one_of_the_networks():
    networks = ["10.20.0.0/16", "2001:db8::/32"]
    assert inbox.source_allowed("10.20.3.4", networks) and inbox.source_allowed("::ffff:10.20.3.4", networks)
    assert inbox.source_allowed("2001:db8::1", networks)
    assert not inbox.source_allowed("10.21.0.1", networks) and not inbox.source_allowed("::1", networks)
    assert not inbox.source_allowed(None, networks) and not inbox.source_allowed("testclient", networks)


def test_the_allow_list_is_read_from_the_environment(monkeypatch):
    from avance.kit.settings import Settings

    monkeypatch.setenv("AVANCE_EXCHANGE_INBOX_ALLOW", "10.20.0.0/16, 192.0.2.7")
    assert Settings().exchange_inbox_allow == ["10.20.0.0/16", "192.0.2.7/32"]


def test_the_upgrade_counts_the_rejections_logged_before(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0014")
    with engine.begin() as conn:
        for i, at in enumerate(["2026-11-30 10:00:00", "2026-11-30 11:00:00", "2026-12-01 09:00:00"]):
            conn.execute(text("INSERT INTO exchange_rejections (at, sender, code) VALUES (:at, :s, :c)"), {"at": at, "s": f"S{i}", "c": R + "unsigned"})
    upgrade(engine, "0015")
    with engine.connect() as conn:
        found = conn.execute(select(exchange_rejection_counts.c.day, exchange_rejection_counts.c.count).order_by(exchange_rejection_counts.c.day)).all()
        assert [(d.isoformat(), n) for d, n in found] == [("2026-11-30", 2), ("2026-12-01", 1)]
        conn.execute(insert(exchange_rejections).values(at=datetime.now(timezone.utc), code=R + "stale"))  # the new columns have defaults
    engine.dispose()
